"""privacy for people: preference centre, data-subject requests

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kernel.base
from migrations.policy import add_rules, remove_rules

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here, as the earlier revisions' rules are; the same lines are in the default
# policy file.
NEW_RULES: list[tuple[str, ...]] = [
    ("p", "authenticated", "*", "Query.privacyPreferences", "read", "allow"),
    ("p", "authenticated", "*", "Mutation.setPrivacyPreferences", "write", "allow"),
    ("p", "authenticated", "*", "PrivacyPreferences.*", "read", "allow"),
    ("p", "authenticated", "*", "Query.subjectRequests", "read", "allow"),
    ("p", "authenticated", "*", "SubjectRequest.*", "read", "allow"),
    ("p", "authenticated", "*", "Mutation.submitSubjectRequest", "write", "allow"),
    ("p", "privacy_officer", "*", "Mutation.completeSubjectRequest", "write", "allow"),
]


def upgrade() -> None:
    op.create_table(
        "privacy_preferences",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("marketing", sa.Boolean(), nullable=False),
        sa.Column("product_recommendations", sa.Boolean(), nullable=False),
        sa.Column("share_with_institutions", sa.Boolean(), nullable=False),
        sa.Column("share_with_providers", sa.Boolean(), nullable=False),
        sa.Column("updated_at", kernel.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_privacy_preferences_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_privacy_preferences")),
    )
    op.create_table(
        "subject_requests",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject_type", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.Uuid(), nullable=False),
        sa.Column("requester_id", sa.Uuid(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("identity_checked_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("identity_method", sa.String(length=16), nullable=False),
        sa.Column("received_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("due_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("escalated_at", kernel.base.UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_at", kernel.base.UTCDateTime(), nullable=True),
        sa.Column("refusal_reason", sa.String(length=500), nullable=True),
        sa.Column("receipt", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subject_requests")),
    )
    with op.batch_alter_table("subject_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_subject_requests_requester_id_id"), ["requester_id", "id"]
        )
        batch_op.create_index(batch_op.f("ix_subject_requests_status_due_at"), ["status", "due_at"])
    add_rules(NEW_RULES)


def downgrade() -> None:
    remove_rules(NEW_RULES)
    with op.batch_alter_table("subject_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_subject_requests_status_due_at"))
        batch_op.drop_index(batch_op.f("ix_subject_requests_requester_id_id"))
    op.drop_table("subject_requests")
    op.drop_table("privacy_preferences")
