"""portfolio re-scoring as a job: platform risk officers may start one

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 13:40:00
"""

from collections.abc import Sequence

from migrations.policy import add_rules, remove_rules

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here; the same line is in the default policy file.
NEW_RULES: list[tuple[str, ...]] = [
    ("p", "platform_risk_officer", "*", "Mutation.startPortfolioScoring", "write", "allow"),
]


def upgrade() -> None:
    add_rules(NEW_RULES)


def downgrade() -> None:
    remove_rules(NEW_RULES)
