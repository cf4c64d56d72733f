"""Engines and sessions. One engine per process; sessions are short-lived units of work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry


class StatementCounter:
    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


# Set per request; SQL run on behalf of that request (its loaders included) adds to it.
current_statement_counter: ContextVar[StatementCounter | None] = ContextVar(
    "lendgraph_statement_counter", default=None
)


def _count_statement(*_args: Any, **_kwargs: Any) -> None:
    counter = current_statement_counter.get()
    if counter is not None:
        counter.count += 1


def _sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def create_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": False}
    if url.startswith("postgresql"):
        kwargs.update(pool_size=pool_size, max_overflow=pool_size)
        # JIT compiles each wide aggregate and each scan chunk's statement anew; on the
        # portfolio figures and the risk scan that costs several times what it saves.
        kwargs["connect_args"] = {"server_settings": {"jit": "off"}}
    engine = create_async_engine(url, **kwargs)
    sync_engine: Engine = engine.sync_engine
    if engine.dialect.name == "sqlite":
        event.listen(sync_engine, "connect", _sqlite_pragmas)
    event.listen(sync_engine, "before_cursor_execute", _count_statement)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def unit_of_work(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction: committed when the block ends, rolled back if it raises."""
    async with factory() as session, session.begin():
        yield session
