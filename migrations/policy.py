"""What the revisions that change the default authorization policy share.

Each such revision freezes its own rules; these helpers only write them, and bump the
policy version so every worker reloads the policy on its next request.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

RULES = sa.table(
    "authz_rules",
    sa.column("id", sa.Uuid()),
    sa.column("ptype", sa.String()),
    *(sa.column(f"v{i}", sa.String()) for i in range(5)),
)
_BUMP = "UPDATE authz_version SET version = version + 1 WHERE id = 1"


def add_rules(rules: Sequence[tuple[str, ...]]) -> None:
    op.bulk_insert(
        RULES,
        [
            {"id": uuid.uuid4(), "ptype": r[0], **{f"v{i}": v for i, v in enumerate(r[1:])}}
            for r in rules
        ],
    )
    op.execute(_BUMP)


def remove_rules(rules: Sequence[tuple[str, ...]]) -> None:
    for rule in rules:
        op.execute(
            RULES.delete().where(
                RULES.c.ptype == rule[0],
                *(RULES.c[f"v{i}"] == v for i, v in enumerate(rule[1:])),
            )
        )
    op.execute(_BUMP)
