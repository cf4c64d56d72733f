"""Online key changes that touch rows: re-indexing under a new blind-index key, and
replacing subjects' data keys (every sealed value re-encrypted under a fresh key).

Both go a committed batch at a time, in key order, so the service keeps running:
- a re-index leaves lookups working throughout, as they match every live blind-index
  version (privacy.vault.blind_indexes) until the old one is retired;
- a data key is replaced together with every value sealed under it in one
  transaction, so a reader sees either the old key and old values or the new ones.

Where sealed values live is declared once here (:data:`SEALED`, :data:`INDEXED`); a
new sealed column must be added to them, and tests/privacy/test_keys.py fails when a
model's sealed columns and these declarations disagree.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.contracts.models import LoanTermination
from domain.enterprises.models import SEALED_COLUMNS, Enterprise
from domain.identity.models import (
    INSTITUTION_SEALED_COLUMNS,
    USER_SEALED_COLUMNS,
    Institution,
    OutboxMessage,
    User,
)
from domain.workout.models import CollectionContact
from kernel.base import utcnow
from privacy import keystore, vault
from privacy.keys import KeyProvider
from privacy.models import DataKey

Progress = Callable[[int, int], Awaitable[None]]


@dataclass(frozen=True)
class SealedTable:
    """A table whose columns are sealed under the data key of the subject ``subject``."""

    model: Any
    subject: str
    columns: tuple[str, ...]

    @property
    def table(self) -> str:
        return str(self.model.__tablename__)


# The MFA secret is sealed like a personal value (domain.identity.people.set_mfa_secret).
SEALED: tuple[SealedTable, ...] = (
    SealedTable(Enterprise, "id", tuple(SEALED_COLUMNS)),
    SealedTable(User, "id", (*USER_SEALED_COLUMNS, "mfa_secret")),
    SealedTable(OutboxMessage, "user_id", ("recipient", "body")),
    # An institution's contact person, under the institution's own data key.
    SealedTable(Institution, "id", INSTITUTION_SEALED_COLUMNS),
    # Free text about a borrower, under the enterprise's key, each bound to its own row.
    SealedTable(LoanTermination, "enterprise_id", ("reason",)),
    SealedTable(CollectionContact, "enterprise_id", ("note",)),
)


@dataclass(frozen=True)
class IndexedColumn:
    """A blind index over a sealed column, as its writers compute it."""

    model: Any
    sealed: str
    index: str
    label: str  # the column name the index is keyed with
    lower: bool = False  # emails are indexed lower-cased


INDEXED: tuple[IndexedColumn, ...] = (
    IndexedColumn(User, "email", "email_bidx", "users.email", lower=True),
    IndexedColumn(
        Enterprise,
        "legal_representative_id_number",
        "legal_representative_id_bidx",
        "enterprises.legal_representative_id_number",
    ),
)


# Re-indexing ---------------------------------------------------------------------------


async def _count_rows(session: AsyncSession) -> int:
    total = 0
    for indexed in INDEXED:
        total += int(await session.scalar(select(func.count()).select_from(indexed.model)) or 0)
    return total


async def reindex_batch(
    session: AsyncSession,
    keys: KeyProvider,
    indexed: IndexedColumn,
    *,
    after: uuid.UUID | None,
    batch: int,
) -> tuple[uuid.UUID | None, int, int]:
    """Index up to ``batch`` rows after ``after`` under the current key: (last id, rows
    read, rows changed); the last id is None when none were left."""
    model = indexed.model
    stmt = select(model.id, getattr(model, indexed.sealed), getattr(model, indexed.index))
    if after is not None:
        stmt = stmt.where(model.id > after)
    rows = (await session.execute(stmt.order_by(model.id).limit(batch))).all()
    if not rows:
        return None, 0, 0
    data_keys = await keystore.unwrap_many(session, keys, [row[0] for row in rows])
    changed = 0
    for row_id, sealed, stored in rows:
        key = data_keys[row_id]
        if sealed is None or key is None:  # nothing indexed, or erased
            continue
        plain = vault.unseal(
            key, sealed, table=model.__tablename__, column=indexed.sealed, row_id=row_id
        )
        fresh = vault.blind_index(
            keys, plain.strip().lower() if indexed.lower else plain, column=indexed.label
        )
        if fresh != stored:
            await session.execute(
                update(model).where(model.id == row_id).values({indexed.index: fresh})
            )
            changed += 1
    return rows[-1][0], len(rows), changed


async def reindex(
    sessions: async_sessionmaker[AsyncSession] | Callable[[], AsyncSession],
    keys: KeyProvider,
    *,
    progress: Progress | None = None,
    batch: int = 500,
) -> dict[str, Any]:
    """Every blind index rewritten under the current blind-index key, a committed batch
    at a time; afterwards older versions can be retired."""
    async with sessions() as session:
        total = await _count_rows(session)
    done = changed = 0
    for indexed in INDEXED:
        after: uuid.UUID | None = None
        while True:
            async with sessions() as session, session.begin():
                after, read, moved = await reindex_batch(
                    session, keys, indexed, after=after, batch=batch
                )
            if after is None:
                break
            done += read
            changed += moved
            if progress is not None:
                await progress(done, total)
    return {"version": keys.hashing.blind_index.current, "rows": done, "changed": changed}


# Replacing data keys -------------------------------------------------------------------


async def _reseal(
    session: AsyncSession,
    sealed: SealedTable,
    subjects: Sequence[uuid.UUID],
    old: dict[uuid.UUID, bytes],
    new: dict[uuid.UUID, bytes],
) -> None:
    model = sealed.model
    subject = getattr(model, sealed.subject)
    columns = [getattr(model, c) for c in sealed.columns]
    stmt = select(model.id, subject, *columns).where(subject.in_(subjects))
    for row in (await session.execute(stmt)).all():
        row_id, subject_id, values = row[0], row[1], row[2:]
        changes = {
            name: vault.seal(
                new[subject_id],
                vault.unseal(
                    old[subject_id], value, table=sealed.table, column=name, row_id=row_id
                ),
                table=sealed.table,
                column=name,
                row_id=row_id,
            )
            for name, value in zip(sealed.columns, values, strict=True)
            if value is not None
        }
        if changes:
            await session.execute(update(model).where(model.id == row_id).values(changes))


async def replace_batch(
    session: AsyncSession, keys: KeyProvider, *, before: datetime, batch: int
) -> int:
    """Replace up to ``batch`` data keys made before ``before``: a fresh key each, every
    value sealed under the old one re-sealed under it. How many."""
    stmt = (
        select(DataKey)
        .where(DataKey.kid.is_not(None), DataKey.created_at < before)
        .order_by(DataKey.subject_id)
        .limit(batch)
        .with_for_update()
    )
    rows = (await session.scalars(stmt)).all()
    if not rows:
        return 0
    old: dict[uuid.UUID, bytes] = {}
    new: dict[uuid.UUID, bytes] = {}
    now = utcnow()
    for row in rows:
        assert row.kid is not None
        assert row.wrapped is not None
        old[row.subject_id] = vault.unwrap(keys, row.kid, row.wrapped, subject_id=row.subject_id)
        new[row.subject_id] = vault.new_data_key()
        row.kid, row.wrapped = vault.wrap(keys, new[row.subject_id], subject_id=row.subject_id)
        row.created_at = now
    subjects = [row.subject_id for row in rows]
    for sealed in SEALED:
        await _reseal(session, sealed, subjects, old, new)
    await session.flush()
    return len(rows)


async def replace_data_keys(
    sessions: async_sessionmaker[AsyncSession] | Callable[[], AsyncSession],
    keys: KeyProvider,
    *,
    before: datetime | None = None,
    progress: Progress | None = None,
    batch: int = 200,
) -> dict[str, Any]:
    """Replace every live data key made before ``before`` (now by default), online."""
    cutoff = before or utcnow()
    async with sessions() as session:
        total = int(
            await session.scalar(
                select(func.count()).where(DataKey.kid.is_not(None), DataKey.created_at < cutoff)
            )
            or 0
        )
    done = 0
    while True:
        async with sessions() as session, session.begin():
            moved = await replace_batch(session, keys, before=cutoff, batch=batch)
        if moved == 0:
            return {"before": cutoff.isoformat(), "replaced": done}
        done += moved
        if progress is not None:
            await progress(done, total)
