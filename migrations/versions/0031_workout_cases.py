"""workout cases: loans in difficulty worked out, collection activity, forbearance

Workout cases (strategy, owner, SLA due day, outcome), the alerts whose disposal opened
them, contact attempts (the note sealed under the enterprise's data key) and promises
to pay get tables; loans gain the forborne flag. The policy gains the case rules.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07 16:31:09.561105
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import kernel.base
from migrations.policy import add_rules, remove_rules

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Frozen here, as the earlier revisions' rules are; the same lines are in the default
# policy file.
NEW_RULES: list[tuple[str, ...]] = [
    ("p", "loan_officer", "*", "WorkoutCase.*", "read", "allow"),
    ("p", "loan_officer", "*", "CollectionContact.*", "read", "allow"),
    ("p", "loan_officer", "*", "CollectionContact.*", "reveal", "allow"),
    ("p", "loan_officer", "*", "PromiseToPay.*", "read", "allow"),
    ("p", "loan_officer", "*", "Mutation.openWorkoutCase", "write", "allow"),
    ("p", "loan_officer", "*", "Mutation.updateWorkoutCase", "write", "allow"),
    ("p", "loan_officer", "*", "Mutation.recordCollectionContact", "write", "allow"),
    ("p", "loan_officer", "*", "Mutation.recordPromiseToPay", "write", "allow"),
    ("p", "risk_officer", "*", "WorkoutCase.*", "read", "allow"),
    ("p", "risk_officer", "*", "CollectionContact.*", "read", "allow"),
    ("p", "risk_officer", "*", "CollectionContact.*", "reveal", "allow"),
    ("p", "risk_officer", "*", "PromiseToPay.*", "read", "allow"),
    ("p", "risk_officer", "*", "Mutation.openWorkoutCase", "write", "allow"),
    ("p", "risk_officer", "*", "Mutation.updateWorkoutCase", "write", "allow"),
    ("p", "risk_officer", "*", "Mutation.recordCollectionContact", "write", "allow"),
    ("p", "risk_officer", "*", "Mutation.recordPromiseToPay", "write", "allow"),
    ("p", "partner_service", "*", "WorkoutCase.*", "read", "deny"),
    ("p", "partner_service", "*", "CollectionContact.*", "read", "deny"),
    ("p", "partner_service", "*", "PromiseToPay.*", "read", "deny"),
    ("p", "partner_service", "*", "Mutation.openWorkoutCase", "write", "deny"),
    ("p", "partner_service", "*", "Mutation.updateWorkoutCase", "write", "deny"),
    ("p", "partner_service", "*", "Mutation.recordCollectionContact", "write", "deny"),
    ("p", "partner_service", "*", "Mutation.recordPromiseToPay", "write", "deny"),
]


def upgrade() -> None:
    op.create_table(
        "workout_cases",
        sa.Column("loan_id", sa.Uuid(), nullable=False),
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("enterprise_id", sa.Uuid(), nullable=False),
        sa.Column(
            "strategy",
            sa.Enum(
                "restructuring",
                "collection",
                "legal_action",
                "sale",
                "write_off",
                name="workoutstrategy",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "state",
            sa.Enum(
                "open",
                "in_progress",
                "resolved",
                "closed",
                "cancelled",
                name="workoutstate",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("opened_by", sa.Uuid(), nullable=True),
        sa.Column("opened_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column(
            "outcome",
            sa.Enum(
                "restructured",
                "written_off",
                "cured",
                "settled",
                "judgment",
                "claim_sold",
                "unrecoverable",
                name="workoutoutcome",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("recovered_amount", kernel.base.ScaledDecimal(18, 2), nullable=True),
        sa.Column("amendment_id", sa.Uuid(), nullable=True),
        sa.Column("resolved_at", kernel.base.UTCDateTime(), nullable=True),
        sa.Column("closed_at", kernel.base.UTCDateTime(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "recovered_amount >= 0", name=op.f("ck_workout_cases_recovered_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["amendment_id"],
            ["loan_amendments.id"],
            name=op.f("fk_workout_cases_amendment_id_loan_amendments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_workout_cases_enterprise_id_enterprises"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_workout_cases_institution_id_institutions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["loans.id"],
            name=op.f("fk_workout_cases_loan_id_loans"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["opened_by"],
            ["users.id"],
            name=op.f("fk_workout_cases_opened_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_workout_cases_owner_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workout_cases")),
    )
    with op.batch_alter_table("workout_cases", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workout_cases_institution_id_id"), ["institution_id", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_workout_cases_loan_id_state"), ["loan_id", "state"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_workout_cases_state_due_on"), ["state", "due_on"], unique=False
        )

    op.create_table(
        "collection_contacts",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("enterprise_id", sa.Uuid(), nullable=False),
        sa.Column(
            "channel",
            sa.Enum(
                "phone",
                "email",
                "sms",
                "letter",
                "visit",
                name="contactchannel",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "outcome",
            sa.Enum(
                "reached",
                "no_answer",
                "wrong_contact",
                "refused",
                "promised",
                "disputed",
                name="contactoutcome",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("note", sa.String(length=2400), nullable=True),
        sa.Column("contacted_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["workout_cases.id"],
            name=op.f("fk_collection_contacts_case_id_workout_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["enterprise_id"],
            ["enterprises.id"],
            name=op.f("fk_collection_contacts_enterprise_id_enterprises"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_collection_contacts_institution_id_institutions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["users.id"],
            name=op.f("fk_collection_contacts_recorded_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collection_contacts")),
    )
    with op.batch_alter_table("collection_contacts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_collection_contacts_case_id_contacted_at"),
            ["case_id", "contacted_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_collection_contacts_institution_id_id"),
            ["institution_id", "id"],
            unique=False,
        )

    op.create_table(
        "promises_to_pay",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("institution_id", sa.Uuid(), nullable=False),
        sa.Column("loan_id", sa.Uuid(), nullable=False),
        sa.Column("made_on", sa.Date(), nullable=False),
        sa.Column("promised_on", sa.Date(), nullable=False),
        sa.Column("amount", kernel.base.ScaledDecimal(18, 2), nullable=False),
        sa.Column("recorded_by", sa.Uuid(), nullable=True),
        sa.Column("recorded_at", kernel.base.UTCDateTime(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("amount > 0", name=op.f("ck_promises_to_pay_amount_positive")),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["workout_cases.id"],
            name=op.f("fk_promises_to_pay_case_id_workout_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_promises_to_pay_institution_id_institutions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["loan_id"],
            ["loans.id"],
            name=op.f("fk_promises_to_pay_loan_id_loans"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by"],
            ["users.id"],
            name=op.f("fk_promises_to_pay_recorded_by_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promises_to_pay")),
    )
    with op.batch_alter_table("promises_to_pay", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_promises_to_pay_case_id_made_on"), ["case_id", "made_on"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_promises_to_pay_institution_id_id"),
            ["institution_id", "id"],
            unique=False,
        )

    op.create_table(
        "workout_case_alerts",
        sa.Column("case_id", sa.Uuid(), nullable=False),
        sa.Column("alert_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["risk_alerts.id"],
            name=op.f("fk_workout_case_alerts_alert_id_risk_alerts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["workout_cases.id"],
            name=op.f("fk_workout_case_alerts_case_id_workout_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workout_case_alerts")),
        sa.UniqueConstraint("alert_id", name=op.f("uq_workout_case_alerts_alert_id")),
    )
    with op.batch_alter_table("workout_case_alerts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workout_case_alerts_case_id"), ["case_id"], unique=False
        )

    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("forborne", sa.Boolean(), server_default=sa.false(), nullable=False)
        )

    add_rules(NEW_RULES)


def downgrade() -> None:
    remove_rules(NEW_RULES)
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_column("forborne")

    with op.batch_alter_table("workout_case_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workout_case_alerts_case_id"))

    op.drop_table("workout_case_alerts")
    with op.batch_alter_table("promises_to_pay", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_promises_to_pay_institution_id_id"))
        batch_op.drop_index(batch_op.f("ix_promises_to_pay_case_id_made_on"))

    op.drop_table("promises_to_pay")
    with op.batch_alter_table("collection_contacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collection_contacts_institution_id_id"))
        batch_op.drop_index(batch_op.f("ix_collection_contacts_case_id_contacted_at"))

    op.drop_table("collection_contacts")
    with op.batch_alter_table("workout_cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workout_cases_state_due_on"))
        batch_op.drop_index(batch_op.f("ix_workout_cases_loan_id_state"))
        batch_op.drop_index(batch_op.f("ix_workout_cases_institution_id_id"))

    op.drop_table("workout_cases")
