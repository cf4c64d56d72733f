"""Bulk writes for jobs that write thousands of rows per transaction (the risk scan).

On PostgreSQL rows go in with binary COPY on the session's own connection, inside its
transaction: several times faster than a multi-row INSERT, which costs a bound parameter
per value. Writes that must skip or merge conflicting rows are COPYed into a temporary
staging table first and moved with one ``INSERT ... SELECT ... ON CONFLICT``. On SQLite,
the same statements run as executemany, which is already in-process and fast.

Values are converted as the ORM binds them (each column type's bind processor: enums to
their stored values, exact decimals, aware timestamps; JSON through the standard encoder,
as the ORM's does), so a row written here reads back the same as one written through it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import JSON, Column, Table, text
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from kernel.base import Base

# JSON as the ORM binds it, less the encoder's per-call set-up and cycle check: the
# values are plain dicts built by the caller, never cyclic.
_json_text = json.JSONEncoder(check_circular=False).encode


def _processor(column: Column[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    if isinstance(column.type, JSON):
        return _json_text
    fn: Callable[[Any], Any] | None = column.type.bind_processor(dialect)
    return fn


def _records(
    table: Table, columns: Sequence[str], rows: Sequence[Mapping[str, Any]], dialect: Dialect
) -> list[tuple[Any, ...]]:
    """The rows as COPY takes them, converted a column at a time."""
    converted = []
    for name in columns:
        values = [row[name] for row in rows]
        fn = _processor(table.c[name], dialect)
        converted.append(values if fn is None else list(map(fn, values)))
    return list(zip(*converted, strict=True))


async def _copy(
    session: AsyncSession,
    table: Table,
    into: str,
    columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
) -> None:
    await _copy_on(await session.connection(), table, into, columns, rows)


async def _copy_on(
    connection: AsyncConnection,
    table: Table,
    into: str,
    columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
) -> None:
    records = _records(table, columns, rows, connection.dialect)
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    await driver.copy_records_to_table(into, records=records, columns=list(columns))


def _table(model: type[Base], columns: Sequence[str]) -> Table:
    """The model's table, once the rows' columns are known to cover every required one
    (COPY runs no Python-side defaults, so none is left to them on any database)."""
    table = cast(Table, model.__table__)
    missing = [
        c.name
        for c in table.c
        if c.name not in columns and not c.nullable and c.server_default is None
    ]
    if missing:
        raise ValueError(f"rows for {table.name} lack {', '.join(missing)}")
    return table


async def insert_rows(
    session: AsyncSession, model: type[Base], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert rows (each with every column named in the first) into ``model``'s table."""
    if not rows:
        return
    table = _table(model, list(rows[0]))
    if session.get_bind().dialect.name != "postgresql":
        await session.execute(table.insert(), list(rows))
        return
    await _copy(session, table, table.name, list(rows[0]), rows)


async def append_rows(
    connection: AsyncConnection, model: type[Base], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert rows as one statement of its own, committed, outside any transaction: the
    compiled read path appends a request's access-log entries this way after its read.

    On PostgreSQL one ``INSERT ... SELECT FROM unnest(<one array per column>)``: a single
    round trip of a statement prepared once (COPY takes two, its command then its data,
    which for the few rows of a request costs more than the rows). A multi-row INSERT on
    SQLite.
    """
    if not rows:
        return
    columns = list(rows[0])
    table = _table(model, columns)
    if connection.dialect.name != "postgresql":
        await connection.execute(table.insert(), list(rows))
        await connection.commit()
        return
    arrays = [
        values if fn is None else list(map(fn, values))
        for values, fn in (
            ([row[name] for row in rows], _processor(table.c[name], connection.dialect))
            for name in columns
        )
    ]
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    await driver.execute(_unnest_insert(table, tuple(columns), connection.dialect), *arrays)


_UNNEST_INSERTS: dict[tuple[str, tuple[str, ...]], str] = {}


def _unnest_insert(table: Table, columns: tuple[str, ...], dialect: Dialect) -> str:
    found = _UNNEST_INSERTS.get((table.name, columns))
    if found is None:
        quote = dialect.identifier_preparer.quote
        arrays = ", ".join(
            f"${n}::{table.c[name].type.compile(dialect=dialect)}[]"
            for n, name in enumerate(columns, 1)
        )
        names = ", ".join(quote(name) for name in columns)
        # Names from the model's own table, quoted; every value is a bound parameter.
        found = f"INSERT INTO {quote(table.name)} ({names}) SELECT * FROM unnest({arrays})"  # noqa: S608
        _UNNEST_INSERTS[(table.name, columns)] = found
    return found


async def stage(session: AsyncSession, model: type[Base], rows: Sequence[Mapping[str, Any]]) -> str:
    """PostgreSQL: COPY rows into a temporary table shaped like ``model``'s, emptied at
    commit, and return its name, for an ``INSERT ... SELECT`` that handles conflicts."""
    table = _table(model, list(rows[0]))
    staging = f"staged_{table.name}"
    await session.execute(
        text(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} "
            f"(LIKE {table.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
    )
    await _copy(session, table, staging, list(rows[0]), rows)
    return staging
