"""contracts after the signature: amendments, contract versions, terminations, recoveries

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 13:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kernel.base
from migrations.policy import add_rules, remove_rules

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here, as the earlier revisions' rules are; the same lines are in the default
# policy file.
NEW_RULES: list[tuple[str, ...]] = [
    ("p", "loan_officer", "*", "Mutation.proposeLoanAmendment", "write", "allow"),
    ("p", "loan_officer", "*", "LoanAmendment.*", "read", "allow"),
    ("p", "loan_officer", "*", "ContractVersion.*", "read", "allow"),
    ("p", "loan_officer", "*", "ContractInstalment.*", "read", "allow"),
    ("p", "risk_officer", "*", "Mutation.proposeLoanAmendment", "write", "allow"),
    ("p", "risk_officer", "*", "LoanAmendment.*", "read", "allow"),
    ("p", "risk_officer", "*", "ContractVersion.*", "read", "allow"),
    ("p", "risk_officer", "*", "ContractInstalment.*", "read", "allow"),
    ("p", "sme_owner", "*", "Mutation.acceptLoanAmendment", "write", "allow"),
    ("p", "sme_owner", "*", "LoanAmendment.*", "read", "allow"),
    ("p", "sme_owner", "*", "ContractVersion.*", "read", "allow"),
    ("p", "sme_owner", "*", "ContractInstalment.*", "read", "allow"),
    ("p", "sme_owner", "*", "LoanAmendmentAccepted.*", "read", "allow"),
    ("p", "scope:loans:read", "*", "LoanAmendment.*", "read", "allow"),
    ("p", "scope:loans:read", "*", "ContractVersion.*", "read", "allow"),
    ("p", "scope:loans:read", "*", "ContractInstalment.*", "read", "allow"),
    ("p", "sme_owner", "*", "Mutation.cancelContract", "write", "allow"),
    ("p", "sme_owner", "*", "ContractCancelled.*", "read", "allow"),
    ("p", "sme_owner", "*", "LoanTermination.*", "read", "allow"),
    ("p", "sme_owner", "*", "PayoffQuote.*", "read", "allow"),
    ("p", "loan_officer", "*", "Mutation.cancelContract", "write", "allow"),
    ("p", "loan_officer", "*", "Mutation.settleLoan", "write", "allow"),
    ("p", "loan_officer", "*", "ContractCancelled.*", "read", "allow"),
    ("p", "loan_officer", "*", "LoanSettled.*", "read", "allow"),
    ("p", "loan_officer", "*", "LoanTermination.*", "read", "allow"),
    ("p", "loan_officer", "*", "PayoffQuote.*", "read", "allow"),
    ("p", "risk_officer", "*", "Mutation.accelerateLoan", "write", "allow"),
    ("p", "risk_officer", "*", "LoanAccelerated.*", "read", "allow"),
    ("p", "risk_officer", "*", "LoanTermination.*", "read", "allow"),
    ("p", "risk_officer", "*", "PayoffQuote.*", "read", "allow"),
    ("p", "institution_admin", "*", "Mutation.accelerateLoan", "write", "allow"),
    ("p", "institution_admin", "*", "LoanAccelerated.*", "read", "allow"),
    ("p", "scope:loans:read", "*", "LoanTermination.*", "read", "allow"),
    ("p", "scope:loans:read", "*", "PayoffQuote.*", "read", "allow"),
    ("p", "scope:loans:write", "*", "Mutation.settleLoan", "write", "allow"),
    ("p", "scope:loans:write", "*", "LoanSettled.*", "read", "allow"),
    ("p", "scope:loans:write", "*", "LoanTermination.*", "read", "allow"),
    ("p", "loan_officer", "*", "Mutation.recordRecovery", "write", "allow"),
    ("p", "loan_officer", "*", "Recovery.*", "read", "allow"),
    ("p", "loan_officer", "*", "RecoveryRecorded.*", "read", "allow"),
    ("p", "risk_officer", "*", "Recovery.*", "read", "allow"),
    ("p", "sme_owner", "*", "Recovery.*", "read", "allow"),
    ("p", "scope:loans:read", "*", "Recovery.*", "read", "allow"),
    ("p", "scope:loans:write", "*", "Mutation.recordRecovery", "write", "allow"),
    ("p", "scope:loans:write", "*", "RecoveryRecorded.*", "read", "allow"),
    ("p", "scope:loans:write", "*", "Recovery.*", "read", "allow"),
]


def _enum(name: str, *values: str, length: int = 32) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=length)


def upgrade() -> None:
    op.create_table(
        "loan_amendments",
        sa.Column("loan_id", sa.Uuid(), nullable=False),
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column(
            "status",
            _enum("amendmentstatus", "proposed", "accepted", "withdrawn"),
            nullable=False,
        ),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("annual_rate", kernel.base.ScaledDecimal(9, 6), nullable=True),
        sa.Column("extra_months", sa.Integer(), nullable=False),
        sa.Column("holiday_months", sa.Integer(), nullable=False),
        sa.Column(
            "holiday_interest",
            _enum("holidayinterest", "capitalised", "deferred"),
            nullable=True,
        ),
        sa.Column("instalment", kernel.base.ScaledDecimal(18, 2), nullable=True),
        sa.Column("top_up", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("forborne", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("terms_hash", sa.String(length=64), nullable=False),
        sa.Column("basis_hash", sa.String(length=64), nullable=False),
        sa.Column("contract_version", sa.Integer(), nullable=False),
        sa.Column("proposed_by", sa.Uuid(), nullable=False),
        sa.Column("proposed_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("accepted_by", sa.Uuid(), nullable=True),
        sa.Column("accepted_at", kernel.base.UTCDateTime(), nullable=True),
        sa.Column("withdrawn_at", kernel.base.UTCDateTime(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("top_up >= 0", name=op.f("ck_loan_amendments_top_up_non_negative")),
        sa.ForeignKeyConstraint(
            ["accepted_by"],
            ["users.id"],
            name=op.f("fk_loan_amendments_accepted_by_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_loan_amendments_institution_id_institutions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["loans.id"],
            name=op.f("fk_loan_amendments_loan_id_loans"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["proposed_by"],
            ["users.id"],
            name=op.f("fk_loan_amendments_proposed_by_users"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loan_amendments")),
    )
    with op.batch_alter_table("loan_amendments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_loan_amendments_institution_id_id"), ["institution_id", "id"]
        )
        batch_op.create_index(
            batch_op.f("ix_loan_amendments_loan_id_proposed_at"), ["loan_id", "proposed_at"]
        )

    op.create_table(
        "loan_contract_versions",
        sa.Column("loan_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("terms_hash", sa.String(length=64), nullable=False),
        sa.Column("amendment_id", sa.Uuid(), nullable=True),
        sa.Column("signed_at", kernel.base.UTCDateTime(), nullable=True),
        sa.Column("recorded_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["amendment_id"],
            ["loan_amendments.id"],
            name=op.f("fk_loan_contract_versions_amendment_id_loan_amendments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["loans.id"],
            name=op.f("fk_loan_contract_versions_loan_id_loans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loan_contract_versions")),
        sa.UniqueConstraint(
            "loan_id", "number", name=op.f("uq_loan_contract_versions_loan_id_number")
        ),
    )

    op.create_table(
        "loan_terminations",
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("loan_id", sa.Uuid(), nullable=True),
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            _enum("terminationkind", "cancellation", "early_settlement", "acceleration"),
            nullable=False,
        ),
        sa.Column("on", sa.Date(), nullable=False),
        sa.Column("amount", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_loan_terminations_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_loan_terminations_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_loan_terminations_institution_id_institutions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["loans.id"],
            name=op.f("fk_loan_terminations_loan_id_loans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loan_terminations")),
    )
    with op.batch_alter_table("loan_terminations", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_loan_terminations_application_id"), ["application_id"])
        batch_op.create_index(
            batch_op.f("ix_loan_terminations_institution_id_id"), ["institution_id", "id"]
        )
        batch_op.create_index(batch_op.f("ix_loan_terminations_loan_id"), ["loan_id"])

    op.create_table(
        "loan_recoveries",
        sa.Column("loan_id", sa.Uuid(), nullable=False),
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("amount", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=True),
        sa.Column("recorded_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_loan_recoveries_amount_positive")),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_loan_recoveries_institution_id_institutions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["loans.id"],
            name=op.f("fk_loan_recoveries_loan_id_loans"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["users.id"],
            name=op.f("fk_loan_recoveries_recorded_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loan_recoveries")),
        sa.UniqueConstraint(
            "loan_id", "idempotency_key", name=op.f("uq_loan_recoveries_loan_id_idempotency_key")
        ),
    )
    with op.batch_alter_table("loan_recoveries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_loan_recoveries_institution_id_id"), ["institution_id", "id"]
        )
        batch_op.create_index(
            batch_op.f("ix_loan_recoveries_loan_id_received_on"), ["loan_id", "received_on"]
        )

    add_rules(NEW_RULES)


def downgrade() -> None:
    remove_rules(NEW_RULES)
    op.drop_table("loan_recoveries")
    op.drop_table("loan_terminations")
    op.drop_table("loan_contract_versions")
    op.drop_table("loan_amendments")
