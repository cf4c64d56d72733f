"""The SQL of early warning: indicator inputs for a chunk of loans, rules, scans, alerts.

Every function reads or writes a whole chunk in one statement; the scan never issues a
statement per loan.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from domain.enterprises.models import Enterprise, FinancialStatement
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


@dataclass(frozen=True, slots=True)
class LoanFacts:
    id: uuid.UUID
    institution_id: uuid.UUID
    enterprise_id: uuid.UUID
    days_past_due: int
    delinquency_bucket: str
    outstanding: Decimal
    product_type: str
    industry: str
    region: str


@dataclass(frozen=True, slots=True)
class StatementFacts:
    fiscal_year: int
    revenue: Decimal
    total_assets: Decimal
    total_liabilities: Decimal
    current_assets: Decimal
    current_liabilities: Decimal
    operating_profit: Decimal
    interest_expense: Decimal


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


def _active_loans(
    *, changed_since: datetime | None, institution_ids: Collection[uuid.UUID] | None
) -> Select[*tuple[Any, ...]]:
    stmt: Select[*tuple[Any, ...]] = (
        select(
            Loan.id,
            Loan.institution_id,
            Loan.enterprise_id,
            Loan.days_past_due,
            Loan.delinquency_bucket,
            Loan.outstanding_principal,
            Product.type,
            Enterprise.industry,
            Enterprise.region,
        )
        .join(Enterprise, Enterprise.id == Loan.enterprise_id)
        .join(Product, Product.id == Loan.product_id)
        .where(Loan.status == LoanStatus.ACTIVE)
    )
    if changed_since is not None:
        stmt = stmt.where(_changed_since(changed_since))
    if institution_ids is not None:
        stmt = stmt.where(Loan.institution_id.in_(institution_ids))
    return stmt


async def loan_chunk(
    session: AsyncSession,
    *,
    after: uuid.UUID | None,
    limit: int,
    changed_since: datetime | None = None,
    institution_ids: Collection[uuid.UUID] | None = None,
) -> list[LoanFacts]:
    """The next ``limit`` active loans by id (keyset), optionally only the changed ones."""
    stmt = _active_loans(changed_since=changed_since, institution_ids=institution_ids)
    if after is not None:
        stmt = stmt.where(Loan.id > after)
    rows = await session.execute(stmt.order_by(Loan.id).limit(limit))
    return [
        LoanFacts(
            id=r[0],
            institution_id=r[1],
            enterprise_id=r[2],
            days_past_due=r[3],
            delinquency_bucket=r[4].value,
            outstanding=r[5],
            product_type=r[6].value,
            industry=r[7],
            region=r[8],
        )
        for r in rows
    ]


async def count_active_loans(
    session: AsyncSession, *, institution_ids: Collection[uuid.UUID] | None = None
) -> int:
    stmt = select(func.count()).select_from(Loan).where(Loan.status == LoanStatus.ACTIVE)
    if institution_ids is not None:
        stmt = stmt.where(Loan.institution_id.in_(institution_ids))
    return int(await session.scalar(stmt) or 0)


async def assessments_in_force(
    session: AsyncSession, *, enterprise_ids: Collection[uuid.UUID], cutoffs: Sequence[datetime]
) -> list[dict[uuid.UUID, tuple[float, str]]]:
    """For each cutoff, each enterprise's PD and grade in force just before it (champion
    only): one read of the enterprises' assessment histories, newest first, for all the
    cutoffs at once."""
    rows = await session.execute(
        select(
            RiskAssessment.enterprise_id,
            RiskAssessment.assessed_at,
            RiskAssessment.probability_of_default,
            RiskAssessment.grade,
        )
        .where(
            RiskAssessment.enterprise_id.in_(enterprise_ids),
            RiskAssessment.shadow.is_(False),
            RiskAssessment.assessed_at < max(cutoffs),
        )
        .order_by(RiskAssessment.enterprise_id, RiskAssessment.assessed_at.desc())
    )
    found: list[dict[uuid.UUID, tuple[float, str]]] = [{} for _ in cutoffs]
    for enterprise_id, at, pd, grade in rows:
        for k, cutoff in enumerate(cutoffs):
            if at < cutoff and enterprise_id not in found[k]:
                found[k][enterprise_id] = (float(pd), grade)
    return found


async def latest_statements(
    session: AsyncSession, *, enterprise_ids: Collection[uuid.UUID], through_year: int
) -> dict[uuid.UUID, list[StatementFacts]]:
    """Each enterprise's two latest fiscal years up to ``through_year``, newest first."""
    fs = FinancialStatement
    numbered = (
        select(
            fs.enterprise_id,
            fs.fiscal_year,
            fs.revenue,
            fs.total_assets,
            fs.total_liabilities,
            fs.current_assets,
            fs.current_liabilities,
            fs.operating_profit,
            fs.interest_expense,
            func.row_number()
            .over(partition_by=fs.enterprise_id, order_by=fs.fiscal_year.desc())
            .label("rn"),
        )
        .where(fs.enterprise_id.in_(enterprise_ids), fs.fiscal_year <= through_year)
        .subquery()
    )
    c = numbered.c
    rows = await session.execute(
        select(
            c.enterprise_id,
            c.fiscal_year,
            c.revenue,
            c.total_assets,
            c.total_liabilities,
            c.current_assets,
            c.current_liabilities,
            c.operating_profit,
            c.interest_expense,
        )
        .where(c.rn <= 2)
        .order_by(c.enterprise_id, c.rn)
    )
    found: dict[uuid.UUID, list[StatementFacts]] = {}
    for r in rows:
        found.setdefault(r[0], []).append(StatementFacts(*r[1:]))
    return found


async def dues_within(
    session: AsyncSession, *, first: uuid.UUID, last: uuid.UUID, start: date, end: date
) -> dict[uuid.UUID, Decimal]:
    """What is still owed on instalments due in (start, end], per loan with id in
    [first, last]: a range the (loan_id, sequence) index reads in order, where an IN list
    of thousands of ids led PostgreSQL's planner to read the whole table per chunk."""
    i = Installment
    owed = (
        i.principal_due
        + i.interest_due
        + i.fee_due
        - i.principal_paid
        - i.interest_paid
        - i.fee_paid
    )
    rows = await session.execute(
        select(i.loan_id, func.sum(owed))
        .where(i.loan_id >= first, i.loan_id <= last, i.due_on > start, i.due_on <= end)
        .group_by(i.loan_id)
    )
    return {r[0]: Decimal(r[1]) for r in rows if r[1] is not None}


async def concentrations(
    session: AsyncSession,
) -> tuple[dict[tuple[uuid.UUID, str], float], dict[tuple[uuid.UUID, str], float]]:
    """Per institution: each industry's and each region's share of active outstanding."""
    shares: list[dict[tuple[uuid.UUID, str], float]] = []
    for column in (Enterprise.industry, Enterprise.region):
        rows = (
            await session.execute(
                select(Loan.institution_id, column, func.sum(Loan.outstanding_principal))
                .join(Enterprise, Enterprise.id == Loan.enterprise_id)
                .where(Loan.status == LoanStatus.ACTIVE)
                .group_by(Loan.institution_id, column)
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


async def open_alert_keys(
    session: AsyncSession, *, loan_ids: Collection[uuid.UUID]
) -> set[tuple[uuid.UUID, str]]:
    rows = await session.execute(
        select(RiskAlert.loan_id, RiskAlert.rule_code).where(
            RiskAlert.loan_id.in_(loan_ids), RiskAlert.status != AlertStatus.RESOLVED
        )
    )
    return {(r[0], r[1]) for r in rows if r[0] is not None}


async def previous_digests(
    session: AsyncSession, *, loan_ids: Collection[uuid.UUID]
) -> dict[uuid.UUID, str]:
    rows = await session.execute(
        select(LoanWarning.loan_id, LoanWarning.digest).where(LoanWarning.loan_id.in_(loan_ids))
    )
    return {r[0]: r[1] for r in rows}


def _insert_for(session: AsyncSession, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(table)


async def upsert_warnings(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    if not rows:
        return
    stmt = _insert_for(session, LoanWarning)
    excluded = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=[LoanWarning.loan_id],
        set_={
            name: excluded[name]
            for name in (
                "institution_id",
                "score",
                "level",
                "levels",
                "indicators",
                "system_version",
                "digest",
                "scanned_at",
            )
        },
    )
    await session.execute(stmt, list(rows))


async def insert_alerts(
    session: AsyncSession, rows: Sequence[Mapping[str, Any]]
) -> list[uuid.UUID]:
    """Insert alerts, skipping any (loan, rule) that already has an unresolved one.

    The partial unique index decides, so two scans racing cannot both raise the same
    alert; the ids returned are the alerts this call actually created.
    """
    if not rows:
        return []
    stmt = (
        _insert_for(session, RiskAlert)
        .on_conflict_do_nothing(
            index_elements=[RiskAlert.loan_id, RiskAlert.rule_code],
            index_where=text("status <> 'resolved'"),  # the index's own predicate
        )
        .returning(RiskAlert.id)
    )
    result = await session.execute(stmt, list(rows))
    return list(result.scalars().all())


async def current_rules(session: AsyncSession, *, enabled_only: bool = True) -> Sequence[RiskRule]:
    stmt = select(RiskRule).where(RiskRule.current.is_(True))
    if enabled_only:
        stmt = stmt.where(RiskRule.enabled.is_(True))
    return (await session.scalars(stmt.order_by(RiskRule.code))).all()


async def rule_versions(session: AsyncSession, *, code: str) -> Sequence[RiskRule]:
    stmt = select(RiskRule).where(RiskRule.code == code).order_by(RiskRule.version.desc())
    return (await session.scalars(stmt)).all()


async def retire_rule_versions(session: AsyncSession, *, code: str) -> None:
    await session.execute(
        update(RiskRule)
        .where(RiskRule.code == code, RiskRule.current.is_(True))
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
