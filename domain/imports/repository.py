"""Every SQL statement of the imports context: set-wise reads and writes per batch."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Row, Select, Table, bindparam, false, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.enterprises.models import Enterprise, FinancialStatement
from domain.identity.viewer import Viewer
from domain.imports.models import ImportRowResult, ImportRun
from kernel.pagination import Keyset, first_n_per_group
from privacy.models import DataKey

NEWEST = Keyset("newest", (ImportRun.id,), descending=True)
BY_ROW = Keyset("row", (ImportRowResult.row_number, ImportRowResult.id))

enterprises: Table = Enterprise.__table__  # type: ignore[assignment]
statements: Table = FinancialStatement.__table__  # type: ignore[assignment]
data_keys: Table = DataKey.__table__  # type: ignore[assignment]
row_results: Table = ImportRowResult.__table__  # type: ignore[assignment]

# Rows per INSERT: the drivers' bound-parameter limits stay far away.
CHUNK_ROWS = 1000


async def enterprises_by_codes(session: AsyncSession, codes: Collection[str]) -> Sequence[Row[Any]]:
    stmt = select(enterprises).where(enterprises.c.unified_social_credit_code.in_(codes))
    return (await session.execute(stmt)).all()


async def statements_of(session: AsyncSession, ids: Collection[uuid.UUID]) -> Sequence[Row[Any]]:
    stmt = select(statements).where(statements.c.enterprise_id.in_(ids))
    return (await session.execute(stmt)).all()


async def data_keys_of(session: AsyncSession, ids: Collection[uuid.UUID]) -> Sequence[Row[Any]]:
    stmt = select(data_keys).where(data_keys.c.subject_id.in_(ids))
    return (await session.execute(stmt)).all()


async def _insert(session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK_ROWS):
        await session.execute(insert(table), rows[start : start + CHUNK_ROWS])


async def insert_data_keys(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    await _insert(session, data_keys, rows)


async def insert_enterprises(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    await _insert(session, enterprises, rows)


async def insert_statements(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    await _insert(session, statements, rows)


async def _update_by_id(
    session: AsyncSession, table: Table, rows: Sequence[dict[str, Any]]
) -> None:
    """One UPDATE per row, sent as one executemany; rows carry ``id`` and every column set."""
    if not rows:
        return
    columns = [name for name in rows[0] if name != "id"]
    # Bound names differ from the column names: those are reserved for SET.
    stmt = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values({name: bindparam(f"b_{name}") for name in columns})
    )
    params = [{f"b_{name}": value for name, value in row.items()} for row in rows]
    await session.execute(stmt, params)


async def update_enterprises(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    await _update_by_id(session, enterprises, rows)


async def update_statements(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    await _update_by_id(session, statements, rows)


async def insert_row_results(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    await _insert(session, row_results, rows)


async def update_run(session: AsyncSession, run_id: uuid.UUID, values: dict[str, Any]) -> None:
    await session.execute(update(ImportRun).where(ImportRun.id == run_id).values(values))


def scoped(stmt: Select[Any], viewer: Viewer) -> Select[Any]:
    """Platform-wide viewers see every run; institution staff their institution's."""
    if viewer.sees_all_tenants:
        return stmt
    if not viewer.institution_ids:
        return stmt.where(false())
    return stmt.where(ImportRun.institution_id.in_(viewer.institution_ids))


async def list_runs(
    session: AsyncSession, *, viewer: Viewer, first: int, after: tuple[Any, ...] | None
) -> Sequence[ImportRun]:
    stmt = NEWEST.apply(scoped(select(ImportRun), viewer), after=after, limit=first + 1)
    return (await session.scalars(stmt)).all()


async def count_runs(session: AsyncSession, *, viewer: Viewer) -> int:
    stmt = select(func.count()).select_from(scoped(select(ImportRun.id), viewer).subquery())
    return int((await session.execute(stmt)).scalar_one())


async def runs_by_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[ImportRun]:
    stmt = scoped(select(ImportRun).where(ImportRun.id.in_(ids)), viewer)
    return (await session.scalars(stmt)).all()


async def row_results_of_runs(
    session: AsyncSession, *, run_ids: Sequence[uuid.UUID], limit: int
) -> Sequence[ImportRowResult]:
    """The first ``limit`` stored row results of each run (runs the caller already holds)."""
    stmt = first_n_per_group(
        select(ImportRowResult).where(ImportRowResult.run_id.in_(run_ids)),
        entity=ImportRowResult,
        partition_by=ImportRowResult.run_id,
        keyset=BY_ROW,
        limit=limit,
    )
    return (await session.scalars(stmt)).all()
