"""rule codes per owner: one institution's rules and another's may share a code

A platform rule's code stays unique among platform rules; an institution's among its
own. (The service keeps a platform rule and an institution's rule, which run on the
same loans, from sharing one.)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-26 10:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PLATFORM = sa.text("institution_id IS NULL")


def upgrade() -> None:
    with op.batch_alter_table("risk_rules", schema=None) as batch_op:
        batch_op.drop_constraint("uq_risk_rules_code_version", type_="unique")
        batch_op.create_unique_constraint(
            "uq_risk_rules_institution_id_code_version", ["institution_id", "code", "version"]
        )
        batch_op.create_index(
            "uq_risk_rules_platform_code_version",
            ["code", "version"],
            unique=True,
            sqlite_where=PLATFORM,
            postgresql_where=PLATFORM,
        )


def downgrade() -> None:
    # Fails where two owners share a code by then: rename one of the rules first.
    with op.batch_alter_table("risk_rules", schema=None) as batch_op:
        batch_op.drop_index("uq_risk_rules_platform_code_version")
        batch_op.drop_constraint("uq_risk_rules_institution_id_code_version", type_="unique")
        batch_op.create_unique_constraint("uq_risk_rules_code_version", ["code", "version"])
