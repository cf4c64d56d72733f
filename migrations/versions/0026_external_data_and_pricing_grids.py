"""external data and risk-based pricing

What providers answered about an enterprise, kept with its source, date and hash; and
each product's pricing grid (rates by estimated probability of default).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 13:06:46
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kernel.base
from migrations.policy import add_rules, remove_rules

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here, as the earlier revisions' rules are; the same lines are in the default
# policy file.
NEW_RULES: list[tuple[str, ...]] = [
    ("p", "sme_owner", "*", "Mutation.fetchExternalData", "write", "allow"),
    ("p", "loan_officer", "*", "Mutation.fetchExternalData", "write", "allow"),
    ("p", "risk_officer", "*", "Mutation.fetchExternalData", "write", "allow"),
    ("p", "sme_owner", "*", "ExternalDataRecord.*", "read", "allow"),
    ("p", "loan_officer", "*", "ExternalDataRecord.*", "read", "allow"),
    ("p", "risk_officer", "*", "ExternalDataRecord.*", "read", "allow"),
    ("p", "scope:applications:read", "*", "ExternalDataRecord.*", "read", "allow"),
    ("p", "authenticated", "*", "DataConsentRequired.*", "read", "allow"),
    ("p", "authenticated", "*", "ProviderUnavailable.*", "read", "allow"),
    ("p", "authenticated", "*", "ProviderMalformedAnswer.*", "read", "allow"),
    ("p", "authenticated", "*", "NoProviderRecord.*", "read", "allow"),
    ("p", "institution_admin", "*", "Mutation.setProductPricingGrid", "write", "allow"),
    ("p", "anonymous", "*", "PricingBand.*", "read", "allow"),
    ("p", "scope:applications:read", "*", "PricingBand.*", "read", "allow"),
    ("p", "scope:loans:read", "*", "PricingBand.*", "read", "allow"),
]


def upgrade() -> None:
    op.create_table(
        "external_data_records",
        sa.Column("enterprise_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "business_registry",
                "credit_bureau",
                "bank_statement",
                name="externaldatakind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("fetched_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("personal", sa.Text(), nullable=True),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("requested_by", sa.Uuid(), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_external_data_records_enterprise_id_enterprises"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_external_data_records")),
    )
    with op.batch_alter_table("external_data_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_external_data_records_enterprise_id_kind_id"),
            ["enterprise_id", "kind", "id"],
            unique=False,
        )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pricing_grid", sa.JSON(), nullable=True))
    add_rules(NEW_RULES)


def downgrade() -> None:
    remove_rules(NEW_RULES)
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_column("pricing_grid")
    with op.batch_alter_table("external_data_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_external_data_records_enterprise_id_kind_id"))
    op.drop_table("external_data_records")
