"""Run alembic against an async engine from inside or outside an event loop."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

HERE = Path(__file__).resolve().parent


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def _upgrade(connection: Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


def _downgrade(connection: Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.downgrade(cfg, revision)


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


class ForeignKeyBreach(RuntimeError):
    """A migration left rows pointing at rows that are gone; it was rolled back."""


async def _migrate(
    engine: AsyncEngine, step: Callable[[Connection, str], None], revision: str
) -> None:
    """One transaction; on SQLite with foreign keys off while it runs.

    SQLite changes a table by copying it and dropping the original (alembic's batch
    mode), and with foreign keys on that DROP deletes, and cascades to, every row that
    references the table: upgrading a live database would empty its schedules. The
    pragma is ignored inside a transaction, so it is set before one begins, and the
    references are checked before the transaction commits.
    """
    async with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await conn.commit()
        try:
            async with conn.begin():
                await conn.run_sync(step, revision)
                if sqlite:
                    broken = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
                    if broken:
                        raise ForeignKeyBreach(f"dangling references after migrating: {broken[:5]}")
        finally:
            if sqlite:
                await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                await conn.commit()


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    await _migrate(engine, _upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    await _migrate(engine, _downgrade, revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
