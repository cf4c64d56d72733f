"""Nothing personal at rest in plaintext: the raw database holds none of the seeded values."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import String, Text, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.enterprises.models import SEALED_COLUMNS
from domain.models import Base, Enterprise
from privacy import keystore, vault
from seed import seed_population
from tests import factories as f


async def _seeded_personal_values(
    sessions: async_sessionmaker[AsyncSession],
) -> set[str]:
    """The personal values the seed wrote, opened with the keys (the test knows them)."""
    async with sessions() as session:
        rows = (await session.scalars(select(Enterprise))).all()
        keys = await keystore.unwrap_many(session, f.KEYS, [r.id for r in rows])
    values = set()
    for row in rows:
        key = keys[row.id]
        assert key is not None
        for column in SEALED_COLUMNS:
            sealed = getattr(row, column)
            if sealed:
                values.add(
                    vault.unseal(key, sealed, table="enterprises", column=column, row_id=row.id)
                )
    return values


async def test_no_seeded_personal_value_is_stored_in_plaintext(
    db: AsyncEngine, sessions: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    # given
    await seed_population(sessions, enterprises=40, seed=11, keys=f.KEYS)
    personal = await _seeded_personal_values(sessions)
    assert len(personal) > 100

    # when: every text column of every table, read raw
    found: set[str] = set()
    async with db.connect() as conn:
        for table in Base.metadata.sorted_tables:
            text_columns = [c for c in table.columns if isinstance(c.type, String | Text)]
            if not text_columns:
                continue
            for row in await conn.execute(select(*text_columns)):
                found.update(str(v) for v in row if v is not None)
    raw_file = b""
    if database_url.startswith("sqlite"):
        raw_file = await asyncio.to_thread(Path(database_url.split(":///", 1)[1]).read_bytes)

    # then
    leaked = {v for v in personal if any(v in cell for cell in found)}
    assert leaked == set()
    assert [v for v in personal if v.encode() in raw_file] == []
