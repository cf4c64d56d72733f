"""Subjects' data keys in the database: create, unwrap in batches, rewrap, shred."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kernel.base import utcnow
from privacy import vault
from privacy.keys import KeyProvider
from privacy.models import DataKey


def new_key_rows(
    keys: KeyProvider, subjects: Iterable[tuple[uuid.UUID, str]]
) -> tuple[list[dict[str, object]], dict[uuid.UUID, bytes]]:
    """Fresh data keys for ``(subject id, subject type)``: rows to insert, and the keys."""
    rows: list[dict[str, object]] = []
    plain: dict[uuid.UUID, bytes] = {}
    now = utcnow()
    for subject_id, subject_type in subjects:
        key = vault.new_data_key()
        kid, wrapped = vault.wrap(keys, key, subject_id=subject_id)
        rows.append(
            {
                "subject_id": subject_id,
                "subject_type": subject_type,
                "kid": kid,
                "wrapped": wrapped,
                "created_at": now,
            }
        )
        plain[subject_id] = key
    return rows, plain


async def create(
    session: AsyncSession, keys: KeyProvider, subject_id: uuid.UUID, subject_type: str
) -> bytes:
    rows, plain = new_key_rows(keys, [(subject_id, subject_type)])
    session.add(DataKey(**rows[0]))
    await session.flush()
    return plain[subject_id]


async def unwrap_many(
    session: AsyncSession, keys: KeyProvider, subject_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, bytes | None]:
    """Each subject's data key, None when shredded (or never made)."""
    # Columns, not entities: a page's keys need no identity map (a third of the cost).
    stmt = select(DataKey.subject_id, DataKey.kid, DataKey.wrapped).where(
        DataKey.subject_id.in_(subject_ids)
    )
    found: dict[uuid.UUID, bytes | None] = dict.fromkeys(subject_ids)
    for subject_id, kid, wrapped in (await session.execute(stmt)).all():
        if kid is not None and wrapped is not None:
            found[subject_id] = unwrap(keys, kid, wrapped, subject_id)
    return found


# Unwrapped data keys, by master key (the provider's fingerprint of it), wrapped key and
# subject. Unwrapping is an AES-GCM decryption per subject per request (14 us: 0.7 ms for
# a page of fifty; a round trip to the token with an HSM) and keys are read far more often
# than they change. A shredded key is never asked for again (its row no longer holds it)
# and a rewrapped or replaced one is a new entry, so nothing here outlives its row's
# meaning; it holds no more than the master keys already in this process can open.
_UNWRAPPED: OrderedDict[tuple[bytes, str, uuid.UUID], bytes] = OrderedDict()
UNWRAPPED_MAX = 4096


def unwrap(keys: KeyProvider, kid: str, wrapped: str, subject_id: uuid.UUID) -> bytes:
    """A stored data key, unwrapped (KeyConfigurationError when its master key is not here)."""
    entry = (keys.fingerprint(kid), wrapped, subject_id)
    found = _UNWRAPPED.get(entry)
    if found is None:
        found = _UNWRAPPED[entry] = vault.unwrap(keys, kid, wrapped, subject_id=subject_id)
        if len(_UNWRAPPED) > UNWRAPPED_MAX:
            _UNWRAPPED.popitem(last=False)
    else:
        _UNWRAPPED.move_to_end(entry)
    return found


async def shred(session: AsyncSession, subject_id: uuid.UUID, *, now: datetime) -> bool:
    result = await session.execute(
        update(DataKey)
        .where(DataKey.subject_id == subject_id, DataKey.shredded_at.is_(None))
        .values(kid=None, wrapped=None, shredded_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def count_not_under(session: AsyncSession, kid: str) -> int:
    stmt = select(func.count()).where(DataKey.kid.is_not(None), DataKey.kid != kid)
    return int(await session.scalar(stmt) or 0)


async def rewrap_batch(session: AsyncSession, keys: KeyProvider, *, batch: int = 500) -> int:
    """Rewrap up to ``batch`` data keys still under an older master key; how many."""
    stmt = (
        select(DataKey)
        .where(DataKey.kid.is_not(None), DataKey.kid != keys.current_kid)
        .order_by(DataKey.subject_id)
        .limit(batch)
    )
    rows = (await session.scalars(stmt)).all()
    for row in rows:
        assert row.kid is not None
        assert row.wrapped is not None
        key = vault.unwrap(keys, row.kid, row.wrapped, subject_id=row.subject_id)
        row.kid, row.wrapped = vault.wrap(keys, key, subject_id=row.subject_id)
    await session.flush()
    return len(rows)


async def rotate(
    sessions: Callable[[], AsyncSession],
    keys: KeyProvider,
    *,
    progress: Callable[[int, int], None] | None = None,
    batch: int = 500,
) -> int:
    """Rewrap every data key under the current master key, a committed batch at a time.

    Online: readers keep unwrapping with whichever key a row names until it moves.
    """
    async with sessions() as session:
        total = await count_not_under(session, keys.current_kid)
    done = 0
    while True:
        async with sessions() as session, session.begin():
            moved = await rewrap_batch(session, keys, batch=batch)
        done += moved
        if progress:
            progress(done, total)
        if moved == 0:
            return done


async def usage(session: AsyncSession) -> dict[str, int]:
    """Live (not shredded) data keys per master key id."""
    stmt = select(DataKey.kid, func.count()).where(DataKey.kid.is_not(None)).group_by(DataKey.kid)
    return {str(kid): int(n) for kid, n in (await session.execute(stmt)).all()}
