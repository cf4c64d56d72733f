"""Staging the book at a close date, and posting the change in its loss allowance.

``stage_book`` reads the active loans in id order, ``BATCH`` at a time (each batch one
read and one multi-row INSERT, in a transaction of its own), and keeps one
``LoanStage`` row per loan and date. ``provide`` then brings each loan's loss
allowance in the ledger (its sub-ledger's credit balance on ``loss_allowance``) to the
ECL staged for it: an increase debits provision expense and credits the allowance, a
decrease (a release) the other way round. Each loan's entry has the source
``provision:<date>:<loan>``, so a close repeated for the same date posts nothing twice.
A loan that left the book (repaid) with an allowance left has it released.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import (
    Table,
    and_,
    delete,
    exists,
    func,
    insert,
    literal,
    select,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.analytics.repository import end_of_day
from domain.collateral import repository as collateral
from domain.contracts.models import LoanTermination, TerminationKind
from domain.ledger import service as ledger
from domain.ledger.chart import AccountCode
from domain.ledger.models import EntryKind, JournalLine, LedgerAccount
from domain.ledger.service import Leg, Posting
from domain.lending.models import Installment, Loan, LoanStatus
from domain.products.models import Product
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


def _loans(as_of: date, institution_id: uuid.UUID | None, after: uuid.UUID | None) -> Any:
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
    stmt = (
        select(
            Loan.id,
            Loan.institution_id,
            Loan.status,
            Loan.days_past_due,
            Loan.maturity_on,
            Loan.outstanding_principal,
            unpaid,
            Product.type,
            Product.collateral_required,
            pd_in_force(Loan.enterprise_id, end_of_day(as_of)),
            _pd_at_origination(),
            accelerated,
            Loan.forborne,
        )
        .join(Product, Product.id == Loan.product_id)
        .where(Loan.status == LoanStatus.ACTIVE)
        .order_by(Loan.id)
        .limit(BATCH)
    )
    if institution_id is not None:
        stmt = stmt.where(Loan.institution_id == institution_id)
    if after is not None:
        stmt = stmt.where(Loan.id > after)
    return stmt


async def stage_book(
    sessions: async_sessionmaker[AsyncSession],
    *,
    as_of: date,
    institution_id: uuid.UUID | None = None,
) -> Staging:
    """Stage every active loan (of one institution, or all) at ``as_of``; a rerun
    replaces the date's rows."""
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
            rows = (await conn.execute(_loans(as_of, institution_id, after))).all()
            if not rows:
                break
            # The batch's own collateral and guarantees: one statement (domain/collateral).
            covers = await collateral.covers(conn, [row[0] for row in rows])
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
                ead = outstanding + (unpaid or ZERO)
                cover = covers.get(loan_id)
                s = staged(
                    Exposure(
                        days_past_due=dpd,
                        pd_now=_pd(pd_now),
                        pd_origination=_pd(pd_origination),
                        forborne=bool(forborne),
                        written_off=status is LoanStatus.WRITTEN_OFF,
                        accelerated=bool(accelerated),
                        days_to_maturity=(maturity_on - as_of).days,
                        lgd=policy.lgd_of(product_type, bool(secured))
                        if cover is None
                        else policy.lgd_with_cover(product_type, cover, ead),
                        ead=ead,
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
            after = rows[-1][0]
    return found


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
