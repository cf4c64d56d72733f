"""portfolio analytics

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 00:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kernel.base
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
    ("p", "risk_officer", "*", "Portfolio*", "read", "allow"),
    ("p", "institution_admin", "*", "Portfolio*", "read", "allow"),
]


def upgrade() -> None:
    # Month-end delinquency history of every active loan: roll rates and vintage curves.
    op.create_table(
        "loan_bucket_snapshots",
        sa.Column("loan_id", sa.Uuid(), nullable=False),
        sa.Column("month_end", sa.Date(), nullable=False),
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column(
            "delinquency_bucket",
            sa.Enum(
                "current",
                "dpd_1_30",
                "dpd_31_60",
                "dpd_61_90",
                "dpd_90_plus",
                name="delinquencybucket",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("days_past_due", sa.Integer(), nullable=False),
        sa.Column("outstanding_principal", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_loan_bucket_snapshots_institution_id_institutions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["loans.id"],
            name=op.f("fk_loan_bucket_snapshots_loan_id_loans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("loan_id", "month_end", name=op.f("pk_loan_bucket_snapshots")),
    )
    with op.batch_alter_table("loan_bucket_snapshots", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_loan_bucket_snapshots_month_end_institution_id"),
            ["month_end", "institution_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_loan_bucket_snapshots_defaulted",
            ["loan_id", "month_end"],
            unique=False,
            sqlite_where=sa.text("delinquency_bucket = 'dpd_90_plus'"),
            postgresql_where=sa.text("delinquency_bucket = 'dpd_90_plus'"),
        )
    if NEW_RULES:
        add_rules(NEW_RULES)


def downgrade() -> None:
    if NEW_RULES:
        remove_rules(NEW_RULES)
    with op.batch_alter_table("loan_bucket_snapshots", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_loan_bucket_snapshots_defaulted",
            sqlite_where=sa.text("delinquency_bucket = 'dpd_90_plus'"),
            postgresql_where=sa.text("delinquency_bucket = 'dpd_90_plus'"),
        )
        batch_op.drop_index(batch_op.f("ix_loan_bucket_snapshots_month_end_institution_id"))
    op.drop_table("loan_bucket_snapshots")
