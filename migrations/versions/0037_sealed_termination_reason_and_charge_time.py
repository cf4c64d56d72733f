"""termination reasons sealed as personal data; legal costs keep the time they were charged

A loan termination's reason is free text about the borrower (why a contract was
cancelled or a loan called due), personal data like a collection note. The table gains
the enterprise whose data key seals it (copied from the application), and every
plaintext reason is sealed under that key as domain.contracts.termination seals a new
one, bound to its row; an empty reason (a settlement's) becomes NULL. A reason whose
enterprise has no data key left (erased) is removed: nothing is kept in the clear. The
policy lets the borrower and the institution's credit staff reveal it.

A workout case gains ``legal_costs_charged_at``: the reversal of a payment reads it to
tell whether legal costs were charged after the payment. Existing cases with costs take
it from the audit log, the latest ``workout_case.legal_action`` entry that charged any
(the migration's own time when the log holds none).

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-07 23:30:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

import kernel.base
from migrations.policy import add_rules, remove_rules

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here, as the earlier revisions' rules are; the same lines are in the default
# policy file.
NEW_RULES: list[tuple[str, ...]] = [
    ("p", "sme_owner", "*", "LoanTermination.reason", "reveal", "allow"),
    ("p", "loan_officer", "*", "LoanTermination.reason", "reveal", "allow"),
    ("p", "risk_officer", "*", "LoanTermination.reason", "reveal", "allow"),
]
SEALED_PREFIX = "v1."
TABLE = "loan_terminations"
COLUMN = "reason"

terminations = sa.table(
    TABLE,
    sa.column("id", sa.Uuid()),
    sa.column("application_id", sa.Uuid()),
    sa.column("enterprise_id", sa.Uuid()),
    sa.column("reason", sa.Text()),
)
applications = sa.table(
    "applications", sa.column("id", sa.Uuid()), sa.column("enterprise_id", sa.Uuid())
)
cases = sa.table(
    "workout_cases",
    sa.column("id", sa.Uuid()),
    sa.column("legal_costs", sa.Numeric()),
    sa.column("legal_costs_charged_at", kernel.base.UTCDateTime()),
)
audit = sa.table(
    "audit_log",
    sa.column("at", kernel.base.UTCDateTime()),
    sa.column("action", sa.String()),
    sa.column("entity_id", sa.String()),
    sa.column("detail", sa.JSON()),
)
data_keys = sa.table(
    "data_keys",
    sa.column("subject_id", sa.Uuid()),
    sa.column("kid", sa.String()),
    sa.column("wrapped", sa.String()),
)


def upgrade() -> None:
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.add_column(sa.Column("enterprise_id", sa.Uuid(), nullable=True))
        batch_op.alter_column("reason", existing_type=sa.Text(), nullable=True)
    bind = op.get_bind()
    bind.execute(
        sa.update(terminations).values(
            enterprise_id=sa.select(applications.c.enterprise_id)
            .where(applications.c.id == terminations.c.application_id)
            .scalar_subquery()
        )
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.alter_column("enterprise_id", existing_type=sa.Uuid(), nullable=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_loan_terminations_enterprise_id_enterprises"),
            "enterprises",
            ["enterprise_id"],
            ["id"],
            ondelete="CASCADE",
        )
    _rewrite(seal=True)

    with op.batch_alter_table("workout_cases", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("legal_costs_charged_at", kernel.base.UTCDateTime(), nullable=True)
        )
    _charge_times()
    add_rules(NEW_RULES)


def downgrade() -> None:
    remove_rules(NEW_RULES)
    with op.batch_alter_table("workout_cases", schema=None) as batch_op:
        batch_op.drop_column("legal_costs_charged_at")
    _rewrite(seal=False)
    op.execute(sa.update(terminations).where(terminations.c.reason.is_(None)).values(reason=""))
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_loan_terminations_enterprise_id_enterprises"), type_="foreignkey"
        )
        batch_op.drop_column("enterprise_id")
        batch_op.alter_column("reason", existing_type=sa.Text(), nullable=False)


def _rewrite(*, seal: bool) -> None:
    """Seal every plaintext reason (or, going down, open every sealed one), as revision
    0016 sealed the TOTP secrets: under the subject's data key, bound to the row."""
    from domain.settings import load_settings
    from privacy import vault

    bind = op.get_bind()
    if seal:  # an empty reason was "none given": NULL, like a new settlement's
        bind.execute(sa.update(terminations).where(terminations.c.reason == "").values(reason=None))
    rows = [
        r
        for r in bind.execute(
            sa.select(terminations.c.id, terminations.c.enterprise_id, terminations.c.reason).where(
                terminations.c.reason.is_not(None)
            )
        ).all()
        if r.reason.startswith(SEALED_PREFIX) is not seal
    ]
    if not rows:
        return
    keys = load_settings().keys()
    wrapped = {
        r.subject_id: r
        for r in bind.execute(
            sa.select(data_keys).where(data_keys.c.subject_id.in_({r.enterprise_id for r in rows}))
        ).all()
    }
    for row in rows:
        found = wrapped.get(row.enterprise_id)
        if found is None or found.kid is None:  # erased: nothing kept in the clear
            bind.execute(
                sa.update(terminations).where(terminations.c.id == row.id).values(reason=None)
            )
            continue
        key = vault.unwrap(keys, found.kid, found.wrapped, subject_id=row.enterprise_id)
        turn = vault.seal if seal else vault.unseal
        value = turn(key, row.reason, table=TABLE, column=COLUMN, row_id=row.id)
        bind.execute(
            sa.update(terminations).where(terminations.c.id == row.id).values(reason=value)
        )


def _charge_times() -> None:
    """Each case with legal costs: the time of the latest audit entry that charged some."""
    bind = op.get_bind()
    charged = [
        r.id for r in bind.execute(sa.select(cases.c.id).where(cases.c.legal_costs > 0)).all()
    ]
    if not charged:
        return
    latest: dict[str, object] = {}
    for entry in bind.execute(
        sa.select(audit.c.at, audit.c.entity_id, audit.c.detail)
        .where(
            audit.c.action == "workout_case.legal_action",
            audit.c.entity_id.in_([str(case) for case in charged]),
        )
        .order_by(audit.c.at)
    ).all():
        if Decimal(str((entry.detail or {}).get("costs", "0"))) > 0:
            latest[entry.entity_id] = entry.at
    now = datetime.now(UTC)
    for case in charged:
        # No entry left (a log purged early): the migration's time, so every payment
        # recorded before it stands; refusing a reversal is the mistake that can be mended.
        at = latest.get(str(case), now)
        bind.execute(sa.update(cases).where(cases.c.id == case).values(legal_costs_charged_at=at))
