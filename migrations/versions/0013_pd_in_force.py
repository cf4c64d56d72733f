"""the PD in force: on each enterprise (the newest champion assessment's) and on each
month-end snapshot (the borrower's at that month end); where each month end's loans were
at the next; the live book by borrower

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 07:10:00
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise

import sqlalchemy as sa
from alembic import op

import kernel.base

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here as ``domain.analytics.models.RollState`` has them.
ROLL_STATES = (
    "current",
    "dpd_1_30",
    "dpd_31_60",
    "dpd_61_90",
    "dpd_90_plus",
    "closed",
    "written_off",
)

ra = sa.table(
    "risk_assessments",
    sa.column("id"),
    sa.column("enterprise_id"),
    sa.column("probability_of_default"),
    sa.column("assessed_at", kernel.base.UTCDateTime()),
    sa.column("shadow", sa.Boolean()),
)


def _newest(
    enterprise_id: sa.ColumnElement[object],
    column: sa.ColumnClause[object],
    before: datetime | None = None,
) -> sa.ScalarSelect[object]:
    """As ``domain.risk.repository.pd_in_force`` probes it."""
    stmt = sa.select(column).where(ra.c.enterprise_id == enterprise_id, ra.c.shadow.is_(False))
    if before is not None:
        stmt = stmt.where(ra.c.assessed_at < before)
    return stmt.order_by(ra.c.assessed_at.desc(), ra.c.id.desc()).limit(1).scalar_subquery()


def upgrade() -> None:
    with op.batch_alter_table("enterprises", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pd_in_force", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("pd_assessed_at", kernel.base.UTCDateTime(), nullable=True))
    with op.batch_alter_table("loan_bucket_snapshots", schema=None) as batch_op:
        batch_op.add_column(sa.Column("probability_of_default", sa.Double(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "next_state",
                sa.Enum(
                    *ROLL_STATES,
                    name="rollstate",
                    native_enum=False,
                    create_constraint=True,
                    length=32,
                ),
                nullable=True,
            )
        )

    enterprises = sa.table(
        "enterprises",
        sa.column("id"),
        sa.column("pd_in_force"),
        sa.column("pd_assessed_at", kernel.base.UTCDateTime()),
    )
    op.execute(
        enterprises.update().values(
            pd_in_force=_newest(enterprises.c.id, ra.c.probability_of_default),
            pd_assessed_at=_newest(enterprises.c.id, ra.c.assessed_at),
        )
    )
    snapshots = sa.table(
        "loan_bucket_snapshots",
        sa.column("loan_id"),
        sa.column("month_end", sa.Date()),
        sa.column("probability_of_default"),
    )
    loans = sa.table("loans", sa.column("id"), sa.column("enterprise_id"))
    borrower = (
        sa.select(loans.c.enterprise_id)
        .where(loans.c.id == snapshots.c.loan_id)
        .correlate(snapshots)
    )
    bind = op.get_bind()
    months = bind.execute(sa.select(snapshots.c.month_end).distinct()).scalars().all()
    for month_end in months:
        # Made by the end of that day (UTC), as ``write_snapshots`` takes it.
        until = datetime.combine(month_end + timedelta(days=1), time.min, tzinfo=UTC)
        op.execute(
            snapshots.update()
            .where(snapshots.c.month_end == month_end)
            .values(
                probability_of_default=_newest(
                    borrower.scalar_subquery(), ra.c.probability_of_default, until
                )
            )
        )

    _link_months(bind, months)

    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.create_index(
            "ix_loans_active_by_borrower",
            ["enterprise_id"],
            unique=False,
            postgresql_include=["outstanding_principal", "institution_id", "product_id"],
            postgresql_where=sa.text("status = 'active'"),
            sqlite_where=sa.text("status = 'active'"),
        )


def _link_months(bind: sa.Connection, months: Sequence[date]) -> None:
    """Each month end's ``next_state``, from the next month end's rows, as
    ``domain.analytics.repository.link_months`` sets it."""
    s = sa.table(
        "loan_bucket_snapshots",
        sa.column("loan_id"),
        sa.column("month_end", sa.Date()),
        sa.column("delinquency_bucket", sa.String()),
        sa.column("next_state", sa.String()),
    )
    there = s.alias("there")
    loans = sa.table("loans", sa.column("id"), sa.column("status", sa.String()))
    ordered = sorted(months)
    for earlier, later in pairwise(ordered):
        # The month end after ``earlier``: the day before the first of the month after next.
        if later != ((earlier + timedelta(days=33)).replace(day=1) - timedelta(days=1)):
            continue
        bucket_then = (
            sa.select(there.c.delinquency_bucket)
            .where(there.c.loan_id == s.c.loan_id, there.c.month_end == later)
            .correlate(s)
            .scalar_subquery()
        )
        written_off = (
            sa.exists()
            .where(loans.c.id == s.c.loan_id, loans.c.status == "written_off")
            .correlate(s)
        )
        gone = sa.case((written_off, sa.literal("written_off")), else_=sa.literal("closed"))
        bind.execute(
            s.update()
            .where(s.c.month_end == earlier)
            .values(next_state=sa.func.coalesce(bucket_then, gone))
        )


def downgrade() -> None:
    with op.batch_alter_table("loans", schema=None) as batch_op:
        batch_op.drop_index("ix_loans_active_by_borrower")
    with op.batch_alter_table("loan_bucket_snapshots", schema=None) as batch_op:
        batch_op.drop_constraint("rollstate", type_="check")
        batch_op.drop_column("next_state")
        batch_op.drop_column("probability_of_default")
    with op.batch_alter_table("enterprises", schema=None) as batch_op:
        batch_op.drop_column("pd_assessed_at")
        batch_op.drop_column("pd_in_force")
