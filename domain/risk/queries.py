"""The SQL of early warning: indicator inputs for a chunk of loans, rules, scans, alerts.

Every function reads or writes a whole chunk in one statement; the scan never issues a
statement per loan.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    column,
    exists,
    func,
    or_,
    select,
    table,
    text,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from domain.enterprises.models import Enterprise, FinancialStatement
from domain.identity.viewer import Viewer
from domain.lending.models import Installment, Loan, LoanStatus
from domain.products.models import Product
from domain.risk.models import (
    AlertStatus,
    LoanWarning,
    RiskAlert,
    RiskAssessment,
    RiskRule,
    RiskScan,
    WarningSystemVersion,
)
from kernel import bulk
from kernel.base import Base, yuan

_AMOUNTS = (
    "revenue",
    "total_assets",
    "total_liabilities",
    "current_assets",
    "current_liabilities",
    "operating_profit",
    "interest_expense",
)

# What ``chunk_inputs`` returns per loan, in this order. Amounts are floats in their units.
INPUTS: tuple[str, ...] = (
    "id",
    "institution_id",
    "enterprise_id",
    "days_past_due",
    "delinquency_bucket",
    "outstanding",
    "product_type",
    "industry",
    "region",
    "pd",  # the champion assessment in force at the end of the scan date
    "grade",
    "pd_30d_ago",  # ... and 30 and 90 days before that
    "pd_90d_ago",
    "grade_90d_ago",
    "fiscal_year",  # the latest statement filed for a year up to the scan date's
    *_AMOUNTS,  # its figures
    "prior_fiscal_year",  # the one before it
    "prior_revenue",
    "dues",  # still owed on instalments due within the year after the scan date
    "digest",  # of the loan's stored warning
    "open_rules",  # codes of the loan's unresolved alerts, space-separated
)


@dataclass(frozen=True, slots=True)
class ChunkInputs:
    """A chunk of active loans, by id, and every input of their indicators, as columns."""

    columns: Mapping[str, Sequence[Any]]  # name (``INPUTS``) -> one value per loan

    def __len__(self) -> int:
        return len(self.columns["id"])

    @property
    def ids(self) -> Sequence[uuid.UUID]:
        return self.columns["id"]


def _changed_since(since: datetime) -> ColumnElement[bool]:
    """Loans whose own row, or borrower's profile, assessments or statements, moved."""
    assessed = select(RiskAssessment.enterprise_id).where(RiskAssessment.assessed_at >= since)
    filed = select(FinancialStatement.enterprise_id).where(FinancialStatement.updated_at >= since)
    profiled = select(Enterprise.id).where(Enterprise.updated_at >= since)
    return or_(
        Loan.updated_at >= since,
        Loan.enterprise_id.in_(assessed),
        Loan.enterprise_id.in_(filed),
        Loan.enterprise_id.in_(profiled),
    )


async def chunk_inputs(
    session: AsyncSession,
    *,
    after: uuid.UUID | None,
    limit: int,
    as_of: date,
    changed_since: datetime | None = None,
    institution_ids: Collection[uuid.UUID] | None = None,
    upto: uuid.UUID | None = None,
) -> ChunkInputs:
    """The next ``limit`` active loans by id (keyset) with all their indicator inputs.

    One statement, so the database works on the next chunk while the scan computes the
    last one: the chunk's loans, their borrowers' assessments in force at three dates and
    two latest statements (window functions over just those borrowers), what falls due
    on them within a year (a range of the (loan_id, sequence) index, which an IN list of
    thousands of ids led PostgreSQL to read whole), their stored warning's digest and
    their open alerts.
    """
    chunk_stmt = (
        select(
            Loan.id.label("id"),
            Loan.institution_id.label("institution_id"),
            Loan.enterprise_id.label("enterprise_id"),
            Loan.days_past_due.label("days_past_due"),
            type_coerce(Loan.delinquency_bucket, String).label("delinquency_bucket"),
            yuan(Loan.outstanding_principal).label("outstanding"),
            type_coerce(Product.type, String).label("product_type"),
            Enterprise.industry.label("industry"),
            Enterprise.region.label("region"),
        )
        .join(Enterprise, Enterprise.id == Loan.enterprise_id)
        .join(Product, Product.id == Loan.product_id)
        .where(Loan.status == LoanStatus.ACTIVE)
    )
    if changed_since is not None:
        chunk_stmt = chunk_stmt.where(_changed_since(changed_since))
    if institution_ids is not None:
        chunk_stmt = chunk_stmt.where(Loan.institution_id.in_(institution_ids))
    if after is not None:
        chunk_stmt = chunk_stmt.where(Loan.id > after)
    if upto is not None:  # a range of a split scan: (after, upto]
        chunk_stmt = chunk_stmt.where(Loan.id <= upto)
    chunk = chunk_stmt.order_by(Loan.id).limit(limit).cte("chunk")
    borrowers = select(chunk.c.enterprise_id)

    end = datetime.combine(as_of + timedelta(days=1), time.min, tzinfo=UTC)
    ra = RiskAssessment

    def in_force(cutoff: datetime, name: str) -> Any:
        return (
            select(
                ra.enterprise_id,
                ra.probability_of_default.label("pd"),
                ra.grade,
                func.row_number()
                .over(partition_by=ra.enterprise_id, order_by=(ra.assessed_at.desc(), ra.id.desc()))
                .label("rn"),
            )
            .where(ra.enterprise_id.in_(borrowers), ra.shadow.is_(False), ra.assessed_at < cutoff)
            .subquery(name)
        )

    now = in_force(end, "now")
    d30 = in_force(end - timedelta(days=30), "d30")
    d90 = in_force(end - timedelta(days=90), "d90")

    fs = FinancialStatement
    filed = (
        select(
            fs.enterprise_id,
            fs.fiscal_year,
            *(yuan(getattr(fs, name)).label(name) for name in _AMOUNTS),
            func.row_number()
            .over(partition_by=fs.enterprise_id, order_by=fs.fiscal_year.desc())
            .label("rn"),
        )
        .where(fs.enterprise_id.in_(borrowers), fs.fiscal_year <= as_of.year)
        .cte("filed")
    )
    latest, prior = filed.alias("latest"), filed.alias("prior")

    i = Installment
    owed = (
        i.principal_due
        + i.interest_due
        + i.fee_due
        - i.principal_paid
        - i.interest_paid
        - i.fee_paid
    )
    dues = (
        select(i.loan_id, yuan(func.sum(owed)).label("dues"))
        .where(
            # PostgreSQL has no min() of a uuid
            i.loan_id >= select(chunk.c.id).order_by(chunk.c.id).limit(1).scalar_subquery(),
            i.loan_id <= select(chunk.c.id).order_by(chunk.c.id.desc()).limit(1).scalar_subquery(),
            i.due_on > as_of,
            i.due_on <= as_of + timedelta(days=365),
        )
        .group_by(i.loan_id)
        .subquery("dues")
    )
    open_rules = (
        select(func.aggregate_strings(RiskAlert.rule_code, " "))
        .where(RiskAlert.loan_id == chunk.c.id, RiskAlert.status != AlertStatus.RESOLVED)
        .scalar_subquery()
    )
    stmt = (
        select(
            *chunk.c,
            now.c.pd.label("pd"),
            now.c.grade.label("grade"),
            d30.c.pd.label("pd_30d_ago"),
            d90.c.pd.label("pd_90d_ago"),
            d90.c.grade.label("grade_90d_ago"),
            latest.c.fiscal_year.label("fiscal_year"),
            *(latest.c[name].label(name) for name in _AMOUNTS),
            prior.c.fiscal_year.label("prior_fiscal_year"),
            prior.c.revenue.label("prior_revenue"),
            dues.c.dues,
            LoanWarning.digest.label("digest"),
            open_rules.label("open_rules"),
        )
        .select_from(chunk)
        .outerjoin(now, and_(now.c.enterprise_id == chunk.c.enterprise_id, now.c.rn == 1))
        .outerjoin(d30, and_(d30.c.enterprise_id == chunk.c.enterprise_id, d30.c.rn == 1))
        .outerjoin(d90, and_(d90.c.enterprise_id == chunk.c.enterprise_id, d90.c.rn == 1))
        .outerjoin(latest, and_(latest.c.enterprise_id == chunk.c.enterprise_id, latest.c.rn == 1))
        .outerjoin(prior, and_(prior.c.enterprise_id == chunk.c.enterprise_id, prior.c.rn == 2))
        .outerjoin(dues, dues.c.loan_id == chunk.c.id)
        .outerjoin(LoanWarning, LoanWarning.loan_id == chunk.c.id)
        .order_by(chunk.c.id)
    )
    rows = (await session.execute(stmt)).all()
    transposed = list(zip(*rows, strict=True)) if rows else [() for _ in INPUTS]
    return ChunkInputs(dict(zip(INPUTS, transposed, strict=True)))


async def concentrations(
    session: AsyncSession,
) -> tuple[dict[tuple[uuid.UUID, str], float], dict[tuple[uuid.UUID, str], float]]:
    """Per institution: each industry's and each region's share of active outstanding."""
    shares: list[dict[tuple[uuid.UUID, str], float]] = []
    for grouping in (Enterprise.industry, Enterprise.region):
        rows = (
            await session.execute(
                select(Loan.institution_id, grouping, func.sum(Loan.outstanding_principal))
                .join(Enterprise, Enterprise.id == Loan.enterprise_id)
                .where(Loan.status == LoanStatus.ACTIVE)
                .group_by(Loan.institution_id, grouping)
            )
        ).all()
        totals: dict[uuid.UUID, Decimal] = {}
        for institution, _, amount in rows:
            totals[institution] = totals.get(institution, Decimal(0)) + Decimal(amount or 0)
        shares.append(
            {
                (institution, key): float(Decimal(amount or 0) / totals[institution])
                for institution, key, amount in rows
                if totals[institution] > 0
            }
        )
    return shares[0], shares[1]


async def _bulk_insert(
    session: AsyncSession, model: type[Base], rows: Sequence[Mapping[str, Any]]
) -> tuple[Any, list[Mapping[str, Any]] | None]:
    """An INSERT of ``rows`` to finish with a conflict clause, and its parameters: on
    PostgreSQL from rows COPYed into a staging table (``kernel/bulk.py``), elsewhere an
    executemany."""
    if session.get_bind().dialect.name != "postgresql":
        return sqlite.insert(model), list(rows)
    staged = await bulk.stage(session, model, rows)
    names = list(rows[0])
    source: Select[*tuple[Any, ...]] = select(*(column(n) for n in names)).select_from(
        table(staged)
    )
    return postgresql.insert(model).from_select(names, source), None


async def upsert_warnings(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    if not rows:
        return
    stmt, params = await _bulk_insert(session, LoanWarning, rows)
    excluded = stmt.excluded
    updates = (
        "institution_id",
        "score",
        "level",
        "levels",
        "indicators",
        "system_version",
        "digest",
        "scanned_at",
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[LoanWarning.loan_id], set_={name: excluded[name] for name in updates}
    )
    await session.execute(stmt, params)


async def insert_alerts(
    session: AsyncSession, rows: Sequence[Mapping[str, Any]]
) -> list[uuid.UUID]:
    """Insert alerts, skipping any (loan, rule) that already has an unresolved one.

    The partial unique index decides, so two scans racing cannot both raise the same
    alert; the ids returned are the alerts this call actually created.
    """
    if not rows:
        return []
    stmt, params = await _bulk_insert(session, RiskAlert, rows)
    stmt = stmt.on_conflict_do_nothing(
        index_elements=[RiskAlert.loan_id, RiskAlert.rule_code],
        index_where=text("status <> 'resolved'"),  # the index's own predicate
    ).returning(RiskAlert.id)
    result = await session.execute(stmt, params)
    return list(result.scalars().all())


def _seen_by(viewer: Viewer) -> list[ColumnElement[bool]]:
    """The rules that run on the viewer's loans: the platform's, and their own
    institutions' (every one for platform staff)."""
    if viewer.sees_all_tenants:
        return []
    return [
        or_(
            RiskRule.institution_id.is_(None),
            RiskRule.institution_id.in_(viewer.institution_ids),
        )
    ]


async def current_rules(
    session: AsyncSession, *, enabled_only: bool = True, viewer: Viewer | None = None
) -> Sequence[RiskRule]:
    """The current version of every rule (of those ``viewer`` sees, if given)."""
    stmt = select(RiskRule).where(RiskRule.current.is_(True))
    if enabled_only:
        stmt = stmt.where(RiskRule.enabled.is_(True))
    if viewer is not None:
        stmt = stmt.where(*_seen_by(viewer))
    return (await session.scalars(stmt.order_by(RiskRule.code))).all()


async def rules_by_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[RiskRule]:
    """Rule versions among ``ids`` that run on the viewer's loans (``_seen_by``)."""
    stmt = select(RiskRule).where(RiskRule.id.in_(ids), *_seen_by(viewer))
    return (await session.scalars(stmt)).all()


# PostgreSQL advisory locks with two int4 keys: this space, and the code's hash.
RULE_CODE_LOCKS = 0x4C47_5243  # "LGRC"


async def lock_rule_code(session: AsyncSession, code: str) -> None:
    """Hold ``code`` until the transaction ends, so that two owners saving rules under
    one code check and write one after the other. PostgreSQL only: on the embedded
    SQLite service (one process) two saves a few awaits apart can still cross."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:space, hashtext(:code))"),
            {"space": RULE_CODE_LOCKS, "code": code},
        )


def _owned_by(institution_id: uuid.UUID | None) -> ColumnElement[bool]:
    """The rules of one owner: the platform (None) or an institution."""
    if institution_id is None:
        return RiskRule.institution_id.is_(None)
    return RiskRule.institution_id == institution_id


async def rule_versions(
    session: AsyncSession, *, code: str, institution_id: uuid.UUID | None
) -> Sequence[RiskRule]:
    """Every version of one owner's rule, newest first."""
    stmt = select(RiskRule).where(RiskRule.code == code, _owned_by(institution_id))
    return (await session.scalars(stmt.order_by(RiskRule.version.desc()))).all()


async def code_across_the_platform(
    session: AsyncSession, *, code: str, institution_id: uuid.UUID | None
) -> bool:
    """Whether ``code`` names a rule whose loans a rule of ``institution_id`` would share:
    a platform rule's, for an institution; any institution's, for the platform."""
    other = (
        RiskRule.institution_id.is_(None)
        if institution_id is not None
        else RiskRule.institution_id.is_not(None)
    )
    found = await session.scalar(select(exists().where(RiskRule.code == code, other)))
    return bool(found)


async def retire_rule_versions(
    session: AsyncSession, *, code: str, institution_id: uuid.UUID | None
) -> None:
    await session.execute(
        update(RiskRule)
        .where(RiskRule.code == code, _owned_by(institution_id), RiskRule.current.is_(True))
        .values(current=False)
    )


async def current_warning_system(session: AsyncSession) -> WarningSystemVersion | None:
    stmt = select(WarningSystemVersion).where(WarningSystemVersion.current.is_(True))
    return await session.scalar(stmt)


async def retire_warning_systems(session: AsyncSession) -> int:
    """Mark the current configuration superseded; its version number, or 0 when none."""
    row = await current_warning_system(session)
    if row is None:
        return int(await session.scalar(select(func.max(WarningSystemVersion.version))) or 0)
    row.current = False
    await session.flush()
    return row.version


async def last_finished_scan(session: AsyncSession) -> RiskScan | None:
    stmt = (
        select(RiskScan)
        .where(RiskScan.finished_at.is_not(None))
        .order_by(RiskScan.started_at.desc())
        .limit(1)
    )
    return await session.scalar(stmt)


async def last_full_scan(session: AsyncSession) -> RiskScan | None:
    stmt = (
        select(RiskScan)
        .where(RiskScan.finished_at.is_not(None), RiskScan.full.is_(True))
        .order_by(RiskScan.started_at.desc())
        .limit(1)
    )
    return await session.scalar(stmt)


async def warnings_by_loan_ids(
    session: AsyncSession, *, ids: Collection[uuid.UUID]
) -> Sequence[LoanWarning]:
    """Warnings of loans the caller already holds (their rows were scoped when loaded)."""
    return (await session.scalars(select(LoanWarning).where(LoanWarning.loan_id.in_(ids)))).all()


async def range_bounds(session: AsyncSession, *, every: int) -> list[uuid.UUID]:
    """The id of every ``every``-th active loan, in id order: the upper bounds of a split
    scan's ranges (the last range is open above). One pass over the loans' id index."""
    numbered = (
        select(Loan.id, func.row_number().over(order_by=Loan.id).label("n"))
        .where(Loan.status == LoanStatus.ACTIVE)
        .subquery()
    )
    stmt = select(numbered.c.id).where(numbered.c.n % every == 0).order_by(numbered.c.id)
    return list((await session.scalars(stmt)).all())
