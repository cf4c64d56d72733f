"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24 05:52:33.763214
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kernel.base

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("entity_type", sa.String(length=64), nullable=False),
        sa.Column("entity_id", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_audit_log_entity_type_entity_id"),
            ["entity_type", "entity_id"],
            unique=False,
        )

    op.create_table(
        "institutions",
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "bank",
                "microlender",
                "leasing_company",
                "factoring_company",
                name="institutionkind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("four_eyes_threshold", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", kernel.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_institutions")),
        sa.UniqueConstraint("code", name=op.f("uq_institutions_code")),
    )
    op.create_table(
        "users",
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "active",
                "disabled",
                name="userstatus",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("last_login_at", kernel.base.UTCDateTime(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", kernel.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    op.create_table(
        "enterprises",
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("unified_social_credit_code", sa.String(length=18), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("industry", sa.String(length=64), nullable=False),
        sa.Column("region", sa.String(length=64), nullable=False),
        sa.Column("founded_on", sa.Date(), nullable=False),
        sa.Column("employee_count", sa.Integer(), nullable=False),
        sa.Column("annual_revenue", kernel.base.ScaledDecimal(18, 2), nullable=True),
        sa.Column("legal_representative_name", sa.String(length=100), nullable=True),
        sa.Column("legal_representative_id_number", sa.String(length=18), nullable=True),
        sa.Column("contact_phone", sa.String(length=20), nullable=True),
        sa.Column("contact_email", sa.String(length=254), nullable=True),
        sa.Column("bank_account_number", sa.String(length=32), nullable=True),
        sa.Column("updated_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", kernel.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "employee_count >= 0", name=op.f("ck_enterprises_employee_count_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_enterprises_owner_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_enterprises")),
        sa.UniqueConstraint(
            "unified_social_credit_code", name=op.f("uq_enterprises_unified_social_credit_code")
        ),
    )
    with op.batch_alter_table("enterprises", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_enterprises_industry_id"), ["industry", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_enterprises_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_enterprises_region_id"), ["region", "id"], unique=False
        )

    op.create_table(
        "memberships",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("institution_id", sa.Uuid(), nullable=True),
        sa.Column(
            "role",
            sa.Enum(
                "sme_owner",
                "loan_officer",
                "risk_officer",
                "institution_admin",
                "partner_service",
                "platform_risk_officer",
                "privacy_officer",
                "platform_admin",
                "auditor",
                name="role",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", kernel.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_memberships_institution_id_institutions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_memberships_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memberships")),
        sa.UniqueConstraint(
            "user_id",
            "institution_id",
            "role",
            name=op.f("uq_memberships_user_id_institution_id_role"),
        ),
    )
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_memberships_institution_id_role"),
            ["institution_id", "role"],
            unique=False,
        )

    op.create_table(
        "products",
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "working_capital_loan",
                "term_loan",
                "equipment_leasing",
                "factoring",
                "credit_line",
                name="producttype",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "published",
                "retired",
                name="productstatus",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("min_amount", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("max_amount", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("min_term_months", sa.Integer(), nullable=False),
        sa.Column("max_term_months", sa.Integer(), nullable=False),
        sa.Column("min_rate", kernel.base.ScaledDecimal(9, 6), nullable=False),
        sa.Column("max_rate", kernel.base.ScaledDecimal(9, 6), nullable=False),
        sa.Column("origination_fee_rate", kernel.base.ScaledDecimal(9, 6), nullable=False),
        sa.Column("repayment_methods", sa.JSON(), nullable=False),
        sa.Column("collateral_required", sa.Boolean(), nullable=False),
        sa.Column("eligibility", sa.JSON(), nullable=False),
        sa.Column("published_at", kernel.base.UTCDateTime(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", kernel.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "min_amount > 0 AND min_amount <= max_amount", name=op.f("ck_products_amount_range")
        ),
        sa.CheckConstraint(
            "min_rate >= 0 AND min_rate <= max_rate", name=op.f("ck_products_rate_range")
        ),
        sa.CheckConstraint(
            "min_term_months > 0 AND min_term_months <= max_term_months",
            name=op.f("ck_products_term_range"),
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_products_institution_id_institutions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint(
            "institution_id",
            "code",
            "version",
            name=op.f("uq_products_institution_id_code_version"),
        ),
    )
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_products_institution_id_status"),
            ["institution_id", "status"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_products_status_max_amount_id"),
            ["status", "max_amount", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_products_status_min_rate_id"), ["status", "min_rate", "id"], unique=False
        )

    op.create_table(
        "applications",
        sa.Column("enterprise_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("amount", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column(
            "repayment_method",
            sa.Enum(
                "annuity",
                "equal_principal",
                "interest_only",
                name="repaymentmethod",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("purpose", sa.String(length=500), nullable=False),
        sa.Column(
            "status",
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
                name="applicationstatus",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("submitted_at", kernel.base.UTCDateTime(), nullable=True),
        sa.Column("decided_at", kernel.base.UTCDateTime(), nullable=True),
        sa.Column("updated_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", kernel.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_applications_amount_positive")),
        sa.CheckConstraint("term_months > 0", name=op.f("ck_applications_term_positive")),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_applications_enterprise_id_enterprises"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_applications_institution_id_institutions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_applications_product_id_products"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
    )
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_applications_enterprise_id_id"), ["enterprise_id", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_applications_institution_id_id"), ["institution_id", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_applications_product_id"), ["product_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_applications_status_id"), ["status", "id"], unique=False
        )

    op.create_table(
        "financial_statements",
        sa.Column("enterprise_id", sa.Uuid(), nullable=False),
        sa.Column("fiscal_year", sa.Integer(), nullable=False),
        sa.Column("revenue", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("cost_of_sales", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("operating_profit", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("interest_expense", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("net_profit", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("total_assets", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("current_assets", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("total_liabilities", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("current_liabilities", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("equity", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("operating_cash_flow", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", kernel.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "current_assets <= total_assets",
            name=op.f("ck_financial_statements_current_assets_within_total"),
        ),
        sa.CheckConstraint(
            "current_liabilities <= total_liabilities",
            name=op.f("ck_financial_statements_current_liabilities_within_total"),
        ),
        sa.CheckConstraint(
            "total_assets = total_liabilities + equity",
            name=op.f("ck_financial_statements_balance_sheet_balances"),
        ),
        sa.CheckConstraint(
            "total_assets >= 0", name=op.f("ck_financial_statements_assets_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_financial_statements_enterprise_id_enterprises"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_financial_statements")),
        sa.UniqueConstraint(
            "enterprise_id",
            "fiscal_year",
            name=op.f("uq_financial_statements_enterprise_id_fiscal_year"),
        ),
    )
    op.create_table(
        "loans",
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("enterprise_id", sa.Uuid(), nullable=False),
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("principal", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("annual_rate", kernel.base.ScaledDecimal(9, 6), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column(
            "repayment_method",
            sa.Enum(
                "annuity",
                "equal_principal",
                "interest_only",
                name="repaymentmethod",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("disbursed_on", sa.Date(), nullable=False),
        sa.Column("maturity_on", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "closed",
                "written_off",
                name="loanstatus",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("outstanding_principal", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("days_past_due", sa.Integer(), nullable=False),
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
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", kernel.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint("days_past_due >= 0", name=op.f("ck_loans_dpd_non_negative")),
        sa.CheckConstraint(
            "outstanding_principal >= 0", name=op.f("ck_loans_outstanding_non_negative")
        ),
        sa.CheckConstraint("principal > 0", name=op.f("ck_loans_principal_positive")),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_loans_application_id_applications"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_loans_enterprise_id_enterprises"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_loans_institution_id_institutions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_loans_product_id_products"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loans")),
        sa.UniqueConstraint("application_id", name=op.f("uq_loans_application_id")),
    )
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_loans_enterprise_id_id"), ["enterprise_id", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_loans_institution_id_id"), ["institution_id", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_loans_status_delinquency_bucket"),
            ["status", "delinquency_bucket"],
            unique=False,
        )

    op.create_table(
        "risk_assessments",
        sa.Column("application_id", sa.Uuid(), nullable=True),
        sa.Column("enterprise_id", sa.Uuid(), nullable=False),
        sa.Column("probability_of_default", sa.Double(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("grade", sa.String(length=4), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("assessed_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "probability_of_default >= 0 AND probability_of_default <= 1",
            name=op.f("ck_risk_assessments_pd_is_probability"),
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_risk_assessments_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_risk_assessments_enterprise_id_enterprises"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_assessments")),
    )
    with op.batch_alter_table("risk_assessments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_risk_assessments_application_id_assessed_at"),
            ["application_id", "assessed_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_risk_assessments_enterprise_id_assessed_at"),
            ["enterprise_id", "assessed_at"],
            unique=False,
        )

    op.create_table(
        "decisions",
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("officer_id", sa.Uuid(), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "approve",
                "reject",
                "request_info",
                name="decisionoutcome",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("risk_assessment_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", kernel.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_decisions_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["officer_id"],
            ["users.id"],
            name=op.f("fk_decisions_officer_id_users"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["risk_assessment_id"],
            ["risk_assessments.id"],
            name=op.f("fk_decisions_risk_assessment_id_risk_assessments"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_decisions")),
    )
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_decisions_application_id_created_at"),
            ["application_id", "created_at"],
            unique=False,
        )

    op.create_table(
        "repayments",
        sa.Column("loan_id", sa.Uuid(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=False),
        sa.Column("amount", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("principal_part", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("interest_part", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("fee_part", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", kernel.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_repayments_amount_positive")),
        sa.CheckConstraint(
            "principal_part + interest_part + fee_part = amount",
            name=op.f("ck_repayments_allocation_adds_up"),
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.id"], name=op.f("fk_repayments_loan_id_loans"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repayments")),
        sa.UniqueConstraint(
            "loan_id", "idempotency_key", name=op.f("uq_repayments_loan_id_idempotency_key")
        ),
    )
    with op.batch_alter_table("repayments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_repayments_loan_id_paid_on"), ["loan_id", "paid_on"], unique=False
        )

    op.create_table(
        "risk_alerts",
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("loan_id", sa.Uuid(), nullable=True),
        sa.Column("enterprise_id", sa.Uuid(), nullable=False),
        sa.Column("rule_code", sa.String(length=64), nullable=False),
        sa.Column(
            "severity",
            sa.Enum(
                "low",
                "medium",
                "high",
                "critical",
                name="alertseverity",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "acknowledged",
                "in_progress",
                "escalated",
                "resolved",
                name="alertstatus",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("assignee_id", sa.Uuid(), nullable=True),
        sa.Column("opened_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("resolved_at", kernel.base.UTCDateTime(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["users.id"],
            name=op.f("fk_risk_alerts_assignee_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_risk_alerts_enterprise_id_enterprises"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_risk_alerts_institution_id_institutions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"], ["loans.id"], name=op.f("fk_risk_alerts_loan_id_loans"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_alerts")),
    )
    with op.batch_alter_table("risk_alerts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_risk_alerts_institution_id_status_id"),
            ["institution_id", "status", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_risk_alerts_loan_id_rule_code_status"),
            ["loan_id", "rule_code", "status"],
            unique=False,
        )

    op.create_table(
        "schedule_installments",
        sa.Column("loan_id", sa.Uuid(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("principal_due", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("interest_due", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("fee_due", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("principal_paid", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("interest_paid", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("fee_paid", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("settled_on", sa.Date(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "fee_paid <= fee_due", name=op.f("ck_schedule_installments_fee_not_overpaid")
        ),
        sa.CheckConstraint(
            "interest_paid <= interest_due",
            name=op.f("ck_schedule_installments_interest_not_overpaid"),
        ),
        sa.CheckConstraint(
            "principal_paid <= principal_due",
            name=op.f("ck_schedule_installments_principal_not_overpaid"),
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["loans.id"],
            name=op.f("fk_schedule_installments_loan_id_loans"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_installments")),
        sa.UniqueConstraint(
            "loan_id", "sequence", name=op.f("uq_schedule_installments_loan_id_sequence")
        ),
    )


def downgrade() -> None:
    op.drop_table("schedule_installments")
    with op.batch_alter_table("risk_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risk_alerts_loan_id_rule_code_status"))
        batch_op.drop_index(batch_op.f("ix_risk_alerts_institution_id_status_id"))

    op.drop_table("risk_alerts")
    with op.batch_alter_table("repayments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_repayments_loan_id_paid_on"))

    op.drop_table("repayments")
    with op.batch_alter_table("decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_decisions_application_id_created_at"))

    op.drop_table("decisions")
    with op.batch_alter_table("risk_assessments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_risk_assessments_enterprise_id_assessed_at"))
        batch_op.drop_index(batch_op.f("ix_risk_assessments_application_id_assessed_at"))

    op.drop_table("risk_assessments")
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loans_status_delinquency_bucket"))
        batch_op.drop_index(batch_op.f("ix_loans_institution_id_id"))
        batch_op.drop_index(batch_op.f("ix_loans_enterprise_id_id"))

    op.drop_table("loans")
    op.drop_table("financial_statements")
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_applications_status_id"))
        batch_op.drop_index(batch_op.f("ix_applications_product_id"))
        batch_op.drop_index(batch_op.f("ix_applications_institution_id_id"))
        batch_op.drop_index(batch_op.f("ix_applications_enterprise_id_id"))

    op.drop_table("applications")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_products_status_min_rate_id"))
        batch_op.drop_index(batch_op.f("ix_products_status_max_amount_id"))
        batch_op.drop_index(batch_op.f("ix_products_institution_id_status"))

    op.drop_table("products")
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_memberships_institution_id_role"))

    op.drop_table("memberships")
    with op.batch_alter_table("enterprises", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_enterprises_region_id"))
        batch_op.drop_index(batch_op.f("ix_enterprises_owner_id"))
        batch_op.drop_index(batch_op.f("ix_enterprises_industry_id"))

    op.drop_table("enterprises")
    op.drop_table("users")
    op.drop_table("institutions")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_entity_type_entity_id"))
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))

    op.drop_table("audit_log")
