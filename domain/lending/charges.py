"""Daily accrual: interest earned, penalty interest and late fees, up to a day.

What a loan's servicing says it is owed beyond principal, as the ledger must hold it
(``expected``), at the day its accrual has reached (``Loan.accrued_through``):

- interest receivable: each instalment's scheduled interest, earned evenly over its
  period by the product's day count (from the previous due date, the first from the
  payout, to its own due date; a whole period once it is due), less what was paid on
  it, never below zero (interest paid ahead of being earned goes straight to income);
- fees receivable: late fees charged and unpaid;
- penalties receivable: penalty interest charged and unpaid.

``accrue`` moves the marker to ``as_of`` for every active loan of the scope behind it,
charging on the way:

- a late fee, once per instalment still unpaid when its grace period has run out
  (``due_on + grace_days < as_of``): ``late_fee_fixed + late_fee_rate x what the
  instalment still owes``, at most ``late_fee_cap``;
- penalty interest on each instalment's unpaid principal for the days past its grace
  period since the last accrual, at ``penalty_rate`` a year by the product's day count,
  the instalment's total held within ``penalty_cap_multiple x its principal`` (1.0
  is the "in duplum" rule: arrears never grow beyond the principal they arose on).
  Run daily, the principal is the one overdue that day; a payment recorded later for an
  earlier day does not recompute penalty interest already charged.

It posts one accrual entry per loan per day (interest receivable against interest
income, penalties receivable against penalty income) and one charge entry per late fee
(fees receivable against fee income), each under a source that posts once. Running it
twice for one day posts once: loans already accrued through ``as_of`` are not read.

Any change to a loan's schedule (a payment, its reversal, an amendment) calls
``true_up`` in its transaction: the ledger is brought to ``expected`` for the new
schedule at the same marker, so the books and the loan never disagree.

Batches: one read of loans (with their product's terms), one of the instalments the day
can change (``_accrued_rows``), one UPDATE of the loans (guarded by each loan's version:
a loan changed meanwhile fails the run, which is retried whole), one of the charged
instalments, and the ledger's ``post_many``; a constant number of statements per
``batch`` loans. The figures come from the same functions as ``true_up``'s, so the bulk
pass posts what a per-loan pass over every instalment did
(tests/domain/lending/test_accrual_bulk.py holds that path as its oracle).
"""

from __future__ import annotations

import enum
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import Date, Table, and_, bindparam, func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.applications.service import REVIEWERS, Actor, require_role
from domain.audit.service import record
from domain.ledger import service as ledger
from domain.ledger.chart import AccountCode
from domain.ledger.models import EntryKind
from domain.ledger.service import Leg, Posting
from domain.lending.daycount import days_between, days_in_year
from domain.lending.models import Installment, Loan, LoanStatus
from domain.products.models import DayCount, Product
from kernel.base import utcnow
from kernel.errors import Conflict, InvalidInput

ZERO = Decimal("0.00")
CENT = Decimal("0.01")


class ChargeKind(enum.Enum):
    LATE_FEE = "late_fee"
    PENALTY_INTEREST = "penalty_interest"


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class Terms:
    """A product's charges and interest terms."""

    day_count: DayCount = DayCount.THIRTY_360
    grace_days: int = 0
    late_fee_fixed: Decimal = ZERO
    late_fee_rate: Decimal = Decimal(0)
    late_fee_cap: Decimal | None = None
    penalty_rate: Decimal = Decimal(0)
    penalty_cap_multiple: Decimal | None = None


def terms_of(product: Product) -> Terms:
    return Terms(
        day_count=product.day_count,
        grace_days=product.grace_days,
        late_fee_fixed=product.late_fee_fixed,
        late_fee_rate=product.late_fee_rate,
        late_fee_cap=product.late_fee_cap,
        penalty_rate=product.penalty_rate,
        penalty_cap_multiple=product.penalty_cap_multiple,
    )


@dataclass(frozen=True, slots=True)
class Row:
    """What accrual reads of an instalment."""

    id: uuid.UUID
    sequence: int
    due_on: date
    principal_due: Decimal
    interest_due: Decimal
    fee_due: Decimal
    principal_paid: Decimal
    interest_paid: Decimal
    fee_paid: Decimal
    late_fee_due: Decimal
    late_fee_paid: Decimal
    late_fee_charged_on: date | None
    penalty_due: Decimal
    penalty_paid: Decimal


def earned(
    interest_due: Decimal, start: date, due_on: date, through: date, day_count: DayCount
) -> Decimal:
    """Interest of a period from ``start`` to ``due_on`` earned by the end of ``through``."""
    if through >= due_on:
        return interest_due
    if through <= start:
        return ZERO
    whole = days_between(start, due_on, day_count)
    if whole <= 0:
        return interest_due
    part = min(max(days_between(start, through, day_count), 0), whole)
    return cents(interest_due * part / whole)


def interest_receivable(
    rows: Sequence[Row], *, disbursed_on: date, through: date | None, day_count: DayCount
) -> Decimal:
    if through is None:
        return ZERO
    total = ZERO
    start = disbursed_on
    for row in sorted(rows, key=lambda r: r.sequence):
        got = earned(row.interest_due, start, row.due_on, through, day_count)
        total += max(got - row.interest_paid, ZERO)
        start = row.due_on
    return total


def expected(
    rows: Sequence[Row], *, disbursed_on: date, through: date | None, day_count: DayCount
) -> dict[AccountCode, Decimal]:
    """What the ledger must hold for the loan beyond principal; see the module docstring."""
    return {
        AccountCode.INTEREST_RECEIVABLE: interest_receivable(
            rows, disbursed_on=disbursed_on, through=through, day_count=day_count
        ),
        AccountCode.FEES_RECEIVABLE: sum((r.late_fee_due - r.late_fee_paid for r in rows), ZERO),
        AccountCode.PENALTIES_RECEIVABLE: sum((r.penalty_due - r.penalty_paid for r in rows), ZERO),
    }


_INCOME = {
    AccountCode.INTEREST_RECEIVABLE: AccountCode.INTEREST_INCOME,
    AccountCode.FEES_RECEIVABLE: AccountCode.FEE_INCOME,
    AccountCode.PENALTIES_RECEIVABLE: AccountCode.PENALTY_INCOME,
}


def _moves(receivable: AccountCode, delta: Decimal) -> list[Leg]:
    """A receivable up (income earned) or down (income taken back) by ``delta``."""
    income = _INCOME[receivable]
    if delta >= 0:
        return [Leg.debit(receivable, delta), Leg.credit(income, delta)]
    return [Leg.credit(receivable, -delta), Leg.debit(income, -delta)]


def row_of(row: Installment) -> Row:
    return Row(
        id=row.id,
        sequence=row.sequence,
        due_on=row.due_on,
        principal_due=row.principal_due,
        interest_due=row.interest_due,
        fee_due=row.fee_due,
        principal_paid=row.principal_paid,
        interest_paid=row.interest_paid,
        fee_paid=row.fee_paid,
        late_fee_due=row.late_fee_due,
        late_fee_paid=row.late_fee_paid,
        late_fee_charged_on=row.late_fee_charged_on,
        penalty_due=row.penalty_due,
        penalty_paid=row.penalty_paid,
    )


async def true_up(session: AsyncSession, loan: Loan, *, source: str, on: date) -> None:
    """Bring the loan's receivables in the ledger to what its schedule now says."""
    await session.flush()
    rows = (await session.scalars(select(Installment).where(Installment.loan_id == loan.id))).all()
    product = await session.get_one(Product, loan.product_id)
    wanted = (
        {}
        if loan.status is LoanStatus.WRITTEN_OFF
        else expected(
            [row_of(r) for r in rows],
            disbursed_on=loan.disbursed_on,
            through=loan.accrued_through,
            day_count=product.day_count,
        )
    )
    held = (await ledger.loan_balances(session, [loan.id]))[loan.id]
    legs: list[Leg] = []
    for code, amount in wanted.items():
        delta = amount - held.get(code, ZERO)
        if delta:
            legs += _moves(code, delta)
    if legs:
        await ledger.post(
            session,
            institution_id=loan.institution_id,
            loan_id=loan.id,
            kind=EntryKind.ACCRUAL,
            effective_on=on,
            source=source,
            legs=legs,
            memo="accrual brought to the schedule",
        )


# ----------------------------------------------------------------------------- accrual


@dataclass(frozen=True, slots=True)
class Accrued:
    as_of: date
    loans: int  # loans brought up to as_of
    interest: Decimal
    penalty: Decimal
    late_fees: Decimal
    late_fees_charged: int


@dataclass(frozen=True, slots=True)
class _LoanRead:
    id: uuid.UUID
    version: int
    institution_id: uuid.UUID
    disbursed_on: date
    accrued_through: date | None
    terms: Terms


def charge_lines(
    rows: Sequence[Row], *, terms: Terms, since: date, as_of: date
) -> list[tuple[Row, Decimal, Decimal]]:
    """(row, late fee charged now, penalty interest charged now) for each row charged."""
    grace = timedelta(days=terms.grace_days)
    out = []
    for row in rows:
        late = row.due_on + grace  # the grace period's last day
        if late >= as_of:
            continue
        owed = (
            row.principal_due
            - row.principal_paid
            + row.interest_due
            - row.interest_paid
            + row.fee_due
            - row.fee_paid
        )
        fee = ZERO
        if row.late_fee_charged_on is None and owed > 0:
            fee = terms.late_fee_fixed + cents(terms.late_fee_rate * owed)
            if terms.late_fee_cap is not None:
                fee = min(fee, terms.late_fee_cap)
        penalty = ZERO
        principal = row.principal_due - row.principal_paid
        start = max(since, late)
        if terms.penalty_rate and principal > 0 and as_of > start:
            days = days_between(start, as_of, terms.day_count)
            penalty = cents(principal * terms.penalty_rate * days / days_in_year(terms.day_count))
            if terms.penalty_cap_multiple is not None:
                ceiling = cents(row.principal_due * terms.penalty_cap_multiple)
                penalty = max(min(penalty, ceiling - row.penalty_due), ZERO)
        if fee or penalty:
            out.append((row, fee, penalty))
    return out


async def accrue(
    session: AsyncSession,
    *,
    as_of: date,
    institution_id: uuid.UUID | None = None,
    loan_ids: Sequence[uuid.UUID] | None = None,
    batch: int = 2000,
) -> Accrued:
    """Accrue every active loan of the scope (an institution, some loans, or all)
    through ``as_of``; see the module docstring. Runs in the caller's transaction."""
    loans_done = 0
    totals = {"interest": ZERO, "penalty": ZERO, "late_fees": ZERO}
    charged = 0
    after: uuid.UUID | None = None
    while True:
        stmt = (
            select(
                Loan.id,
                Loan.version,
                Loan.institution_id,
                Loan.disbursed_on,
                Loan.accrued_through,
                Product.day_count,
                Product.grace_days,
                Product.late_fee_fixed,
                Product.late_fee_rate,
                Product.late_fee_cap,
                Product.penalty_rate,
                Product.penalty_cap_multiple,
            )
            .join(Product, Product.id == Loan.product_id)
            .where(
                Loan.status == LoanStatus.ACTIVE,
                (Loan.accrued_through.is_(None)) | (Loan.accrued_through < as_of),
                Loan.disbursed_on < as_of,
            )
            .order_by(Loan.id)
            .limit(batch)
        )
        if institution_id is not None:
            stmt = stmt.where(Loan.institution_id == institution_id)
        if loan_ids is not None:
            stmt = stmt.where(Loan.id.in_(loan_ids))
        if after is not None:
            stmt = stmt.where(Loan.id > after)
        found = [
            _LoanRead(
                id=r[0],
                version=r[1],
                institution_id=r[2],
                disbursed_on=r[3],
                accrued_through=r[4],
                terms=Terms(*r[5:]),
            )
            for r in (await session.execute(stmt)).all()
        ]
        if not found:
            break
        after = found[-1].id
        result = await _accrue_batch(session, found, as_of=as_of)
        loans_done += len(found)
        for key in totals:
            totals[key] += result[key]
        charged += int(result["charged"])
    record(
        session,
        action="loans.accrued",
        entity_type="loans",
        entity_id=as_of.isoformat(),
        institution=None if institution_id is None else str(institution_id),
        loans=loans_done,
        interest=str(totals["interest"]),
        penalty=str(totals["penalty"]),
        late_fees=str(totals["late_fees"]),
    )
    return Accrued(
        as_of=as_of,
        loans=loans_done,
        interest=totals["interest"],
        penalty=totals["penalty"],
        late_fees=totals["late_fees"],
        late_fees_charged=charged,
    )


def _accrued_rows(loan_ids: Sequence[uuid.UUID], as_of: date) -> Any:
    """The instalments of ``loan_ids`` whose figures can change by accruing to ``as_of``,
    each with the previous instalment's due date (where its interest period starts).

    Left out, as they add nothing: instalments due on or before the loan's marker (their
    interest was whole then and is whole now) unless they still owe something overdue
    (a late fee or penalty interest may fall due), and those whose period starts on or
    after ``as_of`` (nothing earned yet, nor before). The previous due date is taken over
    every instalment of the loan, before any is left out."""
    i = Installment
    every = (
        select(
            i.loan_id,
            i.id,
            i.sequence,
            i.due_on,
            i.principal_due,
            i.interest_due,
            i.fee_due,
            i.principal_paid,
            i.interest_paid,
            i.fee_paid,
            i.late_fee_due,
            i.late_fee_paid,
            i.late_fee_charged_on,
            i.penalty_due,
            i.penalty_paid,
            # typed, so SQLite's text comes back a date
            func.lag(i.due_on, type_=Date)
            .over(partition_by=i.loan_id, order_by=i.sequence)
            .label("previous_due_on"),
            Loan.accrued_through,
        )
        .join(Loan, Loan.id == i.loan_id)
        .where(
            i.loan_id.in_(loan_ids),
            # The batch's id range as well (it is read in id order): a range scan of the
            # indexes; on the list alone PostgreSQL scans every instalment per batch.
            i.loan_id.between(min(loan_ids), max(loan_ids)),
            Loan.id.between(min(loan_ids), max(loan_ids)),
        )
        .subquery()
    )
    c = every.c
    owed = (
        c.principal_due
        - c.principal_paid
        + c.interest_due
        - c.interest_paid
        + c.fee_due
        - c.fee_paid
    )
    earning = and_(
        or_(c.accrued_through.is_(None), c.due_on > c.accrued_through),
        or_(c.previous_due_on.is_(None), c.previous_due_on < as_of),
    )
    overdue = and_(c.due_on < as_of, or_(owed > 0, c.principal_due > c.principal_paid))
    return select(*list(every.c)[:-1]).where(or_(earning, overdue))


def _interest_between(
    row: Row, start: date, *, before: date | None, now: date, day_count: DayCount
) -> Decimal:
    """What one instalment adds to interest receivable from ``before`` to ``now`` (its
    term of ``interest_receivable`` then and now)."""
    later = max(
        earned(row.interest_due, start, row.due_on, now, day_count) - row.interest_paid, ZERO
    )
    if before is None:
        return later
    earlier = max(
        earned(row.interest_due, start, row.due_on, before, day_count) - row.interest_paid, ZERO
    )
    return later - earlier


async def _accrue_batch(
    session: AsyncSession, loans: Sequence[_LoanRead], *, as_of: date
) -> dict[str, Decimal]:
    """One pass over a batch: one read of the instalments that can change, the day's
    figures per loan in Python (the same functions as ``true_up``), and set-based writes:
    one UPDATE of the loans, one of the changed instalments, the entries in bulk."""
    by_loan: dict[uuid.UUID, list[tuple[Row, date | None]]] = defaultdict(list)
    for r in (await session.execute(_accrued_rows([loan.id for loan in loans], as_of))).all():
        by_loan[r[0]].append((Row(*tuple(r)[1:15]), r[15]))
    postings: list[Posting] = []
    changes: list[tuple[uuid.UUID, Decimal, date | None, Decimal]] = []
    interest_total = penalty_total = fee_total = ZERO
    charged = 0
    for loan in loans:
        found = by_loan.get(loan.id, [])
        dc = loan.terms.day_count
        since = loan.accrued_through or loan.disbursed_on
        interest = sum(
            (
                _interest_between(
                    row,
                    previous or loan.disbursed_on,
                    before=loan.accrued_through,
                    now=as_of,
                    day_count=dc,
                )
                for row, previous in found
            ),
            ZERO,
        )
        rows = [row for row, _ in found]
        penalty = ZERO
        for row, fee, pen in charge_lines(rows, terms=loan.terms, since=since, as_of=as_of):
            penalty += pen
            changes.append(
                (
                    row.id,
                    row.late_fee_due + fee,
                    row.due_on + timedelta(days=loan.terms.grace_days + 1)
                    if fee
                    else row.late_fee_charged_on,
                    row.penalty_due + pen,
                )
            )
            if fee:
                charged += 1
                fee_total += fee
                postings.append(
                    Posting(
                        institution_id=loan.institution_id,
                        loan_id=loan.id,
                        kind=EntryKind.CHARGE,
                        effective_on=as_of,
                        source=f"late_fee:{row.id}",
                        legs=_moves(AccountCode.FEES_RECEIVABLE, fee),
                        memo=f"late fee, instalment {row.sequence}",
                    )
                )
        interest_total += interest
        penalty_total += penalty
        legs = [
            *_moves(AccountCode.INTEREST_RECEIVABLE, interest),
            *_moves(AccountCode.PENALTIES_RECEIVABLE, penalty),
        ]
        postings.append(
            Posting(
                institution_id=loan.institution_id,
                loan_id=loan.id,
                kind=EntryKind.ACCRUAL,
                effective_on=as_of,
                source=f"accrual:{loan.id}:{as_of.isoformat()}",
                legs=legs,
                memo="daily accrual",
            )
        )
    if await _move_markers(session, loans, as_of) != len(loans):
        raise Conflict("a loan changed while its interest accrued: run the accrual again")
    await _charge_instalments(session, changes)
    await ledger.post_many(session, postings)
    return {
        "interest": interest_total,
        "penalty": penalty_total,
        "late_fees": fee_total,
        "charged": Decimal(charged),
    }


# PostgreSQL: the batch's loans joined on their (id, version) as arrays, one index probe
# each (a row-value IN list is a filter PostgreSQL tests every value of against each row).
_MARKERS_UNNEST = (
    f"UPDATE {Loan.__tablename__} AS l SET accrued_through = $1, version = l.version + 1, "  # noqa: S608
    "updated_at = $4 "  # as the ORM's onupdate sets it on SQLite: the risk scan reads it
    "FROM unnest($2::uuid[], $3::int[]) AS v(id, version) "
    "WHERE l.id = v.id AND l.version = v.version"
)


async def _move_markers(session: AsyncSession, loans: Sequence[_LoanRead], as_of: date) -> int:
    """Move each loan's marker to ``as_of`` unless its version moved since it was read;
    the number moved. One statement, so its row count is the loans moved on every
    driver (asyncpg reports none for an executemany)."""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        status = await driver.execute(
            _MARKERS_UNNEST,
            as_of,
            [loan.id for loan in loans],
            [loan.version for loan in loans],
            utcnow(),
        )
        return int(status.rsplit(" ", 1)[1])  # "UPDATE <rows>"
    table: Table = Loan.__table__  # type: ignore[assignment]
    moved = await session.execute(
        update(table)
        .where(tuple_(table.c.id, table.c.version).in_([(loan.id, loan.version) for loan in loans]))
        .values(accrued_through=as_of, version=table.c.version + 1)
    )
    return int(moved.rowcount)  # type: ignore[attr-defined]


# PostgreSQL: every changed instalment in one statement, its values as arrays (the
# model's own table name; every value a bound parameter).
_CHARGE_UNNEST = (
    f"UPDATE {Installment.__tablename__} AS i SET late_fee_due = v.late_fee_due, "  # noqa: S608
    "late_fee_charged_on = v.late_fee_charged_on, penalty_due = v.penalty_due "
    "FROM unnest($1::uuid[], $2::numeric[], $3::date[], $4::numeric[]) "
    "AS v(id, late_fee_due, late_fee_charged_on, penalty_due) WHERE i.id = v.id"
)


async def _charge_instalments(
    session: AsyncSession, changes: Sequence[tuple[uuid.UUID, Decimal, date | None, Decimal]]
) -> None:
    """Set the late fee, its date and penalty interest charged on each changed instalment."""
    if not changes:
        return
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        await driver.execute(
            _CHARGE_UNNEST, *(list(column) for column in zip(*changes, strict=True))
        )
        return
    rows_table: Table = Installment.__table__  # type: ignore[assignment]
    await session.execute(
        update(rows_table)
        .where(rows_table.c.id == bindparam("b_id"))
        .values(
            late_fee_due=bindparam("late_fee_due"),
            late_fee_charged_on=bindparam("late_fee_charged_on"),
            penalty_due=bindparam("penalty_due"),
        ),
        [
            {"b_id": i, "late_fee_due": f, "late_fee_charged_on": c, "penalty_due": p}
            for i, f, c, p in changes
        ],
    )


async def run_accrual(
    session: AsyncSession, actor: Actor, institution_id: uuid.UUID, *, as_of: date | None = None
) -> Accrued:
    """An institution's staff who take payments accrue its book up to a day (today when
    left out, never later)."""
    require_role(actor.viewer, institution_id, REVIEWERS, "run the accrual")
    today = utcnow().date()
    day = as_of or today
    if day > today:
        raise InvalidInput("asOf: interest is not accrued ahead of today", field="asOf")
    return await accrue(session, as_of=day, institution_id=institution_id)
