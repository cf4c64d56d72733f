"""Every SQL statement of the analytics context: aggregations, row-scoped in SQL.

Each figure group is one or two grouped statements whatever the size of the book; what
comes back is a handful of rows (a bucket, a month, a cohort), never the loans. What
differs between the databases is written once here: the seconds between two timestamps,
and percentiles (PostgreSQL's ``percentile_cont``; elsewhere
the ranks either side of each percentile, found with ROW_NUMBER and COUNT windows over
the sorted values and interpolated as ``percentile_cont`` does).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any, TypeVarTuple

from sqlalchemy import (
    Date,
    Float,
    Integer,
    Select,
    String,
    Subquery,
    and_,
    case,
    cast,
    delete,
    exists,
    false,
    func,
    literal,
    null,
    or_,
    select,
    text,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from domain.analytics.models import LoanBucketSnapshot, RollState
from domain.applications.models import Application, ApplicationStatus
from domain.applications.states import reached
from domain.enterprises.models import Enterprise
from domain.lending.models import DelinquencyBucket, Loan, LoanStatus
from domain.lending.schedule import add_months
from domain.products.models import Product, ProductType
from domain.risk.repository import pd_in_force
from kernel.base import cents, from_cents, yuan

Snapshot = LoanBucketSnapshot
S = ApplicationStatus
DEFAULTED = DelinquencyBucket.DPD_90_PLUS
Ts = TypeVarTuple("Ts")

# --------------------------------------------------------------- portable expressions


class seconds_between(FunctionElement[float]):
    """``later - earlier`` in seconds, for two UTC timestamp columns."""

    type = Float()
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between)
def _seconds_between(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    # date_part is double precision; EXTRACT is numeric since PostgreSQL 14, which costs
    # half again as much to sort and average.
    return f"date_part('epoch', {later} - {earlier})"


@compiles(seconds_between, "sqlite")
def _seconds_between_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


def month_number(day: date) -> int:
    """Months since the year 0: consecutive months differ by one."""
    return day.year * 12 + day.month - 1


# ---------------------------------------------------------------------------- slices


@dataclass(frozen=True, slots=True)
class Slice:
    """Which rows count: the viewer's institutions (None: every one) and the filter's
    dimensions. A filter narrows the viewer's rows and never widens them."""

    institutions: frozenset[uuid.UUID] | None = None
    institution_id: uuid.UUID | None = None
    product_type: ProductType | None = None
    industry: str | None = None
    region: str | None = None

    @property
    def needs_loan(self) -> bool:
        """Whether a snapshot must be joined to its loan to be filtered."""
        return (self.product_type, self.industry, self.region) != (None, None, None)

    def narrow(
        self, stmt: Select[*Ts], *, institution: Any, product: Any, enterprise: Any
    ) -> Select[*Ts]:
        if self.institutions is not None:
            stmt = stmt.where(institution.in_(self.institutions) if self.institutions else false())
        if self.institution_id is not None:
            stmt = stmt.where(institution == self.institution_id)
        if self.product_type is not None:
            products = select(Product.id).where(Product.type == self.product_type)
            stmt = stmt.where(product.in_(products.correlate(None)))
        if self.industry is not None or self.region is not None:
            firms = select(Enterprise.id)
            if self.industry is not None:
                firms = firms.where(Enterprise.industry == self.industry)
            if self.region is not None:
                firms = firms.where(Enterprise.region == self.region)
            stmt = stmt.where(enterprise.in_(firms.correlate(None)))
        return stmt


def _applications(slc: Slice, stmt: Select[*Ts], since: datetime, until: datetime) -> Select[*Ts]:
    a = Application
    stmt = stmt.where(a.submitted_at >= since, a.submitted_at < until)
    return slc.narrow(
        stmt, institution=a.institution_id, product=a.product_id, enterprise=a.enterprise_id
    )


def _loans(slc: Slice, stmt: Select[*Ts]) -> Select[*Ts]:
    return slc.narrow(
        stmt,
        institution=Loan.institution_id,
        product=Loan.product_id,
        enterprise=Loan.enterprise_id,
    )


def book(slc: Slice, at: date | None, *, with_enterprise: bool = False) -> Subquery:
    """The loans on the book: (loan_id, enterprise_id?, bucket, outstanding, pd?).

    ``at`` None: the loans table as the ageing job last left it (active loans only);
    a month end: that month's snapshot, with the borrower's PD then in force (``pd``).
    """
    if at is None:
        columns: list[Any] = [
            Loan.id.label("loan_id"),
            Loan.delinquency_bucket.label("bucket"),
            Loan.outstanding_principal.label("outstanding"),
        ]
        if with_enterprise:
            columns.append(Loan.enterprise_id.label("enterprise_id"))
        return _loans(slc, select(*columns).where(Loan.status == LoanStatus.ACTIVE)).subquery()
    columns = [
        Snapshot.loan_id.label("loan_id"),
        Snapshot.delinquency_bucket.label("bucket"),
        Snapshot.outstanding_principal.label("outstanding"),
        Snapshot.probability_of_default.label("pd"),
    ]
    if with_enterprise:
        columns.append(Loan.enterprise_id.label("enterprise_id"))
    stmt = select(*columns).where(Snapshot.month_end == at)
    if with_enterprise or slc.needs_loan:
        stmt = stmt.join(Loan, Loan.id == Snapshot.loan_id)
    return slc.narrow(
        stmt,
        institution=Snapshot.institution_id,
        product=Loan.product_id,
        enterprise=Loan.enterprise_id,
    ).subquery()


# ---------------------------------------------------------------------- applications


@dataclass(frozen=True, slots=True)
class FunnelCounts:
    submitted: int
    reviewed: int
    info_requested: int
    approved: int
    decided: int
    appealed: int
    contract_signed: int
    disbursed: int
    withdrawn: int
    pending: int


SORT_MEMORY = "64MB"
PENDING = (S.SUBMITTED, S.UNDER_REVIEW, S.MORE_INFO_REQUESTED, S.APPEALED)
# FunnelCounts' fields after ``submitted`` and before ``pending``: the moves that count.
FUNNEL_STAGES: tuple[tuple[ApplicationStatus, ...], ...] = (
    (S.UNDER_REVIEW,),
    (S.MORE_INFO_REQUESTED,),
    (S.APPROVED,),
    (S.APPROVED, S.REJECTED),
    (S.APPEALED,),
    (S.CONTRACT_SIGNED,),
    (S.DISBURSED,),
    (S.WITHDRAWN,),
)


@dataclass(frozen=True, slots=True)
class Durations:
    count: int
    mean: float | None
    percentiles: dict[float, float]  # quantile -> value; empty when count is 0


async def applications(
    session: AsyncSession,
    slc: Slice,
    *,
    since: datetime,
    until: datetime,
    quantiles: Sequence[float],
) -> tuple[FunnelCounts, Durations]:
    """Applications submitted in [since, until): the stages their time lines reached, and
    the seconds from submission to the first credit decision (approval or rejection) of
    those that have one.

    One pass over the applications alone: each keeps the statuses its time line reached
    (``Application.reached``, a bit per status) and its first decision, so no transition
    is read. The flags are summed and the durations' percentiles taken in one statement
    on PostgreSQL; elsewhere the percentiles are a second (``_portable_percentiles``).
    """
    a = Application
    flags = [
        func.count().filter(a.reached.bitwise_and(reached(statuses)) != 0)
        for statuses in FUNNEL_STAGES
    ]
    seconds = seconds_between(a.first_decided_at, a.submitted_at)
    totals: list[ColumnElement[Any]] = [
        func.count(),
        *flags,
        func.count().filter(a.status.in_(PENDING)),
        func.count(a.first_decided_at),
        func.avg(seconds),
    ]
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        # percentile_cont skips the NULLs of the applications not decided yet. Its sort
        # holds 8 bytes and a header per decided application (about 20 MB a million):
        # in memory, not in temporary files as the default 4 MB would have it; for this
        # transaction only.
        totals += [func.percentile_cont(q).within_group(seconds) for q in quantiles]
        await session.execute(text(f"SET LOCAL work_mem = '{SORT_MEMORY}'"))
    row = (await session.execute(_applications(slc, select(*totals), since, until))).one()
    counts = FunnelCounts(*(int(n or 0) for n in row[: len(FUNNEL_STAGES) + 2]))
    decided, mean, *values = row[len(FUNNEL_STAGES) + 2 :]
    if not decided:
        return counts, Durations(0, None, {})
    if postgres:
        found = {q: float(v) for q, v in zip(quantiles, values, strict=True)}
    else:
        durations = select(seconds.label("value")).where(a.first_decided_at.is_not(None))
        found = await _portable_percentiles(
            session, _applications(slc, durations, since, until), quantiles
        )
    return counts, Durations(int(decided), float(mean), found)


async def _portable_percentiles(
    session: AsyncSession, values: Select[Any], quantiles: Sequence[float]
) -> dict[float, float]:
    """Percentiles where the database has no percentile_cont: only the rows at the ranks
    either side of each percentile come back, interpolated as percentile_cont does."""
    sub = values.subquery()
    ranked = select(
        sub.c.value,
        func.row_number().over(order_by=sub.c.value).label("rn"),
        func.count().over().label("n"),
    ).subquery()
    wanted = []
    for q in quantiles:
        lower = cast((ranked.c.n - 1) * q, Integer) + 1
        wanted += [ranked.c.rn == lower, ranked.c.rn == lower + 1]
    stmt = select(ranked.c.rn, ranked.c.n, ranked.c.value).where(or_(*wanted))
    rows = (await session.execute(stmt)).all()
    if not rows:
        return {}
    by_rank = {int(rn): float(value) for rn, _n, value in rows}
    n = int(rows[0].n)
    found = {}
    for q in quantiles:
        position = (n - 1) * q
        below = math.floor(position)
        low = by_rank[below + 1]
        high = by_rank.get(below + 2, low)
        found[q] = low + (high - low) * (position - below)
    return found


# ---------------------------------------------------------------------------- loans


async def disbursed_by_day(
    session: AsyncSession, slc: Slice, *, start: date, end: date
) -> list[tuple[date, int, Decimal]]:
    """(day, loans, principal) paid out from ``start`` to ``end`` (both included), by day:
    the volume's totals and the vintage cohorts' sizes both add these up."""
    stmt = _loans(
        slc,
        select(Loan.disbursed_on, func.count(), func.sum(Loan.principal))
        .where(Loan.disbursed_on >= start, Loan.disbursed_on <= end)
        .group_by(Loan.disbursed_on),
    )
    return [(day, int(n), total) for day, n, total in (await session.execute(stmt)).all()]


async def book_by_bucket(
    session: AsyncSession, slc: Slice, *, at: date | None
) -> list[tuple[DelinquencyBucket, int, Decimal]]:
    """(bucket, loans, outstanding principal) of the book at ``at`` (None: now)."""
    b = book(slc, at)
    stmt = select(b.c.bucket, func.count(), func.sum(b.c.outstanding)).group_by(b.c.bucket)
    return [(bucket, int(n), total) for bucket, n, total in (await session.execute(stmt)).all()]


async def latest_snapshot(session: AsyncSession, *, until: date) -> date | None:
    """The newest month end kept, on or before ``until`` (an index's last entry)."""
    found: date | None = await session.scalar(
        select(func.max(Snapshot.month_end)).where(Snapshot.month_end <= until)
    )
    return found


def month_ends(after: date, until: date) -> list[date]:
    """Every month end from ``after`` to ``until`` (both month ends, both included)."""
    found = [after]
    while found[-1] < until:
        found.append(next_month_end_of(found[-1]))
    return found


async def roll_counts(
    session: AsyncSession, slc: Slice, *, after: date, until: date
) -> list[tuple[DelinquencyBucket, str, int, Decimal]]:
    """Month-on-month moves of the snapshots: (bucket at a month end, where the loan was at
    the next one, loans, outstanding at the first), pooled over the months whose later
    month end falls in (after, until]. Where a loan was: its bucket, or ``closed`` /
    ``written_off`` once off the book. Months whose snapshot is not taken yet are left out.

    Each month end's rows carry where their loans were at the next (``next_state``), so
    this is one grouped pass over the earlier month ends, named one by one.
    """
    latest = await latest_snapshot(session, until=until)
    if latest is None or latest <= after:
        return []
    ends = month_ends(after, latest)
    stmt = (
        select(
            Snapshot.delinquency_bucket,
            Snapshot.next_state,
            func.count(),
            func.sum(Snapshot.outstanding_principal),
        )
        .where(Snapshot.month_end.in_(ends[:-1]), Snapshot.next_state.is_not(None))
        .group_by(Snapshot.delinquency_bucket, Snapshot.next_state)
    )
    if slc.needs_loan:
        stmt = stmt.join(Loan, Loan.id == Snapshot.loan_id)
    stmt = slc.narrow(
        stmt,
        institution=Snapshot.institution_id,
        product=Loan.product_id,
        enterprise=Loan.enterprise_id,
    )
    rows = (await session.execute(stmt)).all()
    return [(bucket, state.value, int(n), total) for bucket, state, n, total in rows if state]


async def vintage_defaults(
    session: AsyncSession,
    slc: Slice,
    *,
    start: date,
    end: date,
    observed_until: date,
    live_month: int | None,
) -> list[tuple[int, int, int]]:
    """(disbursement month, months on book at default, loans) of the loans disbursed from
    ``start`` to ``end`` that defaulted; months as ``month_number``.

    A loan defaults at its first month-end snapshot over 90 days past due, or at the month
    it was written off if that comes first, up to ``observed_until``. ``live_month``: also
    count a loan over 90 days past due in the loans table now as defaulting in that month.
    Only the loans that defaulted come out of the join, grouped by the days as they are
    (no date arithmetic per loan); their months, and which comes first, are settled here.
    """
    first_default = (
        select(Snapshot.loan_id, func.min(Snapshot.month_end).label("month_end"))
        .where(Snapshot.delinquency_bucket == DEFAULTED, Snapshot.month_end <= observed_until)
        .group_by(Snapshot.loan_id)
        .subquery()
    )
    live_default = and_(Loan.status == LoanStatus.ACTIVE, Loan.delinquency_bucket == DEFAULTED)
    written_off = case((Loan.written_off_on <= observed_until, Loan.written_off_on))
    live = case((live_default, 1), else_=0)
    defaulted = or_(
        first_default.c.loan_id.is_not(None),
        Loan.written_off_on <= observed_until,
        live_default if live_month is not None else false(),
    )
    keys = (Loan.disbursed_on, first_default.c.month_end, written_off, live)
    stmt = _loans(
        slc,
        select(*keys, func.count())
        .select_from(Loan)
        .outerjoin(first_default, first_default.c.loan_id == Loan.id)
        .where(Loan.disbursed_on >= start, Loan.disbursed_on <= end, defaulted)
        .group_by(*keys),
    )
    found = []
    for day, by_snapshot, by_write_off, now, n in (await session.execute(stmt)).all():
        first = month_number(day)
        months = [month_number(d) - first for d in (by_snapshot, by_write_off) if d is not None]
        if not months and now and live_month is not None:
            months = [live_month - first]
        if months:
            found.append((first, min(months), int(n)))
    return found


# ------------------------------------------------- concentration and expected loss


@dataclass(frozen=True, slots=True)
class Cell:
    """The borrowers of one industry and region."""

    industry: str
    region: str
    borrowers: int
    loans: int
    outstanding: Decimal
    squares: float  # sum of the borrowers' squared outstanding, in yuan squared
    rated_outstanding: Decimal  # of borrowers with a PD in force
    pd_weighted: float  # sum of PD x outstanding (yuan) over them


@dataclass(frozen=True, slots=True)
class Borrowers:
    cells: list[Cell]  # an industry and region may come more than once: add them up
    top: list[tuple[uuid.UUID, str, Decimal]]  # (enterprise, name, outstanding), largest first

    @classmethod
    def merge(cls, parts: Iterable[Borrowers], *, top: int) -> Borrowers:
        """The borrowers of disjoint sets of borrowers, together."""
        found = cls(cells=[], top=[])
        for part in parts:
            found.cells.extend(part.cells)
            found.top.extend(part.top)
        found.top.sort(key=lambda t: (-t[2], t[0]))
        del found.top[top:]
        return found


# Borrowers' ids from ``low`` (included) to ``high`` (excluded); None: unbounded.
IdRange = tuple[uuid.UUID | None, uuid.UUID | None]
ALL_IDS: IdRange = (None, None)


def _within(column: Any, ids: IdRange) -> list[ColumnElement[bool]]:
    low, high = ids
    return [
        *([column >= low] if low is not None else []),
        *([column < high] if high is not None else []),
    ]


async def borrower_bounds(session: AsyncSession, *, parts: int) -> list[uuid.UUID]:
    """Up to ``parts - 1`` borrower ids that cut the loans into about equal runs, from
    PostgreSQL's statistics of ``loans.enterprise_id`` (a catalogue read, no scan); none
    where there are no such statistics (SQLite, a table never analysed). Any cut is
    right, an even one is only faster."""
    if parts < 2 or session.get_bind().dialect.name != "postgresql":
        return []
    histogram = await session.scalar(
        text(
            "SELECT histogram_bounds::text::uuid[] FROM pg_stats WHERE schemaname = "
            "current_schema() AND tablename = 'loans' AND attname = 'enterprise_id'"
        )
    )
    if not histogram or len(histogram) < parts + 1:
        return []
    step = (len(histogram) - 1) / parts
    return sorted({histogram[round(step * i)] for i in range(1, parts)})


async def borrowers(
    session: AsyncSession, slc: Slice, *, at: date | None, top: int, ids: IdRange = ALL_IDS
) -> Borrowers:
    """The book at ``at`` summed per borrower, once, and read two ways in one statement:
    per industry and region (counts, sums, squares for the Herfindahl index, and the
    PD-weighted outstanding for the expected loss), and the ``top`` largest borrowers.

    The PD is the borrower's in force at ``at``: kept on the enterprise for the live
    book, on the month-end snapshot for a past one, so nothing is looked up per borrower.
    ``ids``: only the borrowers in that range (a borrower's loans are all in or all out,
    so the parts of a partition ``merge`` into the whole).
    """
    b = book(slc, at, with_enterprise=True)
    # Each borrower's sum in whole cents, an integer: what is read twice (the cells, the
    # largest) and summed again is then narrow, and cheap to add, square and sort.
    columns: list[Any] = [
        b.c.enterprise_id,
        func.count().label("n"),
        cents(func.sum(b.c.outstanding)).label("x"),
    ]
    if at is not None:
        columns.append(func.max(b.c.pd).label("pd"))
    per = (
        select(*columns)
        .where(*_within(b.c.enterprise_id, ids))
        .group_by(b.c.enterprise_id)
        .cte("per_borrower")
    )
    pd = per.c.pd if at is not None else Enterprise.pd_in_force
    x = cast(per.c.x, Float)
    cells = (
        select(
            literal(0).label("part"),
            Enterprise.industry.label("label"),
            Enterprise.region.label("region"),
            cast(null(), per.c.enterprise_id.type).label("enterprise_id"),
            func.count().label("borrowers"),
            func.sum(per.c.n).label("loans"),
            func.sum(per.c.x).label("outstanding"),
            func.sum(x * x).label("squares"),
            func.sum(case((pd.is_not(None), per.c.x))).label("rated"),
            func.sum(pd * x).label("weighted"),
        )
        .select_from(per)
        .join(Enterprise, Enterprise.id == per.c.enterprise_id)
        .where(*_within(Enterprise.id, ids))
        .group_by(Enterprise.industry, Enterprise.region)
    )
    largest = (
        select(per.c.enterprise_id, per.c.x)
        .order_by(per.c.x.desc(), per.c.enterprise_id)
        .limit(top)
        .subquery()
    )
    none = null()
    leaders = (
        select(
            literal(1),
            Enterprise.name,
            none,
            largest.c.enterprise_id,
            none,
            none,
            largest.c.x,
            none,
            none,
            none,
        )
        .select_from(largest)
        .join(Enterprise, Enterprise.id == largest.c.enterprise_id)
    )
    found = Borrowers(cells=[], top=[])
    for row in (await session.execute(cells.union_all(leaders))).all():
        if row.part == 1:
            found.top.append((row.enterprise_id, row.label, from_cents(row.outstanding)))
            continue
        found.cells.append(
            Cell(
                industry=row.label,
                region=row.region,
                borrowers=int(row.borrowers),
                loans=int(row.loans),
                outstanding=from_cents(row.outstanding),
                squares=float(row.squares or 0.0) / 10_000,
                rated_outstanding=from_cents(row.rated),
                pd_weighted=float(row.weighted or 0.0) / 100,
            )
        )
    found.top.sort(key=lambda t: (-t[2], t[0]))
    return found


@dataclass(frozen=True, slots=True)
class Exposure:
    loans: int
    outstanding: Decimal
    rated_outstanding: Decimal  # of borrowers with a PD in force
    pd_weighted: float  # sum of PD x outstanding (yuan) over the rated loans


async def exposure_at(session: AsyncSession, slc: Slice, *, at: date) -> Exposure:
    """The book at a past month end with each borrower's PD then in force: one pass over
    that month's snapshot, which carries the PD."""
    b = book(slc, at)
    stmt = select(
        func.count(),
        func.sum(b.c.outstanding),
        func.sum(case((b.c.pd.is_not(None), b.c.outstanding))),
        func.sum(b.c.pd * yuan(b.c.outstanding)),
    )
    loans, outstanding, rated, weighted = (await session.execute(stmt)).one()
    zero = Decimal("0.00")
    return Exposure(int(loans or 0), outstanding or zero, rated or zero, float(weighted or 0.0))


# ------------------------------------------------------------------------ snapshots


async def write_snapshots(
    session: AsyncSession, *, month_end: date, institution_id: uuid.UUID | None = None
) -> int:
    """One row per active loan at ``month_end``, as the loans table holds it now, with its
    borrower's PD in force at the end of that day (set-wise; a rerun replaces the month's
    rows, and drops those of loans no longer active)."""
    columns = [
        "loan_id",
        "month_end",
        "institution_id",
        "delinquency_bucket",
        "days_past_due",
        "outstanding_principal",
        "probability_of_default",
    ]
    source = select(
        Loan.id,
        literal(month_end, Date),
        Loan.institution_id,
        Loan.delinquency_bucket,
        Loan.days_past_due,
        Loan.outstanding_principal,
        pd_in_force(Loan.enterprise_id, end_of_day(month_end)),
    ).where(Loan.status == LoanStatus.ACTIVE)
    if institution_id is not None:
        source = source.where(Loan.institution_id == institution_id)
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(Snapshot).from_select(columns, source)
    stmt = stmt.on_conflict_do_update(
        index_elements=["loan_id", "month_end"],
        set_={name: stmt.excluded[name] for name in columns[2:]},
    )
    written = await session.execute(stmt)
    gone = delete(Snapshot).where(
        Snapshot.month_end == month_end,
        Snapshot.loan_id.in_(select(Loan.id).where(Loan.status != LoanStatus.ACTIVE)),
    )
    if institution_id is not None:
        gone = gone.where(Snapshot.institution_id == institution_id)
    await session.execute(gone)
    # The month before now knows where its loans went; a rerun of an older month is told
    # where its loans went by the month after, if that is taken already.
    await link_months(session, earlier=previous_month_end(month_end), later=month_end)
    following = next_month_end_of(month_end)
    if await session.scalar(select(exists().where(Snapshot.month_end == following))):
        await link_months(session, earlier=month_end, later=following)
    return int(getattr(written, "rowcount", 0) or 0)


async def link_months(session: AsyncSession, *, earlier: date, later: date) -> None:
    """Set where each loan kept at ``earlier`` was at ``later``, the next month end: its
    bucket there, or off the book (written off, or else repaid)."""
    there = aliased(Snapshot)
    bucket_then = (
        select(type_coerce(there.delinquency_bucket, String))
        .where(there.loan_id == Snapshot.loan_id, there.month_end == later)
        .correlate(Snapshot)
        .scalar_subquery()
    )
    written_off = (
        exists()
        .where(Loan.id == Snapshot.loan_id, Loan.status == LoanStatus.WRITTEN_OFF)
        .correlate(Snapshot)
    )
    gone = case(
        (written_off, literal(RollState.WRITTEN_OFF.value)), else_=literal(RollState.CLOSED.value)
    )
    await session.execute(
        update(Snapshot)
        .where(Snapshot.month_end == earlier)
        .values(next_state=func.coalesce(bucket_then, gone))
        .execution_options(synchronize_session=False)
    )


def previous_month_end(month_end: date) -> date:
    return month_end.replace(day=1) - timedelta(days=1)


def next_month_end_of(month_end: date) -> date:
    return add_months(month_end + timedelta(days=1), 1) - timedelta(days=1)


async def complete_snapshots(session: AsyncSession) -> int:
    """For snapshots written in bulk without passing through ``write_snapshots`` (the
    seed, the benchmark's book): each one's PD in force, from the assessments, and where
    each month end's loans were at the next. Set-wise, a month at a time, so each
    borrower's PD probe is bounded by a constant. Returns the month ends completed."""
    months = sorted((await session.scalars(select(Snapshot.month_end).distinct())).all())
    borrower = (
        select(Loan.enterprise_id)
        .where(Loan.id == Snapshot.loan_id)
        .correlate(Snapshot)
        .scalar_subquery()
    )
    for month_end in months:
        await session.execute(
            update(Snapshot)
            .where(Snapshot.month_end == month_end)
            .values(probability_of_default=pd_in_force(borrower, end_of_day(month_end)))
            .execution_options(synchronize_session=False)
        )
    for earlier, later in pairwise(months):
        if later == next_month_end_of(earlier):
            await link_months(session, earlier=earlier, later=later)
    return len(months)


def end_of_day(day: date) -> datetime:
    """The first instant after ``day`` (UTC)."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)
