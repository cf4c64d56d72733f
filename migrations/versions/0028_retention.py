"""retention: legal holds and the append-only receipts of retention runs

Revision ID: 0028
Revises: 0026
Create Date: 2026-12-07 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kernel.base
from migrations.policy import add_rules, remove_rules

revision: str = "0028"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here, as the earlier revisions' rules are; the same lines are in the default
# policy file.
NEW_RULES: list[tuple[str, ...]] = [
    ("p", "privacy_officer", "*", "Mutation.runRetention", "write", "allow"),
    ("p", "privacy_officer", "*", "Mutation.setLegalHold", "write", "allow"),
    ("p", "privacy_officer", "*", "Mutation.releaseLegalHold", "write", "allow"),
]


def upgrade() -> None:
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("set_by", sa.Uuid(), nullable=True),
        sa.Column("set_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("released_by", sa.Uuid(), nullable=True),
        sa.Column("released_at", kernel.base.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_holds")),
    )
    op.create_index(
        op.f("ix_legal_holds_subject_id_released_at"),
        "legal_holds",
        ["subject_id", "released_at"],
        unique=False,
    )
    op.create_table(
        "retention_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ran_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("schedule_version", sa.String(length=64), nullable=False),
        sa.Column("purged", sa.JSON(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_runs")),
    )
    add_rules(NEW_RULES)
    if op.get_bind().dialect.name == "postgresql":
        # The receipts are evidence: the function of 0023 refuses UPDATE and DELETE.
        op.execute(
            "CREATE TRIGGER lendgraph_append_only BEFORE UPDATE OR DELETE ON retention_runs "
            "FOR EACH ROW EXECUTE FUNCTION lendgraph_append_only()"
        )


def downgrade() -> None:
    remove_rules(NEW_RULES)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER lendgraph_append_only ON retention_runs")
    op.drop_table("retention_runs")
    op.drop_index(op.f("ix_legal_holds_subject_id_released_at"), table_name="legal_holds")
    op.drop_table("legal_holds")
