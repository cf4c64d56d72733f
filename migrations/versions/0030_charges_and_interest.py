"""charges and interest: day count, grace, late fees, penalty interest, daily accrual

Revision ID: 0030
Revises: 0028
Create Date: 2026-12-07 16:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kernel.base
from migrations.policy import add_rules, remove_rules

revision: str = "0030"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here, as the earlier revisions' rules are; the same lines are in the default
# policy file.
NEW_RULES: list[tuple[str, ...]] = [
    ("p", "sme_owner", "*", "LoanCharge.*", "read", "allow"),
    ("p", "loan_officer", "*", "LoanCharge.*", "read", "allow"),
    ("p", "risk_officer", "*", "LoanCharge.*", "read", "allow"),
    ("p", "scope:loans:read", "*", "LoanCharge.*", "read", "allow"),
    ("p", "loan_officer", "*", "Mutation.accrueInterest", "write", "allow"),
    ("p", "risk_officer", "*", "Mutation.accrueInterest", "write", "allow"),
    ("p", "scope:loans:write", "*", "Mutation.accrueInterest", "write", "allow"),
    ("p", "scope:loans:write", "*", "LoanCharge.*", "read", "allow"),
    ("p", "loan_officer", "*", "AccrualRun.*", "read", "allow"),
    ("p", "risk_officer", "*", "AccrualRun.*", "read", "allow"),
    ("p", "scope:loans:write", "*", "AccrualRun.*", "read", "allow"),
]

_MONEY = kernel.base.ScaledDecimal(18, 2)
_RATE = kernel.base.ScaledDecimal(9, 6)


def upgrade() -> None:
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "day_count", sa.String(length=32), server_default="thirty_360", nullable=False
            )
        )
        batch_op.add_column(
            sa.Column("grace_days", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("late_fee_fixed", _MONEY, server_default="0", nullable=False))
        batch_op.add_column(sa.Column("late_fee_rate", _RATE, server_default="0", nullable=False))
        batch_op.add_column(sa.Column("late_fee_cap", _MONEY, nullable=True))
        batch_op.add_column(sa.Column("penalty_rate", _RATE, server_default="0", nullable=False))
        batch_op.add_column(sa.Column("penalty_cap_multiple", _RATE, nullable=True))
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("accrued_through", sa.Date(), nullable=True))
    with op.batch_alter_table("schedule_installments", schema=None) as batch_op:
        for name in ("late_fee_due", "late_fee_paid", "penalty_due", "penalty_paid"):
            batch_op.add_column(sa.Column(name, _MONEY, server_default="0", nullable=False))
        batch_op.add_column(sa.Column("late_fee_charged_on", sa.Date(), nullable=True))
    with op.batch_alter_table("repayments", schema=None) as batch_op:
        for name in ("late_fee_part", "penalty_part"):
            batch_op.add_column(sa.Column(name, _MONEY, server_default="0", nullable=False))
    add_rules(NEW_RULES)


def downgrade() -> None:
    remove_rules(NEW_RULES)
    with op.batch_alter_table("repayments", schema=None) as batch_op:
        for name in ("penalty_part", "late_fee_part"):
            batch_op.drop_column(name)
    with op.batch_alter_table("schedule_installments", schema=None) as batch_op:
        for name in (
            "late_fee_charged_on",
            "penalty_paid",
            "penalty_due",
            "late_fee_paid",
            "late_fee_due",
        ):
            batch_op.drop_column(name)
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_column("accrued_through")
    with op.batch_alter_table("products", schema=None) as batch_op:
        for name in (
            "penalty_cap_multiple",
            "penalty_rate",
            "late_fee_cap",
            "late_fee_rate",
            "late_fee_fixed",
            "grace_days",
            "day_count",
        ):
            batch_op.drop_column(name)
