"""Retention: crypto-shred an enterprise's personal data once its schedule says it is due.

Schedules are policy kept as data (``retention_schedules.csv`` beside this module):
each category of subject is kept a number of months after the event that starts its
clock. A subject falls in one category at most:

- ``rejected_applicant``: an enterprise that never borrowed and has a rejected or
  withdrawn application; the clock starts at its last decision.
- ``closed_borrower``: an enterprise with a closed loan; the clock starts at the last
  closing.

A due subject is kept while any legal hold stands: a loan still active, a written-off
loan (the debt is still owed and may be recovered), an application still in progress,
an open data-subject request, or a hold a privacy officer set with a reason.

The purge is ``domain.privacy.subjects.erase_subject``, the one erasure there is: the data key
is shredded and the sealed columns emptied; applications, loans, schedules, repayments
and the ledger (amounts and dates, no personal values) stay. Each run writes one
receipt (``retention_runs``, append-only) naming the schedule version, and each erasure
its own audit entry. ``plan`` is the dry run: ``run`` purges exactly what ``plan`` lists
as due, evaluated in the same transaction.

Given the seal key, a run also purges the audit and access logs' sealed batches past
their own schedule (``domain.audit.purge``, ``domain/audit/log_retention.csv``), keeping
the hash chains verifiable; a batch holding a row about an enterprise under a legal
hold is kept. consent_records and log_seals are kept; outbox messages, sessions and
job files are purged by their own jobs.
"""

from __future__ import annotations

import enum
import functools
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.applications.models import Application, ApplicationStatus
from domain.audit import purge as log_purge
from domain.audit.chain import SealKey
from domain.identity.viewer import Viewer
from domain.lending.models import Loan, LoanStatus
from domain.privacy import subjects
from domain.privacy.models import LegalHold, RetentionRun, SubjectRequest
from kernel import tables
from kernel.base import utcnow
from kernel.errors import Conflict, InvalidInput, NotFound
from kernel.tables import InvalidTable
from privacy.keys import KeyProvider
from privacy.models import DataKey

TABLE_PATH = Path(__file__).with_name("retention_schedules.csv")
MIN_REASON = subjects.MIN_REASON
OPEN_REQUEST = "open"
# Applications that ended without a loan start the rejected applicant's clock; a
# disbursed one is the loan's business; any other is still in progress (a hold).
REFUSED_APPLICATION = frozenset({ApplicationStatus.REJECTED, ApplicationStatus.WITHDRAWN})
ENDED_APPLICATION = REFUSED_APPLICATION | {ApplicationStatus.DISBURSED}


class Category(enum.Enum):
    REJECTED_APPLICANT = "rejected_applicant"
    CLOSED_BORROWER = "closed_borrower"


class Hold(enum.Enum):
    """Why a due subject is kept."""

    ACTIVE_LOAN = "active_loan"
    WRITTEN_OFF_LOAN = "written_off_loan"
    APPLICATION_IN_PROGRESS = "application_in_progress"
    OPEN_SUBJECT_REQUEST = "open_subject_request"
    LEGAL_HOLD = "legal_hold"


@dataclass(frozen=True, slots=True)
class Schedules:
    months: Mapping[Category, int]
    version: str  # the first 16 hex digits of the table's SHA-256


def parse(text: str) -> Schedules:
    """Every category with its months; a malformed or missing line is an error."""
    months: dict[Category, int] = {}
    for number, (name, value) in tables.rows(text, columns=("category", "months")):
        try:
            category = Category(name)
        except ValueError:
            raise InvalidTable(f"line {number}: unknown category {name!r}") from None
        if category in months:
            raise InvalidTable(f"line {number}: {category.value} declared twice")
        months[category] = tables.positive_months(number, value)
    missing = [c.value for c in Category if c not in months]
    if missing:
        raise InvalidTable(f"no schedule for {', '.join(missing)}")
    return Schedules(months=months, version=tables.version(text))


@functools.cache
def schedules() -> Schedules:
    return parse(TABLE_PATH.read_text(encoding="utf-8"))


def add_months(day: date, months: int) -> date:
    """``day`` moved ``months`` later, clamped to the month's last day (31 Aug + 6 = 28 Feb)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    for last in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable: every month has 28 days")


@dataclass(frozen=True, slots=True)
class Item:
    subject_id: uuid.UUID
    category: Category
    since: date  # when the clock started
    due_on: date
    holds: tuple[Hold, ...]


@dataclass(frozen=True, slots=True)
class Plan:
    schedule_version: str
    as_of: date
    due: tuple[Item, ...]  # purged by a run now
    held: tuple[Item, ...]  # due, but kept by a hold


@dataclass(frozen=True, slots=True)
class Receipt:
    id: uuid.UUID
    ran_at: datetime
    schedule_version: str
    purged: Mapping[Category, tuple[uuid.UUID, ...]]
    # Log rows purged per stream by this run, and each purge's receipt id.
    logs: Mapping[str, tuple[int, uuid.UUID]] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(len(ids) for ids in self.purged.values())


async def _live_subjects(session: AsyncSession) -> set[uuid.UUID]:
    """Enterprises whose data key is not yet shredded: the only ones a purge can change."""
    stmt = select(DataKey.subject_id).where(
        DataKey.subject_type == "enterprise", DataKey.shredded_at.is_(None)
    )
    return set((await session.scalars(stmt)).all())


async def plan(session: AsyncSession, *, now: datetime | None = None) -> Plan:
    """What a run would purge now, and what is due but held. Changes nothing.

    Six grouped queries, whatever the number of subjects; the result holds one entry
    per enterprise that has a finished application or a closed loan.
    """
    table = schedules()
    today = (now or utcnow()).date()
    live = await _live_subjects(session)

    loans: dict[uuid.UUID, dict[LoanStatus, int]] = defaultdict(dict)
    closed_since: dict[uuid.UUID, date] = {}
    loan_rows = await session.execute(
        select(Loan.enterprise_id, Loan.status, func.count(), func.max(Loan.closed_on)).group_by(
            Loan.enterprise_id, Loan.status
        )
    )
    for enterprise_id, status, n, last_closed in loan_rows.all():
        loans[enterprise_id][status] = int(n)
        if status is LoanStatus.CLOSED and last_closed is not None:
            closed_since[enterprise_id] = last_closed

    in_progress: set[uuid.UUID] = set()
    decided_since: dict[uuid.UUID, date] = {}
    application_rows = await session.execute(
        select(
            Application.enterprise_id,
            Application.status,
            func.max(func.coalesce(Application.decided_at, Application.updated_at)),
        ).group_by(Application.enterprise_id, Application.status)
    )
    for enterprise_id, application_status, last in application_rows.all():
        if application_status in REFUSED_APPLICATION:
            day = last.date()
            decided_since[enterprise_id] = max(day, decided_since.get(enterprise_id, day))
        elif application_status not in ENDED_APPLICATION:
            in_progress.add(enterprise_id)

    open_requests = set(
        (
            await session.scalars(
                select(SubjectRequest.subject_id).where(
                    SubjectRequest.subject_type == "enterprise",
                    SubjectRequest.status == OPEN_REQUEST,
                )
            )
        ).all()
    )
    officer_holds = set(
        (
            await session.scalars(
                select(LegalHold.subject_id).where(LegalHold.released_at.is_(None))
            )
        ).all()
    )

    due: list[Item] = []
    held: list[Item] = []
    for subject_id in sorted(live):
        if subject_id in closed_since:
            category, since = Category.CLOSED_BORROWER, closed_since[subject_id]
        elif subject_id in decided_since and not loans.get(subject_id):
            category, since = Category.REJECTED_APPLICANT, decided_since[subject_id]
        else:
            continue
        due_on = add_months(since, table.months[category])
        if due_on > today:
            continue
        holds = tuple(
            hold
            for hold, applies in (
                (Hold.ACTIVE_LOAN, loans[subject_id].get(LoanStatus.ACTIVE, 0) > 0),
                (Hold.WRITTEN_OFF_LOAN, loans[subject_id].get(LoanStatus.WRITTEN_OFF, 0) > 0),
                (Hold.APPLICATION_IN_PROGRESS, subject_id in in_progress),
                (Hold.OPEN_SUBJECT_REQUEST, subject_id in open_requests),
                (Hold.LEGAL_HOLD, subject_id in officer_holds),
            )
            if applies
        )
        (held if holds else due).append(Item(subject_id, category, since, due_on, holds))
    return Plan(schedule_version=table.version, as_of=today, due=tuple(due), held=tuple(held))


async def run(
    session: AsyncSession,
    keys: KeyProvider,
    *,
    viewer: Viewer,
    now: datetime | None = None,
    request_id: str | None = None,
    seal_key: SealKey | None = None,
) -> Receipt:
    """Purge what ``plan`` lists as due, in the caller's transaction, and write the receipt.

    A receipt is written even when nothing was due: it proves the run happened. With
    ``seal_key``, the logs' batches past their schedule go too (``domain.audit.purge``).
    """
    at = now or utcnow()
    current = await plan(session, now=at)
    purged: dict[Category, list[uuid.UUID]] = {category: [] for category in Category}
    for item in current.due:
        await subjects.erase_subject(
            session,
            keys,
            viewer=viewer,
            subject_id=item.subject_id,
            reason=f"retention: {item.category.value} due on {item.due_on.isoformat()} "
            f"(schedule {current.schedule_version})",
            now=at,
            request_id=request_id,
        )
        purged[item.category].append(item.subject_id)
    receipt = RetentionRun(
        ran_at=at,
        actor_id=viewer.user_id or viewer.service_account_id,
        schedule_version=current.schedule_version,
        purged={category.value: [str(i) for i in ids] for category, ids in purged.items()},
        total=len(current.due),
    )
    session.add(receipt)
    await session.flush()
    logs: dict[str, tuple[int, uuid.UUID]] = {}
    if seal_key is not None:
        held = (
            await session.scalars(
                select(LegalHold.subject_id).where(LegalHold.released_at.is_(None))
            )
        ).all()
        done = await log_purge.purge_logs(
            session,
            seal_key,
            held=held,
            actor_id=viewer.user_id or viewer.service_account_id,
            now=at,
        )
        logs = {stream: (p.rows, p.id) for stream, p in done.items()}
    return Receipt(
        id=receipt.id,
        ran_at=at,
        schedule_version=current.schedule_version,
        purged={category: tuple(ids) for category, ids in purged.items()},
        logs=logs,
    )


def receipt_of(row: RetentionRun) -> Receipt:
    return Receipt(
        id=row.id,
        ran_at=row.ran_at,
        schedule_version=row.schedule_version,
        purged={
            Category(name): tuple(uuid.UUID(i) for i in ids) for name, ids in row.purged.items()
        },
    )


async def runs(session: AsyncSession, *, limit: int) -> Sequence[Receipt]:
    """The latest receipts, newest first."""
    stmt = select(RetentionRun).order_by(RetentionRun.ran_at.desc(), RetentionRun.id.desc())
    return [receipt_of(row) for row in (await session.scalars(stmt.limit(limit))).all()]


# -------------------------------------------------------------------- legal holds


async def set_hold(
    session: AsyncSession,
    *,
    viewer: Viewer,
    subject_id: uuid.UUID,
    reason: str,
    now: datetime | None = None,
) -> LegalHold:
    reason = reason.strip()
    if len(reason) < MIN_REASON:
        raise InvalidInput(f"reason: give at least {MIN_REASON} characters", field="reason")
    if await session.get(DataKey, subject_id) is None:
        raise NotFound(f"no enterprise with id {subject_id}")
    hold = LegalHold(
        subject_id=subject_id, reason=reason, set_by=viewer.user_id, set_at=now or utcnow()
    )
    session.add(hold)
    await session.flush()
    return hold


async def release_hold(
    session: AsyncSession, *, viewer: Viewer, hold_id: uuid.UUID, now: datetime | None = None
) -> LegalHold:
    hold = await session.get(LegalHold, hold_id, with_for_update=True)
    if hold is None:
        raise NotFound(f"no legal hold with id {hold_id}")
    if hold.released_at is not None:
        raise Conflict("the legal hold is already released")
    hold.released_at = now or utcnow()
    hold.released_by = viewer.user_id
    await session.flush()
    return hold
