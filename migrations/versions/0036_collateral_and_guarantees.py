"""collateral and guarantees of a loan; a recovery names the item or guarantee it came from

Collateral items (kind, description, latest valuation, status) with every valuation kept,
and guarantees (kind, the guarantor's name and identity number sealed, amount, status),
each copying its loan's institution and enterprise for row scoping. A recovery may name
the collateral item it realised or the guarantee it called. The loan's own cover feeds
its LGD at the close (domain/provisioning/policy.py).

Revision ID: 0036
Revises: 0035
Create Date: 2026-12-07 23:23:44
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kernel.base
from migrations.policy import add_rules, remove_rules

revision: str = "0036"
down_revision: str | None = "0035"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here, as the earlier revisions' rules are; the same lines are in the default
# policy file. Credit staff secure loans and read guarantors; owners read their loans'
# security with guarantors masked; partner systems (loan officers by inheritance) call
# no mutation here and read guarantors masked; the ECL staged for a loan is the
# institution's, not its borrower's.
NEW_RULES: list[tuple[str, ...]] = [
    ("p", "loan_officer", "*", "CollateralItem.*", "read", "allow"),
    ("p", "loan_officer", "*", "CollateralValuation.*", "read", "allow"),
    ("p", "loan_officer", "*", "Guarantee.*", "read", "allow"),
    ("p", "loan_officer", "*", "Guarantee.*", "reveal", "allow"),
    ("p", "loan_officer", "*", "LoanCreditLoss.*", "read", "allow"),
    ("p", "loan_officer", "*", "Mutation.pledgeCollateral", "write", "allow"),
    ("p", "loan_officer", "*", "Mutation.revalueCollateral", "write", "allow"),
    ("p", "loan_officer", "*", "Mutation.releaseCollateral", "write", "allow"),
    ("p", "loan_officer", "*", "Mutation.addGuarantee", "write", "allow"),
    ("p", "loan_officer", "*", "Mutation.releaseGuarantee", "write", "allow"),
    ("p", "risk_officer", "*", "CollateralItem.*", "read", "allow"),
    ("p", "risk_officer", "*", "CollateralValuation.*", "read", "allow"),
    ("p", "risk_officer", "*", "Guarantee.*", "read", "allow"),
    ("p", "risk_officer", "*", "Guarantee.*", "reveal", "allow"),
    ("p", "risk_officer", "*", "LoanCreditLoss.*", "read", "allow"),
    ("p", "risk_officer", "*", "Mutation.pledgeCollateral", "write", "allow"),
    ("p", "risk_officer", "*", "Mutation.revalueCollateral", "write", "allow"),
    ("p", "risk_officer", "*", "Mutation.releaseCollateral", "write", "allow"),
    ("p", "risk_officer", "*", "Mutation.addGuarantee", "write", "allow"),
    ("p", "risk_officer", "*", "Mutation.releaseGuarantee", "write", "allow"),
    ("p", "sme_owner", "*", "CollateralItem.*", "read", "allow"),
    ("p", "sme_owner", "*", "CollateralValuation.*", "read", "allow"),
    ("p", "sme_owner", "*", "Guarantee.*", "read", "allow"),
    ("p", "sme_owner", "*", "Loan.creditLoss", "read", "deny"),
    ("p", "partner_service", "*", "Guarantee.*", "reveal", "deny"),
    ("p", "partner_service", "*", "Mutation.pledgeCollateral", "write", "deny"),
    ("p", "partner_service", "*", "Mutation.revalueCollateral", "write", "deny"),
    ("p", "partner_service", "*", "Mutation.releaseCollateral", "write", "deny"),
    ("p", "partner_service", "*", "Mutation.addGuarantee", "write", "deny"),
    ("p", "partner_service", "*", "Mutation.releaseGuarantee", "write", "deny"),
]


def upgrade() -> None:
    op.create_table(
        "collateral_items",
        sa.Column("loan_id", sa.Uuid(), nullable=False),
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("enterprise_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "real_estate",
                "vehicle",
                "equipment",
                "inventory",
                "receivables",
                "cash_deposit",
                "other",
                name="collateralkind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("market_value", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("valued_on", sa.Date(), nullable=False),
        sa.Column("valuation_source", sa.String(length=200), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pledged",
                "released",
                "realised",
                name="collateralstatus",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("pledged_by", sa.Uuid(), nullable=True),
        sa.Column("pledged_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("ended_at", kernel.base.UTCDateTime(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "market_value > 0", name=op.f("ck_collateral_items_market_value_positive")
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_collateral_items_enterprise_id_enterprises"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_collateral_items_institution_id_institutions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["loans.id"],
            name=op.f("fk_collateral_items_loan_id_loans"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["pledged_by"],
            ["users.id"],
            name=op.f("fk_collateral_items_pledged_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collateral_items")),
    )
    with op.batch_alter_table("collateral_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_collateral_items_institution_id_id"),
            ["institution_id", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_collateral_items_loan_id_status"), ["loan_id", "status"], unique=False
        )

    op.create_table(
        "loan_guarantees",
        sa.Column("loan_id", sa.Uuid(), nullable=False),
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("enterprise_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "personal",
                "corporate",
                "guarantee_scheme",
                name="guaranteekind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("guarantor_name", sa.String(length=1200), nullable=True),
        sa.Column("guarantor_identity", sa.String(length=300), nullable=True),
        sa.Column("amount", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "released",
                "called",
                name="guaranteestatus",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("added_by", sa.Uuid(), nullable=True),
        sa.Column("added_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("ended_at", kernel.base.UTCDateTime(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_loan_guarantees_amount_positive")),
        sa.ForeignKeyConstraint(
            ["added_by"],
            ["users.id"],
            name=op.f("fk_loan_guarantees_added_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_loan_guarantees_enterprise_id_enterprises"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_loan_guarantees_institution_id_institutions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["loans.id"],
            name=op.f("fk_loan_guarantees_loan_id_loans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loan_guarantees")),
    )
    with op.batch_alter_table("loan_guarantees", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_loan_guarantees_institution_id_id"),
            ["institution_id", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_loan_guarantees_loan_id_status"), ["loan_id", "status"], unique=False
        )

    op.create_table(
        "collateral_valuations",
        sa.Column("item_id", sa.Uuid(), nullable=False),
        sa.Column("market_value", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("valued_on", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=True),
        sa.Column("recorded_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "market_value > 0", name=op.f("ck_collateral_valuations_market_value_positive")
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["collateral_items.id"],
            name=op.f("fk_collateral_valuations_item_id_collateral_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["users.id"],
            name=op.f("fk_collateral_valuations_recorded_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collateral_valuations")),
    )
    with op.batch_alter_table("collateral_valuations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_collateral_valuations_item_id_valued_on"),
            ["item_id", "valued_on"],
            unique=False,
        )

    with op.batch_alter_table("loan_recoveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("collateral_item_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("guarantee_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_loan_recoveries_guarantee_id_loan_guarantees"),
            "loan_guarantees",
            ["guarantee_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_loan_recoveries_collateral_item_id_collateral_items"),
            "collateral_items",
            ["collateral_item_id"],
            ["id"],
            ondelete="SET NULL",
        )
    add_rules(NEW_RULES)


def downgrade() -> None:
    remove_rules(NEW_RULES)
    with op.batch_alter_table("loan_recoveries", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_loan_recoveries_collateral_item_id_collateral_items"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_loan_recoveries_guarantee_id_loan_guarantees"), type_="foreignkey"
        )
        batch_op.drop_column("guarantee_id")
        batch_op.drop_column("collateral_item_id")

    with op.batch_alter_table("collateral_valuations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collateral_valuations_item_id_valued_on"))

    op.drop_table("collateral_valuations")
    with op.batch_alter_table("loan_guarantees", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loan_guarantees_loan_id_status"))
        batch_op.drop_index(batch_op.f("ix_loan_guarantees_institution_id_id"))

    op.drop_table("loan_guarantees")
    with op.batch_alter_table("collateral_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collateral_items_loan_id_status"))
        batch_op.drop_index(batch_op.f("ix_collateral_items_institution_id_id"))

    op.drop_table("collateral_items")
