"""lending lifecycle

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 20:52:47.374678
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kernel.base
from migrations.policy import add_rules, remove_rules

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Frozen here, as the earlier revisions' rules are.
NEW_RULES: list[tuple[str, ...]] = [
    ("p", "authenticated", "*", "InvalidTransition.*", "read", "allow"),
    ("p", "authenticated", "*", "NotEligible.*", "read", "allow"),
    ("p", "authenticated", "*", "ConsentRequired.*", "read", "allow"),
    ("p", "authenticated", "*", "Conflict.*", "read", "allow"),
    ("p", "authenticated", "*", "FourEyesRequired.*", "read", "allow"),
    ("p", "authenticated", "*", "TermsChanged.*", "read", "allow"),
    ("p", "authenticated", "*", "Overpayment.*", "read", "allow"),
    ("p", "authenticated", "*", "ProductRecommendation.*", "read", "allow"),
    ("p", "sme_owner", "*", "Mutation.submitFinancialStatement", "write", "allow"),
    ("p", "sme_owner", "*", "Mutation.submitApplication", "write", "allow"),
    ("p", "sme_owner", "*", "Mutation.createApplicationDraft", "write", "allow"),
    ("p", "sme_owner", "*", "Mutation.submitApplicationDraft", "write", "allow"),
    ("p", "sme_owner", "*", "Mutation.provideApplicationInformation", "write", "allow"),
    ("p", "sme_owner", "*", "Mutation.appealDecision", "write", "allow"),
    ("p", "sme_owner", "*", "Mutation.withdrawApplication", "write", "allow"),
    ("p", "sme_owner", "*", "Mutation.signContract", "write", "allow"),
    ("p", "sme_owner", "*", "ApplicationTransition.*", "read", "allow"),
    ("p", "sme_owner", "*", "Contract.*", "read", "allow"),
    ("p", "sme_owner", "*", "ContractSigned.*", "read", "allow"),
    ("p", "loan_officer", "*", "Mutation.startApplicationReview", "write", "allow"),
    ("p", "loan_officer", "*", "Mutation.requestApplicationInformation", "write", "allow"),
    ("p", "loan_officer", "*", "Mutation.decideApplication", "write", "allow"),
    ("p", "loan_officer", "*", "Mutation.disburseLoan", "write", "allow"),
    ("p", "loan_officer", "*", "Mutation.recordRepayment", "write", "allow"),
    ("p", "loan_officer", "*", "ApplicationTransition.*", "read", "allow"),
    ("p", "loan_officer", "*", "Contract.*", "read", "allow"),
    ("p", "loan_officer", "*", "LoanDisbursed.*", "read", "allow"),
    ("p", "loan_officer", "*", "RepaymentRecorded.*", "read", "allow"),
    ("p", "risk_officer", "*", "ApplicationTransition.*", "read", "allow"),
    ("p", "risk_officer", "*", "Contract.*", "read", "allow"),
    ("p", "risk_officer", "*", "Mutation.writeOffLoan", "write", "allow"),
    ("p", "institution_admin", "*", "Mutation.createProduct", "write", "allow"),
    ("p", "institution_admin", "*", "Mutation.changeProduct", "write", "allow"),
    ("p", "institution_admin", "*", "Mutation.publishProduct", "write", "allow"),
    ("p", "institution_admin", "*", "Mutation.retireProduct", "write", "allow"),
    ("p", "institution_admin", "*", "Mutation.setFourEyesThreshold", "write", "allow"),
    ("p", "institution_admin", "*", "Mutation.writeOffLoan", "write", "allow"),
    ("p", "institution_admin", "*", "FourEyesThresholdSet.*", "read", "allow"),
    ("p", "scope:applications:decide", "*", "Mutation.startApplicationReview", "write", "allow"),
    (
        "p",
        "scope:applications:decide",
        "*",
        "Mutation.requestApplicationInformation",
        "write",
        "allow",
    ),
    ("p", "scope:applications:decide", "*", "Application.*", "read", "allow"),
    ("p", "scope:applications:decide", "*", "ApplicationTransition.*", "read", "allow"),
    ("p", "scope:applications:decide", "*", "InvalidTransition.*", "read", "allow"),
    ("p", "scope:applications:decide", "*", "Conflict.*", "read", "allow"),
    ("p", "scope:applications:decide", "*", "FourEyesRequired.*", "read", "allow"),
    ("p", "scope:applications:decide", "*", "InvalidInput.*", "read", "allow"),
    ("p", "scope:loans:write", "*", "Mutation.disburseLoan", "write", "allow"),
    ("p", "scope:loans:write", "*", "Mutation.recordRepayment", "write", "allow"),
    ("p", "scope:loans:write", "*", "LoanDisbursed.*", "read", "allow"),
    ("p", "scope:loans:write", "*", "RepaymentRecorded.*", "read", "allow"),
    ("p", "scope:loans:write", "*", "Loan.*", "read", "allow"),
    ("p", "scope:loans:write", "*", "Repayment.*", "read", "allow"),
    ("p", "scope:loans:write", "*", "Installment.*", "read", "allow"),
    ("p", "scope:loans:write", "*", "Application.*", "read", "allow"),
    ("p", "scope:loans:write", "*", "InvalidTransition.*", "read", "allow"),
    ("p", "scope:loans:write", "*", "Conflict.*", "read", "allow"),
    ("p", "scope:loans:write", "*", "Overpayment.*", "read", "allow"),
    ("p", "scope:loans:write", "*", "InvalidInput.*", "read", "allow"),
]


def upgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table(
        "product_markets",
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_product_markets_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "product_id", "dimension", "value", name=op.f("pk_product_markets")
        ),
    )
    with op.batch_alter_table("product_markets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_product_markets_dimension_value"), ["dimension", "value"], unique=False
        )

    op.create_table(
        "application_transitions",
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column(
            "from_status",
            sa.Enum(
                "draft",
                "submitted",
                "under_review",
                "more_info_requested",
                "approved",
                "rejected",
                "appealed",
                "contract_signed",
                "disbursed",
                "withdrawn",
                name="from_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column(
            "to_status",
            sa.Enum(
                "draft",
                "submitted",
                "under_review",
                "more_info_requested",
                "approved",
                "rejected",
                "appealed",
                "contract_signed",
                "disbursed",
                "withdrawn",
                name="to_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_application_transitions_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_application_transitions_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_transitions")),
    )
    with op.batch_alter_table("application_transitions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_application_transitions_application_id_at"),
            ["application_id", "at"],
            unique=False,
        )

    op.create_table(
        "contracts",
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("terms", sa.JSON(), nullable=False),
        sa.Column("terms_hash", sa.String(length=64), nullable=False),
        sa.Column("generated_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("accepted_at", kernel.base.UTCDateTime(), nullable=True),
        sa.Column("accepted_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["accepted_by"],
            ["users.id"],
            name=op.f("fk_contracts_accepted_by_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_contracts_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contracts")),
        sa.UniqueConstraint("application_id", name=op.f("uq_contracts_application_id")),
    )
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("approved_rate", kernel.base.ScaledDecimal(9, 6), nullable=True)
        )
        batch_op.add_column(sa.Column("pending_approval_by", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("appeal_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("appealed_at", kernel.base.UTCDateTime(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_applications_pending_approval_by_users"),
            "users",
            ["pending_approval_by"],
            ["id"],
            ondelete="RESTRICT",
        )

    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("on_appeal", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("awaits_second", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("annual_rate", kernel.base.ScaledDecimal(9, 6), nullable=True)
        )

    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.add_column(sa.Column("aged_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("written_off_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("write_off_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("written_off_by", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_loans_written_off_by_users"),
            "users",
            ["written_off_by"],
            ["id"],
            ondelete="RESTRICT",
        )

    with op.batch_alter_table("repayments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "prepaid_principal",
                kernel.base.ScaledDecimal(18, 2),
                server_default="0",
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column(
                "early_choice",
                sa.Enum(
                    "shorter_term",
                    "lower_instalment",
                    name="earlyrepaymentchoice",
                    native_enum=False,
                    create_constraint=True,
                    length=32,
                ),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("recorded_by", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_repayments_recorded_by_users"),
            "users",
            ["recorded_by"],
            ["id"],
            ondelete="SET NULL",
        )

    # The defaults only filled the rows already there; new rows always say.
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.alter_column("on_appeal", server_default=None)
        batch_op.alter_column("awaits_second", server_default=None)
    with op.batch_alter_table("repayments", schema=None) as batch_op:
        batch_op.alter_column("prepaid_principal", server_default=None)

    # The industries and regions each product serves, from its eligibility rules.
    products = sa.table("products", sa.column("id", sa.Uuid()), sa.column("eligibility", sa.JSON()))
    markets = sa.table(
        "product_markets",
        sa.column("product_id", sa.Uuid()),
        sa.column("dimension", sa.String()),
        sa.column("value", sa.String()),
    )
    connection = op.get_bind()
    rows = [
        {"product_id": pid, "dimension": dimension, "value": value}
        for pid, rules in connection.execute(sa.select(products.c.id, products.c.eligibility))
        for dimension, key in (("industry", "industries"), ("region", "regions"))
        for value in dict.fromkeys((rules or {}).get(key) or [])
    ]
    if rows:
        op.bulk_insert(markets, rows)

    add_rules(NEW_RULES)

    # ### end Alembic commands ###


def downgrade() -> None:
    remove_rules(NEW_RULES)
    # ### commands auto generated by Alembic - please adjust! ###
    with op.batch_alter_table("repayments", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_repayments_recorded_by_users"), type_="foreignkey")
        batch_op.drop_column("recorded_by")
        batch_op.drop_constraint("earlyrepaymentchoice", type_="check")
        batch_op.drop_column("early_choice")
        batch_op.drop_column("prepaid_principal")

    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_loans_written_off_by_users"), type_="foreignkey")
        batch_op.drop_column("written_off_by")
        batch_op.drop_column("write_off_reason")
        batch_op.drop_column("written_off_on")
        batch_op.drop_column("aged_on")

    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_column("annual_rate")
        batch_op.drop_column("awaits_second")
        batch_op.drop_column("on_appeal")

    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_applications_pending_approval_by_users"), type_="foreignkey"
        )
        batch_op.drop_column("appealed_at")
        batch_op.drop_column("appeal_reason")
        batch_op.drop_column("pending_approval_by")
        batch_op.drop_column("approved_rate")

    op.drop_table("contracts")
    with op.batch_alter_table("application_transitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_application_transitions_application_id_at"))

    op.drop_table("application_transitions")
    with op.batch_alter_table("product_markets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_product_markets_dimension_value"))

    op.drop_table("product_markets")
    # ### end Alembic commands ###
