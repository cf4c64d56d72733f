"""Retention of the logs themselves: whole sealed batches purged, the chain kept whole.

The audit and access logs are kept for the months ``log_retention.csv`` (beside this
module; policy kept as data like ``domain/privacy/retention_schedules.csv``) gives each
stream. The retention job (``domain.privacy.retention.run``) purges, per stream, the rows of
every sealed batch whose newest row (the seal's ``upto``; ids are time-ordered) is
older than that, oldest first and only whole batches: a batch not yet sealed, or one
holding a row about an enterprise under a legal hold, stops the purge there.

Before deleting, each batch is re-digested: a batch whose rows no longer match its
seal is evidence and is not purged (the run is refused). The seals stay; a
``LogPurge`` row, signed with the seal key, records the last purged seal's hash and
serves as the receipt, with an audit entry. ``chain.verify_stream`` then expects the
purged ranges to be empty and checks each purge's signature and head: purge then
verify is green, and an edit, deletion or insertion anywhere still shows.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import chain
from domain.audit.models import AuditEntry, LogPurge, LogSeal
from domain.audit.service import record
from domain.privacy.models import AccessLogEntry
from kernel import tables
from kernel.base import new_id, utcnow
from kernel.errors import Conflict
from kernel.tables import InvalidTable

TABLE_PATH = Path(__file__).with_name("log_retention.csv")


@dataclass(frozen=True, slots=True)
class LogSchedules:
    months: Mapping[str, int]
    version: str  # the first 16 hex digits of the table's SHA-256


def parse(text: str) -> LogSchedules:
    """Every stream with its months; a malformed, unknown or missing line is an error."""
    months: dict[str, int] = {}
    for number, (stream, value) in tables.rows(text, columns=("stream", "months")):
        if stream not in chain.STREAMS:
            raise InvalidTable(f"line {number}: unknown stream {stream!r}")
        if stream in months:
            raise InvalidTable(f"line {number}: {stream} declared twice")
        months[stream] = tables.positive_months(number, value)
    missing = [s for s in chain.STREAMS if s not in months]
    if missing:
        raise InvalidTable(f"no schedule for {', '.join(missing)}")
    return LogSchedules(months, tables.version(text))


@functools.cache
def schedules() -> LogSchedules:
    return parse(TABLE_PATH.read_text(encoding="utf-8"))


def cutoff(now: datetime, months: int) -> uuid.UUID:
    """The smallest id of the first moment that is still kept: older ids sort below it."""
    from domain.privacy.retention import add_months  # the same month arithmetic as the schedules

    day = add_months(now.astimezone(UTC).date(), -months)
    return new_id(at=datetime.combine(day, time.min, tzinfo=UTC), entropy=0)


async def last_purge(session: AsyncSession, stream: str) -> LogPurge | None:
    return await session.scalar(
        select(LogPurge)
        .where(LogPurge.stream == stream)
        .order_by(LogPurge.through_seq.desc())
        .limit(1)
    )


async def _first_held(
    session: AsyncSession,
    stream: str,
    after: uuid.UUID | None,
    upto: uuid.UUID,
    held: Sequence[uuid.UUID],
) -> uuid.UUID | None:
    """The first row in the range about a subject under a legal hold, if any."""
    if not held:
        return None
    if stream == "access":
        column, values = AccessLogEntry.id, [AccessLogEntry.subject_id.in_(held)]
    else:
        column, values = AuditEntry.id, [AuditEntry.entity_id.in_([str(h) for h in held])]
    # ORDER BY ... LIMIT 1, not min(): PostgreSQL has no min() over uuid.
    stmt = select(column).where(column <= upto, *values).order_by(column).limit(1)
    if after is not None:
        stmt = stmt.where(column > after)
    found: uuid.UUID | None = await session.scalar(stmt)
    return found


async def purge_stream(
    session: AsyncSession,
    key: chain.SealKey,
    *,
    stream: str,
    months: int,
    version: str,
    held: Sequence[uuid.UUID] = (),
    actor_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> LogPurge | None:
    """Purge the stream's sealed batches past ``months``; the receipt, or None if none."""
    now = now or utcnow()
    model = chain.STREAMS[stream]
    table: Any = model.__table__
    previous = await last_purge(session, stream)
    after = previous.upto if previous is not None else None
    stmt = (
        select(LogSeal)
        .where(LogSeal.stream == stream, LogSeal.upto < cutoff(now, months))
        .order_by(LogSeal.seq)
    )
    if previous is not None:
        stmt = stmt.where(LogSeal.seq > previous.through_seq)
    seals = list((await session.scalars(stmt)).all())
    if not seals:
        return None
    first_held = await _first_held(session, stream, after, seals[-1].upto, held)
    if first_held is not None:
        seals = [s for s in seals if s.upto < first_held]
    if not seals:
        return None
    # Only evidence that still verifies is purged: each batch re-digested first.
    start = after
    for seal in seals:
        content = (await session.execute(chain._rows(model, start, seal.upto, seal.rows + 1))).all()
        if len(content) != seal.rows or chain.rows_digest(content) != seal.digest:
            raise Conflict(
                f"the {stream} log's seal {seal.seq} does not verify: not purging evidence"
            )
        start = seal.upto
    head = seals[-1]
    rows = sum(s.rows for s in seals)
    purge = LogPurge(
        stream=stream,
        through_seq=head.seq,
        upto=head.upto,
        head_hash=head.hash,
        rows=rows,
        schedule_version=version,
        purged_at=now,
        actor_id=actor_id,
        kid=key.kid,
    )
    purge.signature = key.sign(chain.signed_text(purge))
    session.add(purge)
    await session.flush()  # the trigger (PostgreSQL) lets a row this purge covers go
    doomed = delete(table).where(table.c.id <= head.upto)
    if after is not None:
        doomed = doomed.where(table.c.id > after)
    deleted = (await session.execute(doomed)).rowcount  # type: ignore[attr-defined]
    if deleted != rows:
        raise Conflict(f"the {stream} log changed while it was purged: try again")
    record(
        session,
        action="log.purged",
        entity_type="log_stream",
        entity_id=stream,
        actor_id=actor_id,
        request_id=None,
        through_seq=head.seq,
        rows=rows,
        schedule_version=version,
        receipt=str(purge.id),
    )
    return purge


async def purge_logs(
    session: AsyncSession,
    key: chain.SealKey,
    *,
    held: Sequence[uuid.UUID] = (),
    actor_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> dict[str, LogPurge]:
    """Every stream purged as its schedule says: the receipts written, per stream."""
    table = schedules()
    done: dict[str, LogPurge] = {}
    for stream in chain.STREAMS:
        purge = await purge_stream(
            session,
            key,
            stream=stream,
            months=table.months[stream],
            version=table.version,
            held=held,
            actor_id=actor_id,
            now=now,
        )
        if purge is not None:
            done[stream] = purge
    return done
