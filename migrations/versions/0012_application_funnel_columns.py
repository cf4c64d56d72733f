"""applications keep the statuses their time line reached and their first decision;
an index of the champion PD in force per borrower

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 04:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kernel.base

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here as ``domain.applications.states.REACHED_BIT`` has them.
BITS = {
    "draft": 1 << 0,
    "submitted": 1 << 1,
    "under_review": 1 << 2,
    "more_info_requested": 1 << 3,
    "approved": 1 << 4,
    "rejected": 1 << 5,
    "appealed": 1 << 6,
    "contract_signed": 1 << 7,
    "disbursed": 1 << 8,
    "withdrawn": 1 << 9,
}


def upgrade() -> None:
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reached", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("first_decided_at", kernel.base.UTCDateTime(), nullable=True))
    # From the time lines: distinct powers of two sum to their bitwise or.
    apps = sa.table(
        "applications", sa.column("id"), sa.column("reached"), sa.column("first_decided_at")
    )
    t = sa.table(
        "application_transitions",
        sa.column("application_id"),
        sa.column("to_status"),
        sa.column("at"),
    )
    bit = sa.case(*((t.c.to_status == status, value) for status, value in BITS.items()), else_=0)
    mine = t.c.application_id == apps.c.id
    op.execute(
        apps.update().values(
            reached=sa.func.coalesce(
                sa.select(sa.func.sum(sa.distinct(bit))).where(mine).scalar_subquery(), 0
            ),
            first_decided_at=sa.select(sa.func.min(t.c.at))
            .where(mine, t.c.to_status.in_(("approved", "rejected")))
            .scalar_subquery(),
        )
    )

    with op.batch_alter_table("risk_assessments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_risk_assessments_champion_pd",
            ["enterprise_id", "assessed_at", "id"],
            unique=False,
            postgresql_include=["probability_of_default"],
            postgresql_where=sa.text("shadow IS false"),
            sqlite_where=sa.text("shadow IS 0"),
        )


def downgrade() -> None:
    with op.batch_alter_table("risk_assessments", schema=None) as batch_op:
        batch_op.drop_index("ix_risk_assessments_champion_pd")
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.drop_column("first_decided_at")
        batch_op.drop_column("reached")
