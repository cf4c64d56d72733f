"""feedback: service ratings and support tickets

Owners rate the service once per event (a decision, a disbursement, a closed risk
alert) and open tickets about an application or a loan; their institution's staff
answer in the ticket's thread. Comments, subjects and messages are sealed under the
data key of their own row.

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07 16:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kernel.base
from migrations.policy import add_rules, remove_rules

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here, as the earlier revisions' rules are; the same lines are in the default
# policy file.
NEW_RULES: list[tuple[str, ...]] = [
    ("p", "sme_owner", "*", "Mutation.rateService", "write", "allow"),
    ("p", "sme_owner", "*", "Mutation.openSupportTicket", "write", "allow"),
    ("p", "sme_owner", "*", "Mutation.postSupportMessage", "write", "allow"),
    ("p", "sme_owner", "*", "Mutation.setSupportTicketStatus", "write", "allow"),
    ("p", "sme_owner", "*", "ServiceRating.*", "read", "allow"),
    ("p", "sme_owner", "*", "ServiceRating.*", "reveal", "allow"),
    ("p", "sme_owner", "*", "SupportTicket.*", "read", "allow"),
    ("p", "sme_owner", "*", "SupportTicket.*", "reveal", "allow"),
    ("p", "sme_owner", "*", "SupportMessage.*", "read", "allow"),
    ("p", "sme_owner", "*", "SupportMessage.*", "reveal", "allow"),
    ("p", "loan_officer", "*", "Mutation.postSupportMessage", "write", "allow"),
    ("p", "loan_officer", "*", "Mutation.setSupportTicketStatus", "write", "allow"),
    ("p", "loan_officer", "*", "SupportTicket.*", "read", "allow"),
    ("p", "loan_officer", "*", "SupportTicket.*", "reveal", "allow"),
    ("p", "loan_officer", "*", "SupportMessage.*", "read", "allow"),
    ("p", "loan_officer", "*", "SupportMessage.*", "reveal", "allow"),
    ("p", "loan_officer", "*", "ServiceRating.*", "read", "allow"),
    ("p", "institution_admin", "*", "ServiceRating.comment", "reveal", "allow"),
]


def upgrade() -> None:
    op.create_table(
        "service_ratings",
        sa.Column(
            "event_kind",
            sa.Enum(
                "application_decision",
                "disbursement",
                "risk_alert_closed",
                name="ratedevent",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("enterprise_id", sa.Uuid(), nullable=False),
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("rated_by", sa.Uuid(), nullable=True),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("rated_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name=op.f("ck_service_ratings_score_range")),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_service_ratings_enterprise_id_enterprises"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_service_ratings_institution_id_institutions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["rated_by"],
            ["users.id"],
            name=op.f("fk_service_ratings_rated_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_service_ratings")),
        sa.UniqueConstraint(
            "event_kind", "event_id", name=op.f("uq_service_ratings_event_kind_event_id")
        ),
    )
    with op.batch_alter_table("service_ratings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_service_ratings_enterprise_id_id"), ["enterprise_id", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_service_ratings_institution_id_rated_at"),
            ["institution_id", "rated_at"],
            unique=False,
        )

    op.create_table(
        "support_tickets",
        sa.Column("enterprise_id", sa.Uuid(), nullable=False),
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("application_id", sa.Uuid(), nullable=True),
        sa.Column("loan_id", sa.Uuid(), nullable=True),
        sa.Column("opened_by", sa.Uuid(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "answered",
                "closed",
                name="ticketstatus",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("opened_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("first_answered_at", kernel.base.UTCDateTime(), nullable=True),
        sa.Column("closed_at", kernel.base.UTCDateTime(), nullable=True),
        sa.Column("updated_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "(application_id IS NULL) <> (loan_id IS NULL)",
            name=op.f("ck_support_tickets_about_one_thing"),
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_support_tickets_application_id_applications"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_support_tickets_enterprise_id_enterprises"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_support_tickets_institution_id_institutions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["loans.id"],
            name=op.f("fk_support_tickets_loan_id_loans"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["opened_by"],
            ["users.id"],
            name=op.f("fk_support_tickets_opened_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_tickets")),
    )
    with op.batch_alter_table("support_tickets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_support_tickets_enterprise_id_id"), ["enterprise_id", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_support_tickets_institution_id_opened_at"),
            ["institution_id", "opened_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_support_tickets_institution_id_status_id"),
            ["institution_id", "status", "id"],
            unique=False,
        )

    op.create_table(
        "support_messages",
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("from_staff", sa.Boolean(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_support_messages_author_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["support_tickets.id"],
            name=op.f("fk_support_messages_ticket_id_support_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_messages")),
    )
    with op.batch_alter_table("support_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_support_messages_ticket_id_at"), ["ticket_id", "at"], unique=False
        )
    add_rules(NEW_RULES)


def downgrade() -> None:
    remove_rules(NEW_RULES)
    with op.batch_alter_table("support_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_support_messages_ticket_id_at"))

    op.drop_table("support_messages")
    with op.batch_alter_table("support_tickets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_support_tickets_institution_id_status_id"))
        batch_op.drop_index(batch_op.f("ix_support_tickets_institution_id_opened_at"))
        batch_op.drop_index(batch_op.f("ix_support_tickets_enterprise_id_id"))

    op.drop_table("support_tickets")
    with op.batch_alter_table("service_ratings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_service_ratings_institution_id_rated_at"))
        batch_op.drop_index(batch_op.f("ix_service_ratings_enterprise_id_id"))

    op.drop_table("service_ratings")
