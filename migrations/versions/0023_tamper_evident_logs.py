"""tamper-evident logs (seals; UPDATE and DELETE refused); four eyes on policy changes

``log_seals`` holds each log stream's sealed batches, chained and signed
(domain.audit.chain). On PostgreSQL a trigger refuses UPDATE and DELETE on the audit
log, the access log, the consent ledger and the seals, whoever runs them: the logs
are only ever inserted into. SQLite, the embedded default, has no separate database
writer to guard against; its logs are held by the seals alone.

``authz_changes`` holds proposed changes of the authorization policy: one that widens
access waits for a second platform admin (domain.identity.policy_changes).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kernel.base
from migrations.policy import add_rules, remove_rules

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("audit_log", "access_log", "consent_records", "log_seals")
# Frozen here; the same lines are in the default policy file. Platform roles read the
# changes through their "*" rules.
NEW_RULES: list[tuple[str, ...]] = [
    ("p", "platform_admin", "*", "Mutation.approvePolicyChange", "write", "allow"),
    ("p", "platform_admin", "*", "Mutation.rollbackPolicyChange", "write", "allow"),
]


def upgrade() -> None:
    op.create_table(
        "log_seals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("stream", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("upto", sa.Uuid(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("previous_hash", sa.String(length=64), nullable=True),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("kid", sa.String(length=16), nullable=False),
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("sealed_at", kernel.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_seals")),
        sa.UniqueConstraint("hash", name=op.f("uq_log_seals_hash")),
        sa.UniqueConstraint("stream", "seq", name=op.f("uq_log_seals_stream_seq")),
    )
    op.create_table(
        "authz_changes",
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("rule_id", sa.Uuid(), nullable=True),
        sa.Column("ptype", sa.String(length=2), nullable=False),
        sa.Column("v0", sa.String(length=128), nullable=False),
        sa.Column("v1", sa.String(length=128), nullable=False),
        sa.Column("v2", sa.String(length=128), nullable=False),
        sa.Column("v3", sa.String(length=128), nullable=False),
        sa.Column("v4", sa.String(length=128), nullable=False),
        sa.Column("widens", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", kernel.base.UTCDateTime(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authz_changes")),
    )
    op.create_index(
        op.f("ix_authz_changes_status_id"), "authz_changes", ["status", "id"], unique=False
    )
    add_rules(NEW_RULES)
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION lendgraph_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER lendgraph_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION lendgraph_append_only()"
        )


def downgrade() -> None:
    remove_rules(NEW_RULES)
    op.drop_index(op.f("ix_authz_changes_status_id"), table_name="authz_changes")
    op.drop_table("authz_changes")
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER lendgraph_append_only ON {table}")
        op.execute("DROP FUNCTION lendgraph_append_only()")
    op.drop_table("log_seals")
