"""role grants under four eyes: a proposed role waits for a second admin

``role_grant_changes`` holds each proposed grant; revoking needs no row (it narrows
and applies at once). See domain.identity.role_grants.

Revision ID: 0033
Revises: 0028
Create Date: 2026-12-07 16:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import domain.base
from migrations.policy import add_rules, remove_rules

revision: str = "0033"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLES = (
    "sme_owner",
    "loan_officer",
    "risk_officer",
    "institution_admin",
    "partner_service",
    "platform_risk_officer",
    "privacy_officer",
    "platform_admin",
    "auditor",
    "verification_officer",
)
# Frozen here; the same lines are in the default policy file.
NEW_RULES: list[tuple[str, ...]] = [
    ("p", "institution_admin", "*", "Mutation.approveRoleGrant", "write", "allow"),
    ("p", "institution_admin", "*", "RoleGrantChange.*", "read", "allow"),
    ("p", "platform_admin", "*", "Mutation.approveRoleGrant", "write", "allow"),
]


def upgrade() -> None:
    op.create_table(
        "role_grant_changes",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column(
            "role",
            sa.Enum(*ROLES, name="role", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("institution_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", domain.base.UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", domain.base.UTCDateTime(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_role_grant_changes")),
    )
    op.create_index(
        op.f("ix_role_grant_changes_status_id"),
        "role_grant_changes",
        ["status", "id"],
        unique=False,
    )
    op.create_index(
        op.f("ix_role_grant_changes_institution_id_id"),
        "role_grant_changes",
        ["institution_id", "id"],
        unique=False,
    )
    add_rules(NEW_RULES)


def downgrade() -> None:
    remove_rules(NEW_RULES)
    op.drop_index(op.f("ix_role_grant_changes_institution_id_id"), table_name="role_grant_changes")
    op.drop_index(op.f("ix_role_grant_changes_status_id"), table_name="role_grant_changes")
    op.drop_table("role_grant_changes")
