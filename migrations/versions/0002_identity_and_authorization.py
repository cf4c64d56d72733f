"""identity and authorization

Revision ID: 0002
Revises: 0001
Creates the identity tables and installs the default authorization policy as it
stood at this revision (a frozen copy of domain/identity/authz_default_policy.csv;
later changes to the default arrive as migrations of their own).

Create Date: 2026-11-25 18:44:36.360732
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import kernel.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


DEFAULT_POLICY: list[tuple[str, ...]] = [
    ("g", "authenticated", "anonymous", "*"),
    ("g", "sme_owner", "authenticated", "*"),
    ("g", "loan_officer", "authenticated", "*"),
    ("g", "risk_officer", "authenticated", "*"),
    ("g", "institution_admin", "loan_officer", "*"),
    ("g", "partner_service", "loan_officer", "*"),
    ("g", "platform_risk_officer", "authenticated", "*"),
    ("g", "privacy_officer", "authenticated", "*"),
    ("g", "platform_admin", "authenticated", "*"),
    ("g", "auditor", "authenticated", "*"),
    ("p", "anonymous", "*", "Query.*", "read", "allow"),
    ("p", "anonymous", "*", "PageInfo.*", "read", "allow"),
    ("p", "anonymous", "*", "*Connection.*", "read", "allow"),
    ("p", "anonymous", "*", "*Edge.*", "read", "allow"),
    ("p", "anonymous", "*", "Product.*", "read", "allow"),
    ("p", "anonymous", "*", "Eligibility.*", "read", "allow"),
    ("p", "anonymous", "*", "Institution.*", "read", "allow"),
    ("p", "anonymous", "*", "Mutation.register", "write", "allow"),
    ("p", "anonymous", "*", "Mutation.confirmAccount", "write", "allow"),
    ("p", "anonymous", "*", "Mutation.login", "write", "allow"),
    ("p", "anonymous", "*", "Mutation.verifyMfa", "write", "allow"),
    ("p", "anonymous", "*", "Mutation.refreshToken", "write", "allow"),
    ("p", "anonymous", "*", "Mutation.acceptInvitation", "write", "allow"),
    ("p", "anonymous", "*", "RegistrationPending.*", "read", "allow"),
    ("p", "anonymous", "*", "AccountConfirmed.*", "read", "allow"),
    ("p", "anonymous", "*", "InvitationAccepted.*", "read", "allow"),
    ("p", "anonymous", "*", "LoginSuccess.*", "read", "allow"),
    ("p", "anonymous", "*", "MfaRequired.*", "read", "allow"),
    ("p", "anonymous", "*", "MfaEnrollment.*", "read", "allow"),
    ("p", "anonymous", "*", "InvalidCredentials.*", "read", "allow"),
    ("p", "anonymous", "*", "LoginThrottled.*", "read", "allow"),
    ("p", "anonymous", "*", "InvalidToken.*", "read", "allow"),
    ("p", "anonymous", "*", "InvalidInput.*", "read", "allow"),
    ("p", "authenticated", "*", "Mutation.logout", "write", "allow"),
    ("p", "authenticated", "*", "User.*", "read", "allow"),
    ("p", "authenticated", "*", "User.*", "reveal", "allow"),
    ("p", "authenticated", "*", "RoleGrant.*", "read", "allow"),
    ("p", "sme_owner", "*", "Mutation.createEnterprise", "write", "allow"),
    ("p", "sme_owner", "*", "Enterprise.*", "read", "allow"),
    ("p", "sme_owner", "*", "Enterprise.*", "reveal", "allow"),
    ("p", "sme_owner", "*", "FinancialStatement.*", "read", "allow"),
    ("p", "sme_owner", "*", "Application.*", "read", "allow"),
    ("p", "sme_owner", "*", "Decision.*", "read", "allow"),
    ("p", "sme_owner", "*", "Loan.*", "read", "allow"),
    ("p", "sme_owner", "*", "Installment.*", "read", "allow"),
    ("p", "sme_owner", "*", "Repayment.*", "read", "allow"),
    ("p", "sme_owner", "*", "RiskAssessment.*", "read", "allow"),
    ("p", "sme_owner", "*", "ScoreReason.*", "read", "allow"),
    ("p", "sme_owner", "*", "RiskAssessment.probabilityOfDefault", "read", "deny"),
    ("p", "sme_owner", "*", "RiskAssessment.score", "read", "deny"),
    ("p", "sme_owner", "*", "RiskAssessment.modelVersion", "read", "deny"),
    ("p", "loan_officer", "*", "Enterprise.*", "read", "allow"),
    ("p", "loan_officer", "*", "Enterprise.legalRepresentativeName", "reveal", "allow"),
    ("p", "loan_officer", "*", "Enterprise.contactPhone", "reveal", "allow"),
    ("p", "loan_officer", "*", "Enterprise.contactEmail", "reveal", "allow"),
    ("p", "loan_officer", "*", "Enterprise.annualRevenue", "reveal", "allow"),
    ("p", "loan_officer", "*", "FinancialStatement.*", "read", "allow"),
    ("p", "loan_officer", "*", "Application.*", "read", "allow"),
    ("p", "loan_officer", "*", "Decision.*", "read", "allow"),
    ("p", "loan_officer", "*", "Loan.*", "read", "allow"),
    ("p", "loan_officer", "*", "Installment.*", "read", "allow"),
    ("p", "loan_officer", "*", "Repayment.*", "read", "allow"),
    ("p", "loan_officer", "*", "RiskAssessment.*", "read", "allow"),
    ("p", "loan_officer", "*", "ScoreReason.*", "read", "allow"),
    ("p", "risk_officer", "*", "Enterprise.*", "read", "allow"),
    ("p", "risk_officer", "*", "Enterprise.annualRevenue", "reveal", "allow"),
    ("p", "risk_officer", "*", "Enterprise.bankAccountNumber", "read", "deny"),
    ("p", "risk_officer", "*", "FinancialStatement.*", "read", "allow"),
    ("p", "risk_officer", "*", "Application.*", "read", "allow"),
    ("p", "risk_officer", "*", "Decision.*", "read", "allow"),
    ("p", "risk_officer", "*", "Loan.*", "read", "allow"),
    ("p", "risk_officer", "*", "Installment.*", "read", "allow"),
    ("p", "risk_officer", "*", "Repayment.*", "read", "allow"),
    ("p", "risk_officer", "*", "RiskAssessment.*", "read", "allow"),
    ("p", "risk_officer", "*", "ScoreReason.*", "read", "allow"),
    ("p", "institution_admin", "*", "Mutation.inviteStaff", "write", "allow"),
    ("p", "institution_admin", "*", "Mutation.createServiceAccount", "write", "allow"),
    ("p", "institution_admin", "*", "StaffInvited.*", "read", "allow"),
    ("p", "institution_admin", "*", "ServiceAccountCreated.*", "read", "allow"),
    ("p", "scope:applications:read", "*", "Query.applications", "read", "allow"),
    ("p", "scope:applications:read", "*", "Query.enterprises", "read", "allow"),
    ("p", "scope:applications:read", "*", "Query.node", "read", "allow"),
    ("p", "scope:applications:read", "*", "Query.products", "read", "allow"),
    ("p", "scope:applications:read", "*", "Application.*", "read", "allow"),
    ("p", "scope:applications:read", "*", "Decision.*", "read", "allow"),
    ("p", "scope:applications:read", "*", "Enterprise.*", "read", "allow"),
    ("p", "scope:applications:read", "*", "FinancialStatement.*", "read", "allow"),
    ("p", "scope:applications:read", "*", "RiskAssessment.*", "read", "allow"),
    ("p", "scope:applications:read", "*", "ScoreReason.*", "read", "allow"),
    ("p", "scope:applications:read", "*", "Product.*", "read", "allow"),
    ("p", "scope:applications:read", "*", "Eligibility.*", "read", "allow"),
    ("p", "scope:applications:read", "*", "Institution.*", "read", "allow"),
    ("p", "scope:applications:read", "*", "PageInfo.*", "read", "allow"),
    ("p", "scope:applications:read", "*", "*Connection.*", "read", "allow"),
    ("p", "scope:applications:read", "*", "*Edge.*", "read", "allow"),
    ("p", "scope:loans:read", "*", "Query.loans", "read", "allow"),
    ("p", "scope:loans:read", "*", "Query.node", "read", "allow"),
    ("p", "scope:loans:read", "*", "Loan.*", "read", "allow"),
    ("p", "scope:loans:read", "*", "Installment.*", "read", "allow"),
    ("p", "scope:loans:read", "*", "Repayment.*", "read", "allow"),
    ("p", "scope:loans:read", "*", "Product.*", "read", "allow"),
    ("p", "scope:loans:read", "*", "Eligibility.*", "read", "allow"),
    ("p", "scope:loans:read", "*", "Institution.*", "read", "allow"),
    ("p", "scope:loans:read", "*", "PageInfo.*", "read", "allow"),
    ("p", "scope:loans:read", "*", "*Connection.*", "read", "allow"),
    ("p", "scope:loans:read", "*", "*Edge.*", "read", "allow"),
    ("p", "scope:applications:decide", "*", "Mutation.decideApplication", "write", "allow"),
    ("p", "platform_risk_officer", "*", "*", "read", "allow"),
    ("p", "platform_risk_officer", "*", "Enterprise.annualRevenue", "reveal", "allow"),
    ("p", "platform_risk_officer", "*", "Enterprise.bankAccountNumber", "read", "deny"),
    ("p", "privacy_officer", "*", "*", "read", "allow"),
    ("p", "privacy_officer", "*", "*", "reveal", "allow"),
    ("p", "auditor", "*", "*", "read", "allow"),
    ("p", "platform_admin", "*", "*", "read", "allow"),
    ("p", "platform_admin", "*", "Mutation.addPolicyRule", "write", "allow"),
    ("p", "platform_admin", "*", "Mutation.removePolicyRule", "write", "allow"),
    ("p", "platform_admin", "*", "Mutation.inviteStaff", "write", "allow"),
    ("p", "platform_admin", "*", "Mutation.createServiceAccount", "write", "allow"),
]


def upgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table(
        "authz_rules",
        sa.Column("ptype", sa.String(length=2), nullable=False),
        sa.Column("v0", sa.String(length=128), nullable=False),
        sa.Column("v1", sa.String(length=128), nullable=False),
        sa.Column("v2", sa.String(length=128), nullable=False),
        sa.Column("v3", sa.String(length=128), nullable=False),
        sa.Column("v4", sa.String(length=128), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authz_rules")),
        sa.UniqueConstraint(
            "ptype", "v0", "v1", "v2", "v3", "v4", name=op.f("uq_authz_rules_ptype_v0_v1_v2_v3_v4")
        ),
    )
    op.create_table(
        "authz_version",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("changed_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_authz_version")),
    )
    op.create_table(
        "login_throttle",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", kernel.base.UTCDateTime(), nullable=True),
        sa.Column("updated_at", kernel.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_login_throttle")),
    )
    op.create_table(
        "outbox",
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("body", sa.String(length=4000), nullable=False),
        sa.Column("sent_at", kernel.base.UTCDateTime(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", kernel.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbox_sent_at_created_at"), ["sent_at", "created_at"], unique=False
        )

    op.create_table(
        "auth_sessions",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("revoked_at", kernel.base.UTCDateTime(), nullable=True),
        sa.Column("revoked_reason", sa.String(length=32), nullable=True),
        sa.Column("client_address", sa.String(length=64), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", kernel.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_auth_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auth_sessions")),
    )
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_auth_sessions_user_id"), ["user_id"], unique=False)

    op.create_table(
        "one_time_tokens",
        sa.Column(
            "purpose",
            sa.Enum(
                "confirm_account",
                "staff_invitation",
                name="tokenpurpose",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
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
            nullable=True,
        ),
        sa.Column("expires_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("used_at", kernel.base.UTCDateTime(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", kernel.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_one_time_tokens_institution_id_institutions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_one_time_tokens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_one_time_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_one_time_tokens_token_hash")),
    )
    op.create_table(
        "recovery_codes",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", kernel.base.UTCDateTime(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", kernel.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_recovery_codes_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recovery_codes")),
    )
    with op.batch_alter_table("recovery_codes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recovery_codes_user_id"), ["user_id"], unique=False)

    op.create_table(
        "service_accounts",
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=255), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("disabled_at", kernel.base.UTCDateTime(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", kernel.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_service_accounts_institution_id_institutions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_accounts")),
        sa.UniqueConstraint("client_id", name=op.f("uq_service_accounts_client_id")),
    )
    with op.batch_alter_table("service_accounts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_accounts_institution_id"), ["institution_id"], unique=False
        )

    op.create_table(
        "refresh_tokens",
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("used_at", kernel.base.UTCDateTime(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", kernel.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["auth_sessions.id"],
            name=op.f("fk_refresh_tokens_session_id_auth_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refresh_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_refresh_tokens_token_hash")),
    )
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_refresh_tokens_session_id"), ["session_id"], unique=False
        )

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mfa_secret", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("mfa_enrolled_at", kernel.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("mfa_last_step", sa.BigInteger(), nullable=True))

    # ### end Alembic commands ###
    rules = sa.table(
        "authz_rules",
        sa.column("id", sa.Uuid()),
        *(sa.column(f"v{i}", sa.String()) for i in range(5)),
        sa.column("ptype", sa.String()),
    )
    rows = []
    for rule in DEFAULT_POLICY:
        values = [*rule[1:], "", "", "", "", ""][:5]
        rows.append(
            {"id": uuid.uuid4(), "ptype": rule[0], **{f"v{i}": v for i, v in enumerate(values)}}
        )
    op.bulk_insert(rules, rows)
    version = sa.table(
        "authz_version",
        sa.column("id", sa.Integer()),
        sa.column("version", sa.Integer()),
        sa.column("changed_at", kernel.base.UTCDateTime()),
        sa.column("detail", sa.JSON()),
    )
    op.bulk_insert(
        version,
        [
            {
                "id": 1,
                "version": 1,
                "changed_at": datetime.now(UTC),
                "detail": {"installed": "default policy, revision 0002"},
            }
        ],
    )


def downgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("mfa_last_step")
        batch_op.drop_column("mfa_enrolled_at")
        batch_op.drop_column("mfa_secret")

    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_refresh_tokens_session_id"))

    op.drop_table("refresh_tokens")
    with op.batch_alter_table("service_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_accounts_institution_id"))

    op.drop_table("service_accounts")
    with op.batch_alter_table("recovery_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recovery_codes_user_id"))

    op.drop_table("recovery_codes")
    op.drop_table("one_time_tokens")
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_sessions_user_id"))

    op.drop_table("auth_sessions")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_sent_at_created_at"))

    op.drop_table("outbox")
    op.drop_table("login_throttle")
    op.drop_table("authz_version")
    op.drop_table("authz_rules")
    # ### end Alembic commands ###
