"""workout: legal action and debt sale outcomes; LEGAL_ACTION and SALE disposals

An alert disposed of as LEGAL_ACTION or SALE opens (or joins) a workout case of that
strategy. A legal case records its filing, costs (charged to the loan) and judgment; a
sale case its buyer, price and the gain or loss booked when the loan is closed as sold
(journal entries of kind ``sale``).

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-07 20:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kernel.base
from migrations.policy import add_rules, remove_rules

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here, as the earlier revisions' rules are; the same lines are in the default
# policy file.
NEW_RULES: list[tuple[str, ...]] = [
    ("p", "loan_officer", "*", "Mutation.recordLegalAction", "write", "allow"),
    ("p", "risk_officer", "*", "Mutation.recordLegalAction", "write", "allow"),
    ("p", "partner_service", "*", "Mutation.recordLegalAction", "write", "deny"),
]

OLD_DISPOSALS = (
    "monitor",
    "restructure",
    "extra_collateral",
    "collection",
    "guarantee_call",
    "write_off_proposal",
)
NEW_DISPOSALS = (*OLD_DISPOSALS, "legal_action", "sale")
OLD_KINDS = (
    "disbursement",
    "repayment",
    "accrual",
    "charge",
    "write_off",
    "recovery",
    "amendment",
    "provision",
    "reversal",
)
NEW_KINDS = (*OLD_KINDS, "sale")

# (table, constraint name, column, old values, new values)
CHECKS = (
    ("risk_rules", "disposalaction", "action", OLD_DISPOSALS, NEW_DISPOSALS),
    ("risk_alerts", "riskalert_action", "action", OLD_DISPOSALS, NEW_DISPOSALS),
    ("risk_alerts", "riskalert_disposal", "disposal", OLD_DISPOSALS, NEW_DISPOSALS),
    ("risk_alert_actions", "disposalaction", "disposal", OLD_DISPOSALS, NEW_DISPOSALS),
    ("journal_entries", "entrykind", "kind", OLD_KINDS, NEW_KINDS),
)


def _enum_check(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _rebuild_checks(new: bool) -> None:
    for table, name, column, old_values, new_values in CHECKS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f"ck_{table}_{name}"), type_="check")
            batch_op.create_check_constraint(
                name, _enum_check(column, new_values if new else old_values)
            )


CASE_COLUMNS = (
    ("filed_on", sa.Date()),
    ("court", sa.String(length=200)),
    ("court_reference", sa.String(length=100)),
    ("legal_costs", kernel.base.Money()),
    ("judgment_amount", kernel.base.Money()),
    ("buyer", sa.String(length=200)),
    ("sale_price", kernel.base.Money()),
    ("sale_result", kernel.base.Money()),
)
CASE_CHECKS = (
    ("legal_costs_non_negative", "legal_costs >= 0"),
    ("judgment_non_negative", "judgment_amount >= 0"),
    ("sale_price_non_negative", "sale_price >= 0"),
)


def upgrade() -> None:
    _rebuild_checks(new=True)
    with op.batch_alter_table("workout_cases", schema=None) as batch_op:
        for name, type_ in CASE_COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))
        for name, condition in CASE_CHECKS:
            batch_op.create_check_constraint(name, condition)
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sold_on", sa.Date(), nullable=True))
    add_rules(NEW_RULES)


def downgrade() -> None:
    remove_rules(NEW_RULES)
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_column("sold_on")
    with op.batch_alter_table("workout_cases", schema=None) as batch_op:
        for name, _ in CASE_CHECKS:
            batch_op.drop_constraint(op.f(f"ck_workout_cases_{name}"), type_="check")
        for name, _ in reversed(CASE_COLUMNS):
            batch_op.drop_column(name)
    _rebuild_checks(new=False)
