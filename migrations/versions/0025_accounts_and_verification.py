"""accounts: institution onboarding and suspension, password resets

Institutions gain a licence, the regions they lend in, a contact person (sealed under
the institution's data key) and a suspension. One-time tokens gain the password-reset
purpose, so their CHECK constraints are rebuilt.

Revision ID: 0025
Revises: 0018
Create Date: 2026-12-07 13:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import domain.base
from migrations.policy import add_rules, remove_rules

revision: str = "0025"
down_revision: str | None = "0018"
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
NEW_ROLES = OLD_ROLES
OLD_PURPOSES = ("confirm_account", "staff_invitation")
NEW_PURPOSES = (*OLD_PURPOSES, "password_reset")

# Frozen here; the same lines are in the default policy file.
NEW_RULES: list[tuple[str, ...]] = [
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


def upgrade() -> None:
    with op.batch_alter_table("institutions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("licence_number", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("regions", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("contact_name", sa.String(length=400), nullable=True))
        batch_op.add_column(sa.Column("contact_email", sa.String(length=400), nullable=True))
        batch_op.add_column(sa.Column("contact_phone", sa.String(length=400), nullable=True))
        batch_op.add_column(sa.Column("suspended_at", domain.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("suspension_reason", sa.String(length=500), nullable=True))
    _rebuild_checks(NEW_ROLES, NEW_PURPOSES)
    add_rules(NEW_RULES)


def downgrade() -> None:
    remove_rules(NEW_RULES)
    op.execute("DELETE FROM one_time_tokens WHERE purpose = 'password_reset'")
    _rebuild_checks(OLD_ROLES, OLD_PURPOSES)
    with op.batch_alter_table("institutions", schema=None) as batch_op:
        batch_op.drop_column("suspension_reason")
        batch_op.drop_column("suspended_at")
        batch_op.drop_column("contact_phone")
        batch_op.drop_column("contact_email")
        batch_op.drop_column("contact_name")
        batch_op.drop_column("regions")
        batch_op.drop_column("licence_number")
