"""The figures a credit committee reads, for the portfolio a viewer may see.

Each figure group is a function of ``(session, viewer, flt)`` returning a frozen
dataclass, so the GraphQL API and the HTML report read the same numbers;
``portfolio_summary`` reads them all. Every group is one or two grouped SQL statements
whatever the size of the book (``domain.analytics.repository``).

Who sees what. Platform roles that look across institutions see every institution;
an institution's risk officers and admins see that institution's loans and
applications; everyone else (loan officers, partner systems, owners, the anonymous) is
refused. A filter on an institution narrows what a viewer sees and never widens it.

The period (``PortfolioFilter.start`` .. ``end``, both included, UTC days; by default
the twelve months to today):

- flows count what happened in the period: applications *submitted* in it (funnel,
  approval rate, time to decision), loans *disbursed* in it (volume; vintage cohorts);
- stocks are taken *as of the period's end* (outstanding balance, delinquency, NPL
  ratio, concentration, expected loss): from the loans table when the period runs to
  today or later, otherwise from the month-end snapshot on or before its end (the only
  history kept); ``Period.book_date`` says which;
- roll rates are month-on-month moves between month-end snapshots, the latest
  ``months`` of them whose later month end falls in the period;
- the expected loss's change compares the end with the snapshot at the month end
  before the period starts, each with the PDs in force at its date.

Default (vintages, NPL): more than 90 days past due (the ``dpd_90_plus`` bucket, the
Basel "90 days past due" backstop) or written off. A cohort is the loans disbursed in
one calendar quarter; months on book are counted from each loan's own disbursement
month, and a loan defaults at its first month-end snapshot in ``dpd_90_plus`` or the
month it was written off, whichever comes first (now, too: a loan over 90 days in the
live book defaults in the current month).

Expected loss = sum over the loans on the book of PD x outstanding principal x LGD.
PD is the borrower's newest champion (non-shadow) assessment made by the date (kept on
the enterprise as assessments come in, and on each month-end snapshot as it is taken);
loans of borrowers never assessed are reported as unrated exposure and left out. LGD
is an assumption, one figure for the whole book: 45% by default, the Basel foundation
IRB supervisory LGD for senior unsecured claims without recognised collateral (CRE32.6).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.analytics import repository as repo
from domain.analytics.models import RollState
from domain.identity.models import Role
from domain.identity.repository import institutions_by_ids
from domain.identity.viewer import Viewer
from domain.lending.models import DelinquencyBucket, Loan
from domain.lending.schedule import add_months
from domain.products.models import ProductType
from domain.provisioning import service as provisioning
from kernel.base import utcnow
from kernel.errors import Forbidden, InvalidInput

if TYPE_CHECKING:
    from domain.feedback.figures import InstitutionFeedback

T = TypeVar("T")

DEFAULT_LGD = 0.45
TOP_BORROWERS = 10
# The per-borrower read in this many parts read side by side, where sessions allow: as
# many as the database has cores to spare for one request (two, the smallest server).
BORROWER_PARTS = 2
# Institution roles that read their institution's portfolio figures.
ANALYSTS = frozenset({Role.RISK_OFFICER, Role.INSTITUTION_ADMIN})
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
PERCENTILES = (0.5, 0.9)
MAX_ROLL_MONTHS = 120


@dataclass(frozen=True, slots=True)
class PortfolioFilter:
    start: date | None = None  # first day of the period; default: a year before ``end``
    end: date | None = None  # last day, included; default: today (UTC)
    institution_id: uuid.UUID | None = None
    product_type: ProductType | None = None
    industry: str | None = None
    region: str | None = None


@dataclass(frozen=True, slots=True)
class Period:
    start: date
    end: date
    book_date: date  # what the stock figures are as of
    live: bool  # stocks from the loans table (True) or the snapshot at book_date
    opening_date: date  # the month end before ``start``: the expected loss's baseline

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def until(self) -> datetime:
        return repo.end_of_day(self.end)


# ------------------------------------------------------------------------ the figures


@dataclass(frozen=True, slots=True)
class Funnel:
    """Applications submitted in the period, by the furthest stages their time lines
    reached (an application counts once per stage, whatever came after)."""

    submitted: int
    reviewed: int  # reached review
    info_requested: int
    approved: int  # approved at some point (on appeal included)
    rejected: int  # decided and never approved
    appealed: int
    contract_signed: int
    disbursed: int
    withdrawn: int
    pending: int  # still waiting for a decision now
    approval_rate: float | None  # approved / (approved + rejected); None: nothing decided


@dataclass(frozen=True, slots=True)
class DecisionTimes:
    """Hours from submission to the first credit decision, for applications submitted in
    the period and decided (approved or rejected) by now."""

    decided: int
    median_hours: float | None
    p90_hours: float | None
    mean_hours: float | None


@dataclass(frozen=True, slots=True)
class Volume:
    disbursed_loans: int  # paid out in the period
    disbursed_amount: Decimal
    active_loans: int  # on the book at book_date
    outstanding: Decimal  # principal outstanding at book_date
    book_date: date


@dataclass(frozen=True, slots=True)
class BucketFigure:
    bucket: DelinquencyBucket
    loans: int
    outstanding: Decimal
    share: float  # of the book's outstanding


@dataclass(frozen=True, slots=True)
class Delinquency:
    book_date: date
    buckets: tuple[BucketFigure, ...]  # every bucket, current first
    loans: int
    outstanding: Decimal
    non_performing: Decimal  # outstanding over 90 days past due
    non_performing_ratio: float | None  # non_performing / outstanding; None: empty book


@dataclass(frozen=True, slots=True)
class RollCell:
    from_bucket: DelinquencyBucket
    to_state: RollState
    loans: int
    outstanding: Decimal  # at the first month end
    share: float  # of the loans that were in from_bucket (0 when none were)


@dataclass(frozen=True, slots=True)
class RollRates:
    after: date  # moves from this month end ...
    until: date  # ... to this one, month by month, pooled
    cells: tuple[RollCell, ...]  # every (bucket, state) pair, row by row
    loans: int  # moves counted (a loan once per month)


@dataclass(frozen=True, slots=True)
class VintagePoint:
    months_on_book: int
    defaulted: int  # cumulative, by this month
    cumulative_default_rate: float


@dataclass(frozen=True, slots=True)
class VintageCurve:
    cohort: str  # e.g. "2026Q1"
    cohort_start: date
    loans: int
    disbursed_amount: Decimal
    points: tuple[VintagePoint, ...]  # months on book 0 .. as far as all its loans are seen


@dataclass(frozen=True, slots=True)
class BorrowerExposure:
    enterprise_id: uuid.UUID
    name: str
    outstanding: Decimal
    share: float


@dataclass(frozen=True, slots=True)
class Share:
    name: str
    loans: int
    outstanding: Decimal
    share: float


@dataclass(frozen=True, slots=True)
class Concentration:
    """Of the outstanding principal at book_date."""

    book_date: date
    borrowers: int
    outstanding: Decimal
    top_borrowers: tuple[BorrowerExposure, ...]  # the largest ten, largest first
    top_share: float | None  # their share together
    borrower_hhi: float | None  # sum of squared borrower shares, 0..1
    industries: tuple[Share, ...]  # largest first
    industry_hhi: float | None
    regions: tuple[Share, ...]
    region_hhi: float | None


@dataclass(frozen=True, slots=True)
class LossAt:
    on: date
    live: bool
    exposure: Decimal  # outstanding principal
    rated_exposure: Decimal  # of borrowers with a PD in force
    unrated_exposure: Decimal
    expected_loss: Decimal
    average_pd: float | None  # exposure-weighted, of the rated exposure


@dataclass(frozen=True, slots=True)
class ExpectedLoss:
    lgd: float
    start: LossAt  # at the month end before the period
    end: LossAt  # at book_date
    change: Decimal
    change_ratio: float | None  # change / start; None when it started at zero


@dataclass(frozen=True, slots=True)
class PortfolioSummary:
    period: Period
    funnel: Funnel
    decision_times: DecisionTimes
    volume: Volume
    delinquency: Delinquency
    roll_rates: RollRates
    vintages: tuple[VintageCurve, ...]
    concentration: Concentration
    expected_loss: ExpectedLoss
    provisions: provisioning.Provisions
    # Satisfaction and support by institution (domain.feedback.figures).
    feedback: tuple[InstitutionFeedback, ...] = ()


# -------------------------------------------------------------------- scope and period


def analysable_institutions(viewer: Viewer) -> frozenset[uuid.UUID] | None:
    """The institutions whose figures ``viewer`` may read (None: every one)."""
    if viewer.sees_all_tenants:
        return None
    mine = frozenset(i for i, roles in viewer.institution_roles.items() if roles & ANALYSTS)
    if not mine:
        raise Forbidden("portfolio figures are for risk officers and institution admins")
    return mine


def analyst_of(institutions: Sequence[uuid.UUID] | None) -> Viewer:
    """A viewer who analyses exactly ``institutions`` (None: every one): a job computes a
    report with the scope its requester had when asking, not with anyone's account."""
    if institutions is None:
        return Viewer(platform_roles=frozenset({Role.PLATFORM_RISK_OFFICER}))
    return Viewer(institution_roles={i: frozenset({Role.RISK_OFFICER}) for i in institutions})


async def scope_label(
    session: AsyncSession,
    institution_id: uuid.UUID | None,
    institutions: Sequence[uuid.UUID] | None,
) -> str:
    """Whose book a report shows, in words: one institution, several, or all."""
    named = [institution_id] if institution_id is not None else institutions
    if named is None:
        return "All institutions"
    codes = sorted(i.code for i in await institutions_by_ids(session, ids=list(named)))
    return ("Institution " if len(codes) == 1 else "Institutions ") + ", ".join(codes)


def resolve_period(flt: PortfolioFilter, *, today: date | None = None) -> Period:
    """The period ``flt`` asks for, with the dates its stock figures are taken at."""
    today = today or utcnow().date()
    end = flt.end or today
    start = flt.start or add_months(end, -12) + timedelta(days=1)
    if start > end:
        raise InvalidInput(f"the period's start ({start}) must not be after its end ({end})")
    live = end >= today
    return Period(
        start=start,
        end=end,
        book_date=today if live else month_end_on_or_before(end),
        live=live,
        opening_date=start.replace(day=1) - timedelta(days=1),
    )


def month_end_on_or_before(day: date) -> date:
    following = day + timedelta(days=1)
    return day if following.month != day.month else day.replace(day=1) - timedelta(days=1)


def is_month_end(day: date) -> bool:
    return (day + timedelta(days=1)).day == 1


def _slice(viewer: Viewer, flt: PortfolioFilter) -> repo.Slice:
    return repo.Slice(
        institutions=analysable_institutions(viewer),
        institution_id=flt.institution_id,
        product_type=flt.product_type,
        industry=flt.industry,
        region=flt.region,
    )


class Memo:
    """Reads shared by the figure groups of one caller (a request, a report): each read
    runs once, by whoever asks first; the others wait for its result. Safe for callers
    resolving side by side on sessions of their own.

    ``sessions``: where a long read may also run parts of itself side by side, each on a
    session of its own (the per-borrower read); None: every read on its caller's session.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession] | None = None) -> None:
        self._reads: dict[Hashable, asyncio.Future[Any]] = {}
        self.sessions = sessions

    async def get(self, key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
        found = self._reads.get(key)
        if found is not None:
            result: T = await found
            return result
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._reads[key] = future
        try:
            value = await read()
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: only the waiters, if any, re-raise it
            raise
        future.set_result(value)
        return value


def _ratio(part: Decimal, whole: Decimal) -> float | None:
    return float(part / whole) if whole else None


def _share(part: Decimal, whole: Decimal) -> float:
    return float(part / whole) if whole else 0.0


def _money(value: float) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


# ------------------------------------------------------------------------------ flows


async def _applications(
    session: AsyncSession, slc: repo.Slice, period: Period, memo: Memo | None
) -> tuple[repo.FunnelCounts, repo.Durations]:
    async def read() -> tuple[repo.FunnelCounts, repo.Durations]:
        return await repo.applications(
            session, slc, since=period.since, until=period.until, quantiles=PERCENTILES
        )

    return await (memo or Memo()).get(("applications", slc, period.start, period.end), read)


async def application_funnel(
    session: AsyncSession, viewer: Viewer, flt: PortfolioFilter, *, memo: Memo | None = None
) -> Funnel:
    """Applications submitted in the period: the funnel and the approval rate."""
    period = resolve_period(flt)
    counts, _ = await _applications(session, _slice(viewer, flt), period, memo)
    rejected = counts.decided - counts.approved
    return Funnel(
        submitted=counts.submitted,
        reviewed=counts.reviewed,
        info_requested=counts.info_requested,
        approved=counts.approved,
        rejected=rejected,
        appealed=counts.appealed,
        contract_signed=counts.contract_signed,
        disbursed=counts.disbursed,
        withdrawn=counts.withdrawn,
        pending=counts.pending,
        approval_rate=counts.approved / counts.decided if counts.decided else None,
    )


async def decision_times(
    session: AsyncSession, viewer: Viewer, flt: PortfolioFilter, *, memo: Memo | None = None
) -> DecisionTimes:
    """Time from submission to the first credit decision: median, 90th percentile, mean."""
    period = resolve_period(flt)
    _, found = await _applications(session, _slice(viewer, flt), period, memo)

    def hours(seconds: float | None) -> float | None:
        return None if seconds is None else seconds / 3600

    return DecisionTimes(
        decided=found.count,
        median_hours=hours(found.percentiles.get(0.5)),
        p90_hours=hours(found.percentiles.get(0.9)),
        mean_hours=hours(found.mean),
    )


async def _buckets(
    session: AsyncSession, slc: repo.Slice, period: Period, memo: Memo | None
) -> dict[DelinquencyBucket, tuple[int, Decimal]]:
    at = None if period.live else period.book_date

    async def read() -> dict[DelinquencyBucket, tuple[int, Decimal]]:
        rows = await repo.book_by_bucket(session, slc, at=at)
        return {bucket: (n, total) for bucket, n, total in rows}

    return await (memo or Memo()).get(("book_by_bucket", slc, at), read)


async def _disbursed(
    session: AsyncSession, slc: repo.Slice, period: Period, memo: Memo | None
) -> list[tuple[date, int, Decimal]]:
    async def read() -> list[tuple[date, int, Decimal]]:
        return await repo.disbursed_by_day(session, slc, start=period.start, end=period.end)

    return await (memo or Memo()).get(("disbursed", slc, period.start, period.end), read)


async def lending_volume(
    session: AsyncSession, viewer: Viewer, flt: PortfolioFilter, *, memo: Memo | None = None
) -> Volume:
    """Disbursed in the period (count, principal); active loans and outstanding at book_date."""
    period = resolve_period(flt)
    slc = _slice(viewer, flt)
    days = await _disbursed(session, slc, period, memo)
    book = await _buckets(session, slc, period, memo)
    return Volume(
        disbursed_loans=sum(n for _, n, _ in days),
        disbursed_amount=sum((total for _, _, total in days), ZERO),
        active_loans=sum(n for n, _ in book.values()),
        outstanding=sum((total for _, total in book.values()), ZERO),
        book_date=period.book_date,
    )


# ----------------------------------------------------------------------------- stocks


async def delinquency(
    session: AsyncSession, viewer: Viewer, flt: PortfolioFilter, *, memo: Memo | None = None
) -> Delinquency:
    """The book at book_date by delinquency bucket, and the non-performing (90+) ratio."""
    period = resolve_period(flt)
    book = await _buckets(session, _slice(viewer, flt), period, memo)
    outstanding = sum((total for _, total in book.values()), ZERO)
    buckets = tuple(
        BucketFigure(
            bucket=bucket,
            loans=book.get(bucket, (0, ZERO))[0],
            outstanding=book.get(bucket, (0, ZERO))[1],
            share=_share(book.get(bucket, (0, ZERO))[1], outstanding),
        )
        for bucket in DelinquencyBucket
    )
    non_performing = book.get(DelinquencyBucket.DPD_90_PLUS, (0, ZERO))[1]
    return Delinquency(
        book_date=period.book_date,
        buckets=buckets,
        loans=sum(n for n, _ in book.values()),
        outstanding=outstanding,
        non_performing=non_performing,
        non_performing_ratio=_ratio(non_performing, outstanding),
    )


async def roll_rates(
    session: AsyncSession, viewer: Viewer, flt: PortfolioFilter, *, months: int = 1
) -> RollRates:
    """The latest ``months`` month-on-month moves in the period (1: the last month)."""
    if not 1 <= months <= MAX_ROLL_MONTHS:
        raise InvalidInput(f"months: 1 to {MAX_ROLL_MONTHS}")
    period = resolve_period(flt)
    until = month_end_on_or_before(min(period.end, utcnow().date()))
    after = max(
        period.opening_date, add_months(until.replace(day=1), 1 - months) - timedelta(days=1)
    )
    rows = (
        await repo.roll_counts(session, _slice(viewer, flt), after=after, until=until)
        if after < until
        else []
    )
    counts = {(bucket, RollState(state)): (n, total) for bucket, state, n, total in rows}
    row_totals: dict[DelinquencyBucket, int] = defaultdict(int)
    for (bucket, _), (n, _) in counts.items():
        row_totals[bucket] += n
    cells = tuple(
        RollCell(
            from_bucket=bucket,
            to_state=state,
            loans=counts.get((bucket, state), (0, ZERO))[0],
            outstanding=counts.get((bucket, state), (0, ZERO))[1],
            share=(
                counts.get((bucket, state), (0, ZERO))[0] / row_totals[bucket]
                if row_totals[bucket]
                else 0.0
            ),
        )
        for bucket in DelinquencyBucket
        for state in RollState
    )
    return RollRates(after=after, until=until, cells=cells, loans=sum(row_totals.values()))


async def vintage_curves(
    session: AsyncSession, viewer: Viewer, flt: PortfolioFilter, *, memo: Memo | None = None
) -> tuple[VintageCurve, ...]:
    """One curve per quarter in which loans of the period were disbursed, oldest first."""
    period = resolve_period(flt)
    slc = _slice(viewer, flt)
    today = utcnow().date()
    observed_until = today if period.live else period.book_date
    days = await _disbursed(session, slc, period, memo)
    defaulted = await repo.vintage_defaults(
        session,
        slc,
        start=period.start,
        end=period.end,
        observed_until=observed_until,
        live_month=repo.month_number(today) if period.live else None,
    )
    last_seen = repo.month_number(observed_until)
    loans: dict[int, int] = defaultdict(int)
    amounts: dict[int, Decimal] = defaultdict(lambda: ZERO)
    defaults: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for day, n, principal in days:
        opened = repo.month_number(day)
        quarter = opened - opened % 3  # the index of the quarter's first month
        loans[quarter] += n
        amounts[quarter] += principal
    for opened, months, n in defaulted:
        defaults[opened - opened % 3][max(months, 0)] += n
    curves = []
    for quarter in sorted(loans):
        # As far as the quarter's youngest loans are seen, and at least their first month.
        horizon = max(last_seen - (quarter + 2), 0)
        points, total = [], 0
        for k in range(horizon + 1):
            total += defaults[quarter].get(k, 0)
            points.append(VintagePoint(k, total, total / loans[quarter]))
        year, month = divmod(quarter, 12)
        curves.append(
            VintageCurve(
                cohort=f"{year}Q{month // 3 + 1}",
                cohort_start=date(year, month + 1, 1),
                loans=loans[quarter],
                disbursed_amount=amounts[quarter],
                points=tuple(points),
            )
        )
    return tuple(curves)


def _shares(groups: Iterable[tuple[str, int, Decimal]], whole: Decimal) -> tuple[Share, ...]:
    ranked = sorted(groups, key=lambda g: (-g[2], g[0]))
    return tuple(Share(name, n, total, _share(total, whole)) for name, n, total in ranked)


def _hhi(shares: tuple[Share, ...]) -> float | None:
    return sum(s.share * s.share for s in shares) if shares else None


async def _borrowers(
    session: AsyncSession, slc: repo.Slice, at: date | None, memo: Memo | None
) -> repo.Borrowers:
    """The per-borrower read, the longest of the summary: where the memo allows, cut by
    borrower into BORROWER_PARTS and read side by side, so it spreads over the database's
    cores once the shorter groups are done, rather than finishing alone on one."""
    memo = memo or Memo()

    async def part(sessions: async_sessionmaker[AsyncSession], ids: repo.IdRange) -> repo.Borrowers:
        async with sessions() as own:
            return await repo.borrowers(own, slc, at=at, top=TOP_BORROWERS, ids=ids)

    async def read() -> repo.Borrowers:
        sessions, bounds = memo.sessions, []
        if sessions is not None:
            bounds = await repo.borrower_bounds(session, parts=BORROWER_PARTS)
        first, *rest = pairwise([None, *bounds, None])
        others = [part(sessions, ids) for ids in rest] if sessions is not None else []
        found = await asyncio.gather(
            repo.borrowers(session, slc, at=at, top=TOP_BORROWERS, ids=first), *others
        )
        return repo.Borrowers.merge(found, top=TOP_BORROWERS)

    return await memo.get(("borrowers", slc, at), read)


async def concentration(
    session: AsyncSession, viewer: Viewer, flt: PortfolioFilter, *, memo: Memo | None = None
) -> Concentration:
    """Top-10 borrowers' share, industry and region shares, HHI, at book_date."""
    period = resolve_period(flt)
    slc = _slice(viewer, flt)
    found = await _borrowers(session, slc, None if period.live else period.book_date, memo)
    industries: dict[str, tuple[int, Decimal]] = defaultdict(lambda: (0, ZERO))
    regions: dict[str, tuple[int, Decimal]] = defaultdict(lambda: (0, ZERO))
    for cell in found.cells:
        n, total = industries[cell.industry]
        industries[cell.industry] = (n + cell.loans, total + cell.outstanding)
        n, total = regions[cell.region]
        regions[cell.region] = (n + cell.loans, total + cell.outstanding)
    whole = sum((cell.outstanding for cell in found.cells), ZERO)
    borrowers = sum(cell.borrowers for cell in found.cells)
    by_industry = _shares(((k, n, t) for k, (n, t) in industries.items()), whole)
    by_region = _shares(((k, n, t) for k, (n, t) in regions.items()), whole)
    top = tuple(
        BorrowerExposure(enterprise_id=eid, name=name, outstanding=x, share=_share(x, whole))
        for eid, name, x in found.top
    )
    # Shares are the same in any unit: the squares and the total are both in yuan.
    squares, in_yuan = sum(cell.squares for cell in found.cells), float(whole)
    return Concentration(
        book_date=period.book_date,
        borrowers=borrowers,
        outstanding=whole,
        top_borrowers=top,
        top_share=_ratio(sum((b.outstanding for b in top), ZERO), whole),
        borrower_hhi=squares / (in_yuan * in_yuan) if borrowers and whole else None,
        industries=by_industry,
        industry_hhi=_hhi(by_industry) if whole else None,
        regions=by_region,
        region_hhi=_hhi(by_region) if whole else None,
    )


async def _loss_at(
    session: AsyncSession,
    slc: repo.Slice,
    *,
    on: date,
    live: bool,
    lgd: float,
    memo: Memo | None,
) -> LossAt:
    if live:
        cells = (await _borrowers(session, slc, None, memo)).cells
        found = repo.Exposure(
            loans=sum(c.loans for c in cells),
            outstanding=sum((c.outstanding for c in cells), ZERO),
            rated_outstanding=sum((c.rated_outstanding for c in cells), ZERO),
            pd_weighted=sum(c.pd_weighted for c in cells),
        )
    else:
        found = await repo.exposure_at(session, slc, at=on)
    return LossAt(
        on=on,
        live=live,
        exposure=found.outstanding,
        rated_exposure=found.rated_outstanding,
        unrated_exposure=found.outstanding - found.rated_outstanding,
        expected_loss=_money(found.pd_weighted * lgd),
        average_pd=(
            found.pd_weighted / float(found.rated_outstanding) if found.rated_outstanding else None
        ),
    )


async def expected_loss(
    session: AsyncSession,
    viewer: Viewer,
    flt: PortfolioFilter,
    *,
    lgd: float = DEFAULT_LGD,
    memo: Memo | None = None,
) -> ExpectedLoss:
    """PD x outstanding x ``lgd`` at book_date against the month end before the period."""
    if not 0 <= lgd <= 1:
        raise InvalidInput(f"lgd: a share between 0 and 1, got {lgd}")
    period = resolve_period(flt)
    slc = _slice(viewer, flt)
    start = await _loss_at(session, slc, on=period.opening_date, live=False, lgd=lgd, memo=memo)
    end = await _loss_at(session, slc, on=period.book_date, live=period.live, lgd=lgd, memo=memo)
    change = end.expected_loss - start.expected_loss
    return ExpectedLoss(
        lgd=lgd,
        start=start,
        end=end,
        change=change,
        change_ratio=_ratio(change, start.expected_loss),
    )


async def provisions(
    session: AsyncSession, viewer: Viewer, flt: PortfolioFilter
) -> provisioning.Provisions:
    """The loss allowance by IFRS 9 stage at the newest month-end close on or before the
    book date, and the stage migration matrix since the close before it."""
    period = resolve_period(flt)
    slc = _slice(viewer, flt)

    def narrow(stmt: Any, table: Any) -> Any:
        loan = select(Loan.product_id, Loan.enterprise_id).where(Loan.id == table.c.loan_id)
        return slc.narrow(
            stmt,
            institution=table.c.institution_id,
            product=loan.with_only_columns(Loan.product_id).scalar_subquery(),
            enterprise=loan.with_only_columns(Loan.enterprise_id).scalar_subquery(),
        )

    return await provisioning.provisions(session, narrow, on=period.book_date)


async def portfolio_summary(
    session: AsyncSession,
    viewer: Viewer,
    flt: PortfolioFilter,
    *,
    lgd: float = DEFAULT_LGD,
    roll_months: int = 1,
    progress: Callable[[int, int], Awaitable[None]] | None = None,
) -> PortfolioSummary:
    """Every figure group, one after the other on ``session`` (reads shared once);
    ``progress(groups done, groups)`` after each."""
    from domain.feedback.figures import feedback_by_institution  # it builds on this module

    memo = Memo()
    groups: list[Callable[[], Awaitable[Any]]] = [
        lambda: application_funnel(session, viewer, flt, memo=memo),
        lambda: decision_times(session, viewer, flt, memo=memo),
        lambda: lending_volume(session, viewer, flt, memo=memo),
        lambda: delinquency(session, viewer, flt, memo=memo),
        lambda: roll_rates(session, viewer, flt, months=roll_months),
        lambda: vintage_curves(session, viewer, flt, memo=memo),
        lambda: concentration(session, viewer, flt, memo=memo),
        lambda: expected_loss(session, viewer, flt, lgd=lgd, memo=memo),
        lambda: provisions(session, viewer, flt),
        lambda: feedback_by_institution(session, viewer, flt),
    ]
    period = resolve_period(flt)
    found = []
    for done, group in enumerate(groups, start=1):
        found.append(await group())
        if progress is not None:
            await progress(done, len(groups))
    funnel, times, volume, book, rolls, vintages, concentrated, loss, staged, feedback = found
    return PortfolioSummary(
        period=period,
        funnel=funnel,
        decision_times=times,
        volume=volume,
        delinquency=book,
        roll_rates=rolls,
        vintages=vintages,
        concentration=concentrated,
        expected_loss=loss,
        provisions=staged,
        feedback=feedback,
    )


# ------------------------------------------------------------------------ snapshots


async def snapshot_month(
    session: AsyncSession, *, month_end: date, institution_id: uuid.UUID | None = None
) -> int:
    """Keep every active loan's bucket, days past due and outstanding at ``month_end``
    (set-wise; rerunning replaces the month's rows), of one institution's book or all.
    Returns the rows written."""
    if not is_month_end(month_end):
        raise InvalidInput(f"{month_end} is not the last day of a month")
    return await repo.write_snapshots(session, month_end=month_end, institution_id=institution_id)
