"""Staging the book at a close date, and posting the change in its loss allowance.

``stage_book`` reads the active loans in id order, ``BATCH`` at a time (each batch in a
transaction of its own), and keeps one ``LoanStage`` row per loan and date. On
PostgreSQL a batch is two statements: the loans' product terms, from which Python takes
each loan's LGD (``loan_lgd``, the one place it is decided), and one ``INSERT ...
SELECT`` that applies the staging rules of ``domain.provisioning.staging`` in SQL to
the cent (``_staged_sql``; tests/domain/provisioning/test_staging_sql.py holds it to the
Python rules). On SQLite, one read and the rules in Python, then one multi-row INSERT.

``provide`` then brings each loan's loss allowance in the ledger (its sub-ledger's
credit balance on ``loss_allowance``) to the ECL staged for it: an increase debits
provision expense and credits the allowance, a decrease (a release) the other way
round. Each loan's entry has the source ``provision:<date>:<loan>``, so a close
repeated for the same date posts nothing twice. A loan that left the book (repaid)
with an allowance left has it released.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    Date,
    Integer,
    Numeric,
    Table,
    Uuid,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
    type_coerce,
)
from sqlalchemy import cast as cast_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from domain.analytics.repository import end_of_day
from domain.contracts.models import LoanTermination, TerminationKind
from domain.ledger import service as ledger
from domain.ledger.chart import AccountCode
from domain.ledger.models import EntryKind, JournalLine, LedgerAccount
from domain.ledger.service import Leg, Posting
from domain.lending.models import Installment, Loan, LoanStatus
from domain.products.models import Product, ProductType
from domain.provisioning import policy
from domain.provisioning.models import LoanStage
from domain.provisioning.staging import Exposure, staged
from domain.risk.models import RiskAssessment
from domain.risk.repository import pd_in_force
from kernel.base import Money

BATCH = 5000
ZERO = Decimal("0.00")
STAGES = cast(Table, LoanStage.__table__)


def _pd(value: float | None) -> Decimal | None:
    return None if value is None else Decimal(repr(value)).quantize(policy.RATE)


def loan_lgd(product_type: ProductType | None, secured: bool) -> Decimal:
    """A loan's loss given default at the close: THE one place staging decides it, on
    both databases (the SQL path takes it per loan from here)."""
    return policy.lgd_of(product_type, secured)


@dataclass
class Staging:
    as_of: date
    loans: int = 0
    stages: dict[int, int] = field(default_factory=lambda: {1: 0, 2: 0, 3: 0})
    ecl: Decimal = ZERO


def _pd_at_origination() -> Any:
    """The champion's first PD of the loan's own application: the one its decision relied
    on (re-scoring the book later adds newer assessments of the same application)."""
    ra = RiskAssessment
    return (
        select(ra.probability_of_default)
        .where(ra.application_id == Loan.application_id, ra.shadow.is_(False))
        .order_by(ra.assessed_at, ra.id)
        .limit(1)
        .scalar_subquery()
    )


def _exposures(as_of: date) -> Any:
    """What staging reads of each active loan at ``as_of``, one row per loan."""
    unpaid = (
        select(
            func.sum(
                Installment.interest_due
                - Installment.interest_paid
                + Installment.fee_due
                - Installment.fee_paid
            )
        )
        .where(
            Installment.loan_id == Loan.id,
            Installment.settled_on.is_(None),
            Installment.due_on <= as_of,
        )
        .scalar_subquery()
    )
    accelerated = exists().where(
        LoanTermination.loan_id == Loan.id,
        LoanTermination.kind == TerminationKind.ACCELERATION,
        LoanTermination.on <= as_of,
    )
    return (
        select(
            Loan.id.label("loan_id"),
            Loan.institution_id.label("institution_id"),
            Loan.status.label("status"),
            Loan.days_past_due.label("dpd"),
            Loan.maturity_on.label("maturity_on"),
            Loan.outstanding_principal.label("outstanding"),
            unpaid.label("unpaid"),
            Product.type.label("product_type"),
            Product.collateral_required.label("secured"),
            pd_in_force(Loan.enterprise_id, end_of_day(as_of)).label("pd_now"),
            _pd_at_origination().label("pd_origination"),
            accelerated.label("accelerated"),
            Loan.forborne.label("forborne"),
        )
        .join(Product, Product.id == Loan.product_id)
        .where(Loan.status == LoanStatus.ACTIVE)
    )


def _batch(stmt: Any, institution_id: uuid.UUID | None, after: uuid.UUID | None) -> Any:
    """The next ``BATCH`` loans of ``stmt`` (over loans) in id order after ``after``."""
    stmt = stmt.order_by(Loan.id).limit(BATCH)
    if institution_id is not None:
        stmt = stmt.where(Loan.institution_id == institution_id)
    if after is not None:
        stmt = stmt.where(Loan.id > after)
    return stmt


def _loans(as_of: date, institution_id: uuid.UUID | None, after: uuid.UUID | None) -> Any:
    return _batch(_exposures(as_of), institution_id, after)


async def stage_book(
    sessions: async_sessionmaker[AsyncSession],
    *,
    as_of: date,
    institution_id: uuid.UUID | None = None,
    in_sql: bool | None = None,
) -> Staging:
    """Stage every active loan (of one institution, or all) at ``as_of``; a rerun
    replaces the date's rows. ``in_sql``: the rules in SQL (None: on PostgreSQL) or in
    Python (False: the oracle the SQL is held to)."""
    found = Staging(as_of=as_of)
    async with sessions() as session, session.begin():
        stmt = delete(LoanStage).where(LoanStage.as_of == as_of)
        if institution_id is not None:
            stmt = stmt.where(LoanStage.institution_id == institution_id)
        await session.execute(stmt)
    after: uuid.UUID | None = None
    while True:
        async with sessions() as session, session.begin():
            # Core statements on the connection: no ORM bookkeeping per row.
            conn = await session.connection()
            if in_sql is None:
                in_sql = conn.dialect.name == "postgresql"
            last = await (_stage_in_sql if in_sql else _stage_in_python)(
                conn, found, as_of, institution_id, after
            )
            if last is None:
                break
            after = last
    return found


async def _stage_in_python(
    conn: AsyncConnection,
    found: Staging,
    as_of: date,
    institution_id: uuid.UUID | None,
    after: uuid.UUID | None,
) -> uuid.UUID | None:
    """One batch staged by the rules in Python; the batch's last loan (None: no more)."""
    rows = (await conn.execute(_loans(as_of, institution_id, after))).all()
    if not rows:
        return None
    records = []
    for row in rows:
        (
            loan_id,
            institution,
            status,
            dpd,
            maturity_on,
            outstanding,
            unpaid,
            product_type,
            secured,
            pd_now,
            pd_origination,
            accelerated,
            forborne,
        ) = row
        s = staged(
            Exposure(
                days_past_due=dpd,
                pd_now=_pd(pd_now),
                pd_origination=_pd(pd_origination),
                forborne=bool(forborne),
                written_off=status is LoanStatus.WRITTEN_OFF,
                accelerated=bool(accelerated),
                days_to_maturity=(maturity_on - as_of).days,
                lgd=loan_lgd(product_type, bool(secured)),
                ead=outstanding + (unpaid or ZERO),
            )
        )
        records.append(
            {
                "loan_id": loan_id,
                "as_of": as_of,
                "institution_id": institution,
                "stage": s.stage,
                "reason": s.reason,
                "days_past_due": dpd,
                "pd_origination": _pd(pd_origination),
                "pd_12m": s.pd_12m,
                "pd_lifetime": s.pd_lifetime,
                "lgd": s.lgd,
                "ead": s.ead,
                "ecl": s.ecl,
            }
        )
        found.stages[s.stage] += 1
        found.ecl += s.ecl
    await conn.execute(insert(STAGES), records)
    found.loans += len(records)
    last: uuid.UUID = rows[-1][0]
    return last


# ------------------------------------------------------------- the staging rules in SQL


def _pd_text(column: str) -> str:
    """A PD (a float) as ``_pd`` keeps it: its shortest decimal form (``repr``; PostgreSQL
    12+ prints a double so with ``extra_float_digits`` above 0), to six decimals, half
    to even (``Decimal.quantize``'s default)."""
    x = f"CAST(CAST({column} AS text) AS numeric)"
    return (
        f"CASE WHEN {x} * 1000000 - trunc({x} * 1000000) = 0.5 "
        f"AND mod(trunc({x} * 1000000), 2) = 0 THEN trunc({x}, 6) ELSE round({x}, 6) END"
    )


def _pd_over_text(pd12: str, years: str) -> str:
    """``policy.pd_over`` in SQL: the same double arithmetic (the C library's ``pow``, as
    Python's ``math.pow``), its shortest decimal form rounded half up to six decimals."""
    survive = f"(CAST(1 AS double precision) - CAST({pd12} AS double precision))"
    return (
        f"CASE WHEN {survive} <= 0 THEN {policy.ONE} ELSE round(CAST(CAST("
        f"CAST(1 AS double precision) - power({survive}, {years}) AS text) AS numeric), 6) END"
    )


def _staged_sql(as_of: date, loan_ids: list[uuid.UUID], lgds: list[Decimal]) -> Any:
    """``staging.staged`` of each loan of ``loan_ids`` (with its LGD from ``loan_lgd``) as
    one ``INSERT ... SELECT`` of its ``LoanStage`` rows, answering loans and ECL per stage."""
    batch = (
        func.unnest(
            cast_(bindparam("ids", loan_ids), ARRAY(Uuid())),
            cast_(bindparam("lgds", lgds), ARRAY(Numeric())),
        )
        .table_valued("loan_id", "lgd")
        .render_derived(name="batch")
    )
    days_left = type_coerce(Loan.maturity_on - cast_(literal(as_of), Date), Integer)
    inputs = (
        _exposures(as_of)
        .add_columns(days_left.label("days_left"), batch.c.lgd)
        .join(batch, batch.c.loan_id == Loan.id)
        # OFFSET 0 keeps each level a subquery of its own: pulled up into the next, its
        # columns (the PD lookups among them) would be computed once per mention.
        .offset(0)
        .subquery("i")
    )
    double = "double precision"
    years = (
        f"greatest(CAST(i.days_left AS {double}) / CAST({policy.DAYS_PER_YEAR!r} AS {double}), "
        f"CAST('{policy.MIN_HORIZON_YEARS!r}' AS {double}))"
    )
    ead = "(i.outstanding + coalesce(i.unpaid, 0))"
    pdn, pdo = _pd_text("i.pd_now"), _pd_text("i.pd_origination")
    # (stage, reason) of each rule, in the order ``staging.stage_of`` reads them: the
    # first that holds (stage 3 first), else stage 1, current.
    rules = (
        (3, "written_off", f"i.status = '{LoanStatus.WRITTEN_OFF.value}'"),
        (3, "accelerated", "i.accelerated"),
        (3, "dpd_90", f"i.dpd >= {policy.DEFAULT_DPD}"),
        (2, "dpd_30", f"i.dpd >= {policy.SICR_DPD}"),
        (2, "pd_increase", f"({pdn}) >= {policy.SICR_PD_FACTOR} * ({pdo})"),
        (2, "forborne", "i.forborne"),
    )
    stage_of = " ".join(f"WHEN {when} THEN {stage}" for stage, _, when in rules)
    reason_of = " ".join(f"WHEN {when} THEN '{reason}'" for _, reason, when in rules)
    found = (
        select(
            literal_column("i.loan_id").label("loan_id"),
            literal_column("i.institution_id").label("institution_id"),
            literal_column("i.dpd").label("dpd"),
            literal_column(pdn).label("pd_now"),
            literal_column(pdo).label("pd_origination"),
            literal_column(years).label("years"),
            literal_column("i.lgd").label("lgd"),
            literal_column(ead).label("ead"),
            literal_column(f"CASE {stage_of} ELSE 1 END").label("stage"),
            literal_column(f"CASE {reason_of} ELSE 'current' END").label("reason"),
        )
        .select_from(inputs)
        .offset(0)
        .subquery("r")
    )
    stage = "r.stage"
    pd12 = f"coalesce(r.pd_now, {policy.UNRATED_PD})"
    pd_12m = f"CASE WHEN {stage} = 3 THEN {policy.ONE} ELSE " + _pd_over_text(
        pd12, f"least(CAST(1 AS {double}), r.years)"
    )
    pd_lifetime = f"CASE WHEN {stage} = 3 THEN {policy.ONE} ELSE " + _pd_over_text(pd12, "r.years")
    priced = (
        select(
            literal_column("r.loan_id").label("loan_id"),
            literal_column("r.institution_id").label("institution_id"),
            literal_column(stage).label("stage"),
            literal_column("r.reason").label("reason"),
            literal_column("r.dpd").label("dpd"),
            literal_column("r.pd_origination").label("pd_origination"),
            literal_column(f"{pd_12m} END").label("pd_12m"),
            literal_column(f"{pd_lifetime} END").label("pd_lifetime"),
            literal_column("r.lgd").label("lgd"),
            literal_column("r.ead").label("ead"),
        )
        .select_from(found)
        .offset(0)
        .subquery("p")
    )
    # ECL: PD (12-month in stage 1, lifetime otherwise) x LGD x EAD, half up to the cent.
    ecl = "round(CASE WHEN p.stage = 1 THEN p.pd_12m ELSE p.pd_lifetime END * p.lgd * p.ead, 2)"
    rows: Any = select(
        literal_column("p.loan_id"),
        literal(as_of, Date),
        literal_column("p.institution_id"),
        literal_column("p.stage"),
        literal_column("p.reason"),
        literal_column("p.dpd"),
        literal_column("p.pd_origination"),
        literal_column("p.pd_12m"),
        literal_column("p.pd_lifetime"),
        literal_column("p.lgd"),
        literal_column("p.ead"),
        literal_column(ecl),
    ).select_from(priced)
    written = (
        insert(STAGES)
        .from_select(
            [
                "loan_id",
                "as_of",
                "institution_id",
                "stage",
                "reason",
                "days_past_due",
                "pd_origination",
                "pd_12m",
                "pd_lifetime",
                "lgd",
                "ead",
                "ecl",
            ],
            rows,
        )
        .returning(STAGES.c.stage, STAGES.c.ecl)
        .cte("written")
    )
    return select(written.c.stage, func.count(), func.sum(written.c.ecl)).group_by(written.c.stage)


async def _stage_in_sql(
    conn: AsyncConnection,
    found: Staging,
    as_of: date,
    institution_id: uuid.UUID | None,
    after: uuid.UUID | None,
) -> uuid.UUID | None:
    """One batch staged in SQL (PostgreSQL); the batch's last loan (None: no more)."""
    terms = select(Loan.id, Product.type, Product.collateral_required).join(
        Product, Product.id == Loan.product_id
    )
    terms = _batch(terms.where(Loan.status == LoanStatus.ACTIVE), institution_id, after)
    loans = (await conn.execute(terms)).all()
    if not loans:
        return None
    # Doubles printed in their shortest exact form (PostgreSQL 12+), as Python's repr.
    await conn.execute(text("SET LOCAL extra_float_digits = 1"))
    ids = [loan_id for loan_id, _, _ in loans]
    lgds = [loan_lgd(product_type, bool(secured)) for _, product_type, secured in loans]
    for stage, count, ecl in (await conn.execute(_staged_sql(as_of, ids, lgds))).all():
        found.stages[stage] += count
        found.ecl += ecl or ZERO
        found.loans += count
    last: uuid.UUID = ids[-1]
    return last


@dataclass
class Provision:
    as_of: date
    entries: int = 0
    raised: Decimal = ZERO  # provision expense posted
    released: Decimal = ZERO  # allowance released


async def _allowance_accounts(
    session: AsyncSession, institution_id: uuid.UUID | None
) -> list[uuid.UUID]:
    stmt = select(LedgerAccount.id).where(LedgerAccount.code == AccountCode.LOSS_ALLOWANCE)
    if institution_id is not None:
        stmt = stmt.where(LedgerAccount.institution_id == institution_id)
    return list((await session.scalars(stmt)).all())


def _held_of(loan_id: Any, accounts: list[uuid.UUID]) -> Any:
    """A loan's loss allowance now in the ledger (its credit balance, as a positive): one
    probe of the lines' (loan, account) index."""
    if not accounts:
        return literal(None, Money()).label("held")
    return (
        select(type_coerce(func.sum(JournalLine.credit - JournalLine.debit), Money()))
        .where(JournalLine.loan_id == loan_id, JournalLine.account_id.in_(accounts))
        .scalar_subquery()
        .label("held")
    )


def _posting(
    as_of: date, institution: uuid.UUID, loan_id: uuid.UUID, held: Decimal, target: Decimal
) -> Posting | None:
    change = target - held
    if not change:
        return None
    if change > 0:
        legs = [
            Leg.debit(AccountCode.PROVISION_EXPENSE, change),
            Leg.credit(AccountCode.LOSS_ALLOWANCE, change),
        ]
    else:
        legs = [
            Leg.debit(AccountCode.LOSS_ALLOWANCE, -change),
            Leg.credit(AccountCode.PROVISION_EXPENSE, -change),
        ]
    return Posting(
        institution_id=institution,
        loan_id=loan_id,
        kind=EntryKind.PROVISION,
        effective_on=as_of,
        source=f"provision:{as_of.isoformat()}:{loan_id}",
        legs=legs,
        memo=f"loss allowance to {target} at {as_of.isoformat()}",
    )


async def _post(session: AsyncSession, found: Provision, postings: list[Posting]) -> None:
    """Post what the date has not posted yet, and count it (a rerun counts nothing)."""
    if not postings:
        return
    new = await ledger.post_fresh(session, postings)
    for p in new:
        for leg in p.kept:
            if leg.account is AccountCode.PROVISION_EXPENSE:
                found.raised += leg.debit_amount
                found.released += leg.credit_amount
    found.entries += len(new)


async def provide(
    sessions: async_sessionmaker[AsyncSession],
    *,
    as_of: date,
    institution_id: uuid.UUID | None = None,
) -> Provision:
    """Bring every staged loan's allowance to its ECL at ``as_of`` (once per date), and
    release the allowance of loans that left the book."""
    found = Provision(as_of=as_of)
    after: uuid.UUID | None = None
    while True:
        async with sessions() as session, session.begin():
            accounts = await _allowance_accounts(session, institution_id)
            stmt = (
                select(
                    LoanStage.loan_id,
                    LoanStage.institution_id,
                    LoanStage.ecl,
                    _held_of(LoanStage.loan_id, accounts),
                )
                .where(LoanStage.as_of == as_of)
                .order_by(LoanStage.loan_id)
                .limit(BATCH)
            )
            if institution_id is not None:
                stmt = stmt.where(LoanStage.institution_id == institution_id)
            if after is not None:
                stmt = stmt.where(LoanStage.loan_id > after)
            rows = (await (await session.connection()).execute(stmt)).all()
            if not rows:
                break
            postings = [
                p
                for r in rows
                if (p := _posting(as_of, r.institution_id, r.loan_id, r.held or ZERO, r.ecl))
                is not None
            ]
            await _post(session, found, postings)
            after = rows[-1].loan_id
    # Loans no longer staged (repaid since) that still carry an allowance: released.
    async with sessions() as session, session.begin():
        accounts = await _allowance_accounts(session, institution_id)
        if accounts:
            staged_now = exists().where(
                LoanStage.loan_id == JournalLine.loan_id, LoanStage.as_of == as_of
            )
            balance = func.sum(JournalLine.credit) - func.sum(JournalLine.debit)
            gone = (
                select(
                    Loan.id,
                    Loan.institution_id,
                    func.sum(JournalLine.credit),
                    func.sum(JournalLine.debit),
                )
                .join(Loan, Loan.id == JournalLine.loan_id)
                .where(
                    JournalLine.account_id.in_(accounts),
                    Loan.status != LoanStatus.ACTIVE,
                    ~staged_now,
                )
                .group_by(Loan.id, Loan.institution_id)
                .having(balance != 0)
            )
            postings = [
                p
                for loan_id, institution, credit, debit in (await session.execute(gone)).all()
                if (p := _posting(as_of, institution, loan_id, credit - debit, ZERO)) is not None
            ]
            for start in range(0, len(postings), BATCH):
                await _post(session, found, postings[start : start + BATCH])
    return found


# ------------------------------------------------------------------ reading the stages


@dataclass(frozen=True, slots=True)
class StageFigure:
    stage: int
    loans: int
    exposure: Decimal  # EAD
    allowance: Decimal  # ECL

    @property
    def coverage(self) -> float | None:
        return float(self.allowance / self.exposure) if self.exposure else None


@dataclass(frozen=True, slots=True)
class StageMove:
    from_stage: int | None  # None: not on the book at the earlier date
    to_stage: int | None  # None: off the book at the later date
    loans: int
    exposure: Decimal  # EAD at the earlier date (the later one for a new loan)


@dataclass(frozen=True, slots=True)
class Provisions:
    as_of: date | None  # the newest staging on or before the book date (None: never)
    previous: date | None  # the staging before it
    stages: tuple[StageFigure, ...]
    migration: tuple[StageMove, ...]

    @property
    def allowance(self) -> Decimal:
        return sum((s.allowance for s in self.stages), ZERO)

    @property
    def exposure(self) -> Decimal:
        return sum((s.exposure for s in self.stages), ZERO)


# Scopes a select on (an alias of) the stages table: ``narrow(stmt, table)``.
Narrow = Callable[[Any, Any], Any]


async def _dates(
    session: AsyncSession, narrow: Narrow, on: date
) -> tuple[date | None, date | None]:
    newest = await session.scalar(
        narrow(
            select(func.max(LoanStage.as_of)).where(LoanStage.as_of <= on),
            STAGES,
        )
    )
    if newest is None:
        return None, None
    before = await session.scalar(
        narrow(
            select(func.max(LoanStage.as_of)).where(LoanStage.as_of < newest),
            STAGES,
        )
    )
    return newest, before


async def provisions(session: AsyncSession, narrow: Narrow, *, on: date) -> Provisions:
    """Allowance by stage at the newest staging on or before ``on``, and how loans moved
    between stages since the staging before it. ``narrow`` scopes a select on
    ``LoanStage`` (the viewer's institutions, the filter's)."""
    newest, before = await _dates(session, narrow, on)
    if newest is None:
        empty = tuple(StageFigure(s, 0, ZERO, ZERO) for s in (1, 2, 3))
        return Provisions(as_of=None, previous=None, stages=empty, migration=())
    stmt = narrow(
        select(LoanStage.stage, func.count(), func.sum(LoanStage.ead), func.sum(LoanStage.ecl))
        .where(LoanStage.as_of == newest)
        .group_by(LoanStage.stage),
        STAGES,
    )
    by_stage = {s: (n, ead, ecl) for s, n, ead, ecl in (await session.execute(stmt)).all()}
    stages = tuple(
        StageFigure(s, int(by_stage[s][0]), by_stage[s][1], by_stage[s][2])
        if s in by_stage
        else StageFigure(s, 0, ZERO, ZERO)
        for s in (1, 2, 3)
    )
    moves: dict[tuple[int | None, int | None], tuple[int, Decimal]] = {}
    if before is not None:
        later = LoanStage.__table__.alias("later")
        earlier = LoanStage.__table__.alias("earlier")
        # From each loan staged at the earlier date: its stage then and now (or off).
        out = narrow(
            select(earlier.c.stage, later.c.stage, func.count(), func.sum(earlier.c.ead))
            .select_from(
                earlier.outerjoin(
                    later, and_(later.c.loan_id == earlier.c.loan_id, later.c.as_of == newest)
                )
            )
            .where(earlier.c.as_of == before)
            .group_by(earlier.c.stage, later.c.stage),
            earlier,
        )
        for a, b, n, ead in (await session.execute(out)).all():
            moves[(a, b)] = (int(n), ead)
    # Loans new to the book since (or every loan at the first staging).
    came = select(LoanStage.stage, func.count(), func.sum(LoanStage.ead)).where(
        LoanStage.as_of == newest
    )
    if before is not None:
        was = LoanStage.__table__.alias("was")
        came = came.where(
            ~exists().where(was.c.loan_id == LoanStage.loan_id, was.c.as_of == before)
        )
    came = narrow(came.group_by(LoanStage.stage), STAGES)
    for b, n, ead in (await session.execute(came)).all():
        moves[(None, b)] = (int(n), ead)
    migration = tuple(
        StageMove(from_stage=a, to_stage=b, loans=n, exposure=ead)
        for (a, b), (n, ead) in sorted(moves.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1] or 4))
    )
    return Provisions(as_of=newest, previous=before, stages=stages, migration=migration)
