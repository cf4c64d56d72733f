"""product quotes are public

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 20:40:00
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here, as 0002's and 0004's rules are.
NEW_RULES: list[tuple[str, ...]] = [
    ("p", "anonymous", "*", "ProductQuote.*", "read", "allow"),
]

rules = sa.table(
    "authz_rules",
    sa.column("id", sa.Uuid()),
    sa.column("ptype", sa.String()),
    *(sa.column(f"v{i}", sa.String()) for i in range(5)),
)


def upgrade() -> None:
    op.bulk_insert(
        rules,
        [
            {"id": uuid.uuid4(), "ptype": r[0], **{f"v{i}": v for i, v in enumerate(r[1:])}}
            for r in NEW_RULES
        ],
    )
    op.execute("UPDATE authz_version SET version = version + 1 WHERE id = 1")


def downgrade() -> None:
    for rule in NEW_RULES:
        op.execute(
            rules.delete().where(
                rules.c.ptype == rule[0],
                *(rules.c[f"v{i}"] == v for i, v in enumerate(rule[1:])),
            )
        )
    op.execute("UPDATE authz_version SET version = version + 1 WHERE id = 1")
