"""accounts and verification: onboarding, suspension, password resets, KYC/KYB

Institutions gain a licence, the regions they lend in, a contact person (sealed under
the institution's data key) and a suspension. One-time tokens gain the password-reset
purpose and roles the verification officer, so their CHECK constraints are rebuilt.
Enterprises gain a verification level; verification cases, their documents (sealed)
and their history get tables of their own.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kernel.base
from migrations.policy import add_rules, remove_rules

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_ROLES = (
    "sme_owner",
    "loan_officer",
    "risk_officer",
    "institution_admin",
    "partner_service",
    "platform_risk_officer",
    "privacy_officer",
    "platform_admin",
    "auditor",
)
NEW_ROLES = (*OLD_ROLES, "verification_officer")
OLD_PURPOSES = ("confirm_account", "staff_invitation")
NEW_PURPOSES = (*OLD_PURPOSES, "password_reset")

# Frozen here; the same lines are in the default policy file.
NEW_RULES: list[tuple[str, ...]] = [
    ("g", "verification_officer", "authenticated", "*", "", ""),
    ("g", "verification:basic", "verification:unverified", "*", "", ""),
    ("g", "verification:verified", "verification:basic", "*", "", ""),
    ("p", "anonymous", "*", "Mutation.requestPasswordReset", "write", "allow"),
    ("p", "anonymous", "*", "Mutation.resetPassword", "write", "allow"),
    ("p", "anonymous", "*", "PasswordResetRequested.*", "read", "allow"),
    ("p", "anonymous", "*", "PasswordChanged.*", "read", "allow"),
    ("p", "authenticated", "*", "Mutation.changePassword", "write", "allow"),
    ("p", "authenticated", "*", "Mutation.endSession", "write", "allow"),
    ("p", "authenticated", "*", "LoginSession.*", "read", "allow"),
    ("p", "authenticated", "*", "LoginSession.*", "reveal", "allow"),
    ("p", "authenticated", "*", "SessionsEnded.*", "read", "allow"),
    ("p", "institution_admin", "*", "Mutation.disableUser", "write", "allow"),
    ("p", "institution_admin", "*", "Mutation.enableUser", "write", "allow"),
    ("p", "institution_admin", "*", "Mutation.grantRole", "write", "allow"),
    ("p", "institution_admin", "*", "Mutation.revokeRole", "write", "allow"),
    ("p", "institution_admin", "*", "Mutation.revokeUserSessions", "write", "allow"),
    ("p", "institution_admin", "*", "InstitutionProfile.*", "read", "allow"),
    ("p", "institution_admin", "*", "StaffMember.*", "read", "allow"),
    ("p", "institution_admin", "*", "AccountStatusChanged.*", "read", "allow"),
    ("p", "institution_admin", "*", "RoleChanged.*", "read", "allow"),
    ("p", "platform_admin", "*", "Mutation.createInstitution", "write", "allow"),
    ("p", "platform_admin", "*", "Mutation.configureInstitution", "write", "allow"),
    ("p", "platform_admin", "*", "Mutation.suspendInstitution", "write", "allow"),
    ("p", "platform_admin", "*", "Mutation.reactivateInstitution", "write", "allow"),
    ("p", "platform_admin", "*", "Mutation.disableUser", "write", "allow"),
    ("p", "platform_admin", "*", "Mutation.enableUser", "write", "allow"),
    ("p", "platform_admin", "*", "Mutation.grantRole", "write", "allow"),
    ("p", "platform_admin", "*", "Mutation.revokeRole", "write", "allow"),
    ("p", "platform_admin", "*", "Mutation.revokeUserSessions", "write", "allow"),
    ("p", "platform_admin", "*", "InstitutionProfile.*", "reveal", "allow"),
    # Verification: owners and claimants submit and read their cases; officers review.
    ("p", "sme_owner", "*", "Mutation.submitVerification", "write", "allow"),
    ("p", "sme_owner", "*", "Mutation.addVerificationDocuments", "write", "allow"),
    ("p", "sme_owner", "*", "Mutation.disputeOwnership", "write", "allow"),
    ("p", "sme_owner", "*", "VerificationCase.*", "read", "allow"),
    ("p", "sme_owner", "*", "VerificationDocument.*", "read", "allow"),
    ("p", "sme_owner", "*", "VerificationDocument.*", "reveal", "allow"),
    ("p", "sme_owner", "*", "VerificationStep.*", "read", "allow"),
    ("p", "sme_owner", "*", "VerificationStep.*", "reveal", "allow"),
    ("p", "verification_officer", "*", "Mutation.reviewVerification", "write", "allow"),
    ("p", "verification_officer", "*", "VerificationCase.*", "read", "allow"),
    ("p", "verification_officer", "*", "VerificationDocument.*", "read", "allow"),
    ("p", "verification_officer", "*", "VerificationDocument.*", "reveal", "allow"),
    ("p", "verification_officer", "*", "VerificationStep.*", "read", "allow"),
    ("p", "verification_officer", "*", "VerificationStep.*", "reveal", "allow"),
    ("p", "verification_officer", "*", "Enterprise.*", "read", "allow"),
    ("p", "verification_officer", "*", "Enterprise.legalRepresentativeName", "reveal", "allow"),
    ("p", "verification_officer", "*", "Enterprise.legalRepresentativeIdNumber", "reveal", "allow"),
    ("p", "verification_officer", "*", "Enterprise.bankAccountNumber", "read", "deny"),
    ("p", "verification_officer", "*", "FinancialStatement.*", "read", "allow"),
    # It verifies enterprises; lending is none of its business.
    ("p", "verification_officer", "*", "Query.applications", "read", "deny"),
    ("p", "verification_officer", "*", "Query.loans", "read", "deny"),
    # What each verification level may do (domain.verification.levels).
    ("p", "verification:unverified", "*", "Capability.applyUpTo.100000", "write", "allow"),
    ("p", "verification:basic", "*", "Capability.applyUpTo.1000000", "write", "allow"),
    ("p", "verification:verified", "*", "Capability.applyUpTo.*", "write", "allow"),
    ("p", "verification:verified", "*", "Capability.signContract", "write", "allow"),
    ("p", "verification:verified", "*", "Capability.preApprovedOffers", "read", "allow"),
]


def _enum_check(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _rebuild_checks(roles: Sequence[str], purposes: Sequence[str]) -> None:
    with op.batch_alter_table("memberships", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_memberships_role"), type_="check")
        batch_op.create_check_constraint("role", _enum_check("role", roles))
    with op.batch_alter_table("one_time_tokens", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_one_time_tokens_role"), type_="check")
        batch_op.drop_constraint(op.f("ck_one_time_tokens_tokenpurpose"), type_="check")
        batch_op.create_check_constraint("role", _enum_check("role", roles))
        batch_op.create_check_constraint("tokenpurpose", _enum_check("purpose", purposes))


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


STATUSES = ("submitted", "more_info_requested", "approved", "rejected")
LEVELS = ("unverified", "basic", "verified")


def _verification_tables() -> None:
    with op.batch_alter_table("enterprises", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "verification_level",
                _enum("verificationlevel", *LEVELS),
                nullable=False,
                server_default="unverified",
            )
        )
    op.create_table(
        "verification_cases",
        sa.Column("enterprise_id", sa.Uuid(), nullable=False),
        sa.Column("claimant_id", sa.Uuid(), nullable=True),
        sa.Column("kind", _enum("casekind", "ownership", "dispute"), nullable=False),
        sa.Column("status", _enum("casestatus", *STATUSES), nullable=False),
        sa.Column("level_granted", _enum("verificationlevel", *LEVELS), nullable=True),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", kernel.base.UTCDateTime(), nullable=True),
        sa.Column("updated_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", kernel.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["claimant_id"],
            ["users.id"],
            name=op.f("fk_verification_cases_claimant_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["users.id"],
            name=op.f("fk_verification_cases_decided_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_verification_cases_enterprise_id_enterprises"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_cases")),
    )
    with op.batch_alter_table("verification_cases", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_verification_cases_claimant_id"), ["claimant_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_verification_cases_enterprise_id_status"),
            ["enterprise_id", "status"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_verification_cases_status_created_at_id"),
            ["status", "created_at", "id"],
            unique=False,
        )
    op.create_table(
        "verification_documents",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            _enum(
                "documentkind", "business_licence", "legal_representative_id", "proof_of_control"
            ),
            nullable=False,
        ),
        sa.Column("media_type", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", kernel.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["verification_cases.id"],
            name=op.f("fk_verification_documents_case_id_verification_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_documents")),
    )
    with op.batch_alter_table("verification_documents", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_verification_documents_case_id"), ["case_id"], unique=False
        )
    op.create_table(
        "verification_events",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("from_status", _enum("from_status", *STATUSES), nullable=True),
        sa.Column("to_status", _enum("to_status", *STATUSES), nullable=False),
        sa.Column("note", sa.String(length=2400), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_verification_events_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["verification_cases.id"],
            name=op.f("fk_verification_events_case_id_verification_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verification_events")),
    )
    with op.batch_alter_table("verification_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_verification_events_case_id_at"), ["case_id", "at"], unique=False
        )


def upgrade() -> None:
    with op.batch_alter_table("institutions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("licence_number", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("regions", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("contact_name", sa.String(length=400), nullable=True))
        batch_op.add_column(sa.Column("contact_email", sa.String(length=400), nullable=True))
        batch_op.add_column(sa.Column("contact_phone", sa.String(length=400), nullable=True))
        batch_op.add_column(sa.Column("suspended_at", kernel.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("suspension_reason", sa.String(length=500), nullable=True))
    _rebuild_checks(NEW_ROLES, NEW_PURPOSES)
    _verification_tables()
    add_rules(NEW_RULES)


def downgrade() -> None:
    remove_rules(NEW_RULES)
    op.execute("DELETE FROM one_time_tokens WHERE purpose = 'password_reset'")
    op.execute("DELETE FROM one_time_tokens WHERE role = 'verification_officer'")
    op.execute("DELETE FROM memberships WHERE role = 'verification_officer'")
    op.drop_table("verification_events")
    op.drop_table("verification_documents")
    op.drop_table("verification_cases")
    with op.batch_alter_table("enterprises", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_enterprises_verificationlevel"), type_="check")
        batch_op.drop_column("verification_level")
    _rebuild_checks(OLD_ROLES, OLD_PURPOSES)
    with op.batch_alter_table("institutions", schema=None) as batch_op:
        batch_op.drop_column("suspension_reason")
        batch_op.drop_column("suspended_at")
        batch_op.drop_column("contact_phone")
        batch_op.drop_column("contact_email")
        batch_op.drop_column("contact_name")
        batch_op.drop_column("regions")
        batch_op.drop_column("licence_number")
