"""Every SQL statement of the ledger. Rows are scoped by ``visible()``, in SQL."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, false, func, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from domain.identity.viewer import Viewer
from domain.ledger.chart import CHART, AccountCode
from domain.ledger.models import EntryKind, JournalEntry, JournalLine, LedgerAccount, LedgerDayTotal
from kernel.base import new_id
from kernel.pagination import Keyset, Page, page_from

NEWEST = Keyset("newest", (JournalEntry.id,), descending=True)
ZERO = Decimal("0.00")


def visible(viewer: Viewer, rows: type[JournalEntry] = JournalEntry) -> ColumnElement[bool]:
    """An institution's book is its staff's (which fields they read is Casbin's call);
    platform roles see every book; borrowers see none."""
    if viewer.sees_all_tenants:
        return true()
    if viewer.institution_ids:
        return rows.institution_id.in_(viewer.institution_ids)
    return false()


def sees_book(viewer: Viewer, institution_id: uuid.UUID) -> bool:
    """The same rule as ``visible`` for one institution's book as a whole."""
    return viewer.sees_all_tenants or institution_id in viewer.institution_ids


def _insert(session: AsyncSession, model: type[Any]) -> Any:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(model)


async def account_ids(
    session: AsyncSession, institution_ids: Sequence[uuid.UUID]
) -> dict[tuple[uuid.UUID, AccountCode], uuid.UUID]:
    """Each institution's accounts by code, opening its chart where it has none yet."""
    stmt = select(LedgerAccount.institution_id, LedgerAccount.code, LedgerAccount.id).where(
        LedgerAccount.institution_id.in_(institution_ids)
    )
    found = {(i, c): a for i, c, a in (await session.execute(stmt)).all()}
    missing = [
        {"id": new_id(), "institution_id": i, "code": s.code, "gl_code": s.gl_code, "name": s.name}
        for i in set(institution_ids)
        for s in CHART
        if (i, s.code) not in found
    ]
    if missing:
        # Two first postings of one institution may race: the loser's rows are skipped.
        await session.execute(
            _insert(session, LedgerAccount).on_conflict_do_nothing(
                index_elements=["institution_id", "code"]
            ),
            missing,
        )
        found = {(i, c): a for i, c, a in (await session.execute(stmt)).all()}
    return found


async def posted_sources(
    session: AsyncSession, institution_id: uuid.UUID, sources: Sequence[str]
) -> dict[str, uuid.UUID]:
    stmt = select(JournalEntry.source, JournalEntry.id).where(
        JournalEntry.institution_id == institution_id, JournalEntry.source.in_(sources)
    )
    return {row.source: row.id for row in (await session.execute(stmt)).all()}


async def add_to_day_totals(
    session: AsyncSession, totals: Mapping[tuple[uuid.UUID, date], tuple[Decimal, Decimal]]
) -> None:
    """Add (debit, credit) to each (account, day)'s running totals."""
    if not totals:
        return
    stmt = _insert(session, LedgerDayTotal)
    stmt = stmt.on_conflict_do_update(
        index_elements=["account_id", "day"],
        set_={
            "debit": LedgerDayTotal.debit + stmt.excluded.debit,
            "credit": LedgerDayTotal.credit + stmt.excluded.credit,
        },
    )
    rows = [
        {"account_id": account, "day": day, "debit": debit, "credit": credit}
        for (account, day), (debit, credit) in sorted(totals.items())
    ]
    await session.execute(stmt, rows)


@dataclass(frozen=True, slots=True)
class AccountTotal:
    code: AccountCode
    gl_code: str
    name: str
    debit: Decimal
    credit: Decimal


async def account_totals(
    session: AsyncSession, institution_id: uuid.UUID, as_of: date
) -> list[AccountTotal]:
    """Debits and credits per account of the institution, effective up to ``as_of``."""
    stmt = (
        select(
            LedgerAccount.code,
            LedgerAccount.gl_code,
            LedgerAccount.name,
            func.coalesce(func.sum(LedgerDayTotal.debit), 0),
            func.coalesce(func.sum(LedgerDayTotal.credit), 0),
        )
        .select_from(LedgerAccount)
        .outerjoin(
            LedgerDayTotal,
            (LedgerDayTotal.account_id == LedgerAccount.id) & (LedgerDayTotal.day <= as_of),
        )
        .where(LedgerAccount.institution_id == institution_id)
        .group_by(LedgerAccount.code, LedgerAccount.gl_code, LedgerAccount.name)
    )
    # The sums are typed as their columns, so SQLite's scaled integers come back as Money.
    return [AccountTotal(*row) for row in (await session.execute(stmt)).all()]


async def loan_balances(
    session: AsyncSession, loan_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[AccountCode, Decimal]]:
    """Each loan's balance per account, debit minus credit."""
    stmt = (
        select(
            JournalLine.loan_id,
            LedgerAccount.code,
            func.sum(JournalLine.debit),
            func.sum(JournalLine.credit),
        )
        .join(LedgerAccount, LedgerAccount.id == JournalLine.account_id)
        .where(JournalLine.loan_id.in_(loan_ids))
        .group_by(JournalLine.loan_id, LedgerAccount.code)
    )
    found: dict[uuid.UUID, dict[AccountCode, Decimal]] = {i: {} for i in loan_ids}
    for loan_id, code, debit, credit in (await session.execute(stmt)).all():
        assert loan_id is not None  # filtered on
        found[loan_id][code] = debit - credit
    return found


@dataclass(frozen=True, slots=True)
class EntryFilter:
    institution_id: uuid.UUID | None = None
    loan_id: uuid.UUID | None = None
    kinds: Sequence[EntryKind] | None = None
    effective_from: date | None = None
    effective_to: date | None = None


def listing(viewer: Viewer, flt: EntryFilter) -> Select[Any]:
    stmt = select(JournalEntry).where(visible(viewer))
    if flt.institution_id is not None:
        stmt = stmt.where(JournalEntry.institution_id == flt.institution_id)
    if flt.loan_id is not None:
        stmt = stmt.where(JournalEntry.loan_id == flt.loan_id)
    if flt.kinds:
        stmt = stmt.where(JournalEntry.kind.in_(flt.kinds))
    if flt.effective_from is not None:
        stmt = stmt.where(JournalEntry.effective_on >= flt.effective_from)
    if flt.effective_to is not None:
        stmt = stmt.where(JournalEntry.effective_on <= flt.effective_to)
    return stmt


async def list_entries(
    session: AsyncSession,
    *,
    viewer: Viewer,
    flt: EntryFilter,
    first: int,
    after: tuple[Any, ...] | None,
) -> Page[JournalEntry]:
    stmt = NEWEST.apply(listing(viewer, flt), after=after, limit=first + 1)
    return page_from((await session.scalars(stmt)).all(), first)


async def count_entries(session: AsyncSession, *, viewer: Viewer, flt: EntryFilter) -> int:
    stmt = select(func.count()).select_from(listing(viewer, flt).subquery())
    return int((await session.execute(stmt)).scalar_one())


async def entries_by_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[JournalEntry]:
    stmt = select(JournalEntry).where(JournalEntry.id.in_(ids), visible(viewer))
    return (await session.scalars(stmt)).all()


async def entry_reversing(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[JournalEntry]:
    stmt = select(JournalEntry).where(JournalEntry.reverses_id.in_(ids), visible(viewer))
    return (await session.scalars(stmt)).all()


@dataclass(frozen=True, slots=True)
class LineRow:
    entry_id: uuid.UUID
    code: AccountCode
    gl_code: str
    debit: Decimal
    credit: Decimal


async def lines_by_entry_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[LineRow]:
    stmt = (
        select(
            JournalLine.entry_id,
            LedgerAccount.code,
            LedgerAccount.gl_code,
            JournalLine.debit,
            JournalLine.credit,
        )
        .join(LedgerAccount, LedgerAccount.id == JournalLine.account_id)
        .where(JournalLine.entry_id.in_(ids))
        .order_by(JournalLine.entry_id, JournalLine.id)
    )
    return [LineRow(*row) for row in (await session.execute(stmt)).all()]


async def entry_for_change(session: AsyncSession, entry_id: uuid.UUID) -> JournalEntry | None:
    return await session.get(JournalEntry, entry_id)


async def reversal_of(session: AsyncSession, entry_id: uuid.UUID) -> uuid.UUID | None:
    found: uuid.UUID | None = await session.scalar(
        select(JournalEntry.id).where(JournalEntry.reverses_id == entry_id)
    )
    return found
