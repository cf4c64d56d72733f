"""A forger with the database superuser's powers, for the tests that tamper with logs.

On PostgreSQL the log tables refuse UPDATE and DELETE (migration 0023); a superuser
can still switch row triggers off for a transaction, which is what a determined
insider would do. The seals and chains must catch what follows.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession


async def bypass_append_only(on: AsyncConnection | AsyncSession) -> None:
    """Row triggers off until the transaction ends (PostgreSQL; SQLite has none)."""
    connection = on if isinstance(on, AsyncConnection) else await on.connection()
    if connection.dialect.name == "postgresql":
        await connection.execute(text("SET LOCAL session_replication_role = replica"))
