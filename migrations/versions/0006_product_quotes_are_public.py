"""product quotes are public

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 20:40:00
"""

from collections.abc import Sequence

from migrations.policy import add_rules, remove_rules

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here, as 0002's and 0004's rules are.
NEW_RULES: list[tuple[str, ...]] = [
    ("p", "anonymous", "*", "ProductQuote.*", "read", "allow"),
]


def upgrade() -> None:
    add_rules(NEW_RULES)


def downgrade() -> None:
    remove_rules(NEW_RULES)
