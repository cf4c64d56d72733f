"""portfolio analytics

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 00:15:00
"""

from collections.abc import Sequence

from migrations.policy import add_rules, remove_rules

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here, as the earlier revisions' rules are; the same lines are in the default
# policy file.
NEW_RULES: list[tuple[str, ...]] = [
    ("p", "loan_officer", "*", "WhatIf.*", "read", "allow"),
    ("p", "loan_officer", "*", "WhatIfOutcome.*", "read", "allow"),
    ("p", "risk_officer", "*", "WhatIf.*", "read", "allow"),
    ("p", "risk_officer", "*", "WhatIfOutcome.*", "read", "allow"),
]


def upgrade() -> None:
    if NEW_RULES:
        add_rules(NEW_RULES)


def downgrade() -> None:
    if NEW_RULES:
        remove_rules(NEW_RULES)
