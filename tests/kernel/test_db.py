"""The settings every connection of the service starts with."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def test_connections_start_with_the_service_settings(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            # JIT costs the portfolio figures and the risk scan more than it saves
            assert await conn.scalar(text("SHOW jit")) == "off"
        else:
            assert await conn.scalar(text("PRAGMA journal_mode")) == "wal"
            assert await conn.scalar(text("PRAGMA foreign_keys")) == 1
