"""role grants under four eyes; retention of the audit and access logs

``role_grant_changes`` holds each proposed grant; revoking needs no row (it narrows
and applies at once). See domain.identity.role_grants.

``log_purges`` holds the signed checkpoint (and receipt) of each retention purge of a
log stream (domain.audit.purge). On PostgreSQL the audit and access logs still refuse
UPDATE, and refuse DELETE of any row no purge covers (its id above every purge's
``upto`` for the stream); ``log_purges`` itself is append-only.

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-07 16:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kernel.base
from migrations.policy import add_rules, remove_rules

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = (
    "sme_owner",
    "loan_officer",
    "risk_officer",
    "institution_admin",
    "partner_service",
    "platform_risk_officer",
    "privacy_officer",
    "platform_admin",
    "auditor",
    "verification_officer",
)
LOGS = (("audit_log", "audit"), ("access_log", "access"))
# Frozen here; the same lines are in the default policy file.
NEW_RULES: list[tuple[str, ...]] = [
    ("p", "institution_admin", "*", "Mutation.approveRoleGrant", "write", "allow"),
    ("p", "institution_admin", "*", "RoleGrantChange.*", "read", "allow"),
    ("p", "platform_admin", "*", "Mutation.approveRoleGrant", "write", "allow"),
]


def upgrade() -> None:
    op.create_table(
        "role_grant_changes",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "role",
            sa.Enum(*ROLES, name="role", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("institution_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", kernel.base.UTCDateTime(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role_grant_changes")),
    )
    op.create_index(
        op.f("ix_role_grant_changes_status_id"),
        "role_grant_changes",
        ["status", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_role_grant_changes_institution_id_id"),
        "role_grant_changes",
        ["institution_id", "id"],
        unique=False,
    )
    op.create_table(
        "log_purges",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("stream", sa.String(length=16), nullable=False),
        sa.Column("through_seq", sa.Integer(), nullable=False),
        sa.Column("upto", sa.Uuid(), nullable=False),
        sa.Column("head_hash", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("schedule_version", sa.String(length=64), nullable=False),
        sa.Column("purged_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("kid", sa.String(length=16), nullable=False),
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_purges")),
        sa.UniqueConstraint("stream", "through_seq", name=op.f("uq_log_purges_stream_through_seq")),
    )
    op.create_index(
        op.f("ix_log_purges_stream_upto"), "log_purges", ["stream", "upto"], unique=False
    )
    add_rules(NEW_RULES)
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION lendgraph_log_retention() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' AND EXISTS (
                SELECT 1 FROM log_purges WHERE stream = TG_ARGV[0] AND upto >= OLD.id
            ) THEN
                RETURN OLD;
            END IF;
            RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    for table, stream in LOGS:
        op.execute(f"DROP TRIGGER lendgraph_append_only ON {table}")
        op.execute(
            f"CREATE TRIGGER lendgraph_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION lendgraph_log_retention('{stream}')"
        )
    op.execute(
        "CREATE TRIGGER lendgraph_append_only BEFORE UPDATE OR DELETE ON log_purges "
        "FOR EACH ROW EXECUTE FUNCTION lendgraph_append_only()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER lendgraph_append_only ON log_purges")
        for table, _ in LOGS:
            op.execute(f"DROP TRIGGER lendgraph_append_only ON {table}")
            op.execute(
                f"CREATE TRIGGER lendgraph_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION lendgraph_append_only()"
            )
        op.execute("DROP FUNCTION lendgraph_log_retention()")
    op.drop_index(op.f("ix_log_purges_stream_upto"), table_name="log_purges")
    op.drop_table("log_purges")
    remove_rules(NEW_RULES)
    op.drop_index(op.f("ix_role_grant_changes_institution_id_id"), table_name="role_grant_changes")
    op.drop_index(op.f("ix_role_grant_changes_status_id"), table_name="role_grant_changes")
    op.drop_table("role_grant_changes")
