"""expected credit loss: each loan's stage and ECL per close date; who closes a month

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07 16:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kernel.base
from migrations.policy import add_rules, remove_rules

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here; the same lines are in the default policy file. An institution's risk
# officers and admins close its month (the service checks the institution is theirs).
NEW_RULES: list[tuple[str, ...]] = [
    ("p", role, "*", "Mutation.startMonthEndClose", "write", "allow")
    for role in ("risk_officer", "institution_admin")
]


def upgrade() -> None:
    op.create_table(
        "loan_stages",
        sa.Column("loan_id", sa.Uuid(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("stage", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("days_past_due", sa.Integer(), nullable=False),
        sa.Column("pd_origination", kernel.base.ScaledDecimal(9, 6), nullable=True),
        sa.Column("pd_12m", kernel.base.ScaledDecimal(9, 6), nullable=False),
        sa.Column("pd_lifetime", kernel.base.ScaledDecimal(9, 6), nullable=False),
        sa.Column("lgd", kernel.base.ScaledDecimal(9, 6), nullable=False),
        sa.Column("ead", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("ecl", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.CheckConstraint("stage BETWEEN 1 AND 3", name=op.f("ck_loan_stages_stage_1_to_3")),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_loan_stages_institution_id_institutions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["loans.id"],
            name=op.f("fk_loan_stages_loan_id_loans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("loan_id", "as_of", name=op.f("pk_loan_stages")),
    )
    op.create_index(
        op.f("ix_loan_stages_institution_id_as_of_stage"),
        "loan_stages",
        ["institution_id", "as_of", "stage"],
        unique=False,
    )
    op.create_index(
        op.f("ix_loan_stages_as_of_loan_id"), "loan_stages", ["as_of", "loan_id"], unique=False
    )
    add_rules(NEW_RULES)


def downgrade() -> None:
    remove_rules(NEW_RULES)
    op.drop_index(op.f("ix_loan_stages_as_of_loan_id"), table_name="loan_stages")
    op.drop_index(op.f("ix_loan_stages_institution_id_as_of_stage"), table_name="loan_stages")
    op.drop_table("loan_stages")
