"""what the portfolio analytics join each borrower to, in an index of its own
(PostgreSQL only)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26 10:35:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if _postgres():
        op.create_index(
            "ix_enterprises_profile",
            "enterprises",
            ["id"],
            postgresql_include=["industry", "region", "pd_in_force"],
        )


def downgrade() -> None:
    if _postgres():
        op.drop_index("ix_enterprises_profile", table_name="enterprises")
