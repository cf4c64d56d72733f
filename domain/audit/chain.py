"""Tamper evidence for the audit and access logs: batches sealed in id order, chained, signed.

Each log is a stream. A periodic job (``domain.jobs``, or ``lendgraph audit seal``)
takes the stream's rows after its last seal, in id order (ids are time-ordered), and
writes a seal: how many rows, a digest of their content, the previous seal's hash, its
own hash over all that, and an HMAC-SHA256 of the hash under a key kept outside the
database. Every seal may also be appended to a checkpoint file kept elsewhere. Nothing
is added to the request path: the access log is still one COPY per request.

Threat model: someone able to write to the database (a DBA, a stolen application
credential) edits, inserts or deletes log rows to hide what happened.
- A row edited, removed, or slipped into a sealed range changes that seal's digest or
  count; ``verify`` names the seal.
- Seals rewritten to match no longer carry a valid signature: the key is not in the
  database. A seal removed or reordered breaks the chain of ``previous_hash``.
- The log and its seals cut back together to an earlier point leave a valid but
  shorter chain: the checkpoint file, on storage the database writer cannot reach,
  still names the later seals.
- On PostgreSQL, triggers refuse UPDATE and DELETE on the log tables outright
  (migration 0023); TRUNCATE and a superuser's ``DISABLE TRIGGER`` are left to the
  checks above.
Retention (``domain.audit.purge``) deletes the rows of whole sealed batches past their
schedule and keeps the seals, with a signed purge record naming the last purged seal:
verifying expects those ranges empty, and checks each purge's signature and head.

Rows younger than ``SETTLE`` are left for the next run: a transaction may still be
committing a row with an earlier id, which would otherwise land inside a sealed range
and read as an insertion.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.models import AuditEntry, LogPurge, LogSeal
from domain.privacy.models import AccessLogEntry
from kernel.base import Base, new_id, utcnow

STREAMS: Mapping[str, type[Base]] = {"audit": AuditEntry, "access": AccessLogEntry}
BATCH = 5000
SETTLE = timedelta(minutes=2)
VERIFY_BATCH = 500

ALTERED_ROWS = "rows altered, added or removed in the sealed range"
ALTERED_SEAL = "the seal's fields do not give its hash"
UNLINKED = "the seal does not follow the one before it"
BAD_SIGNATURE = "the signature does not match"
OTHER_KEY = "signed with key {kid}, not the current one"
PURGE_UNSIGNED = "a retention purge up to this seal is not signed with the current key"
PURGE_DIFFERS = "the retention purge's head is not this seal"
PURGE_MISSING = "a retention purge names seal {seq}, which the database does not hold"
CHECKPOINT_MISSING = "a checkpoint names seal {seq}, which the database does not hold"
CHECKPOINT_DIFFERS = "seal {seq} differs from its checkpoint"
CHECKPOINT_UNREADABLE = "checkpoint line {line} cannot be read or its signature is wrong"


@dataclass(frozen=True)
class SealKey:
    """The HMAC key that signs seals; ``kid`` names it without revealing it."""

    secret: bytes

    @property
    def kid(self) -> str:
        return hashlib.sha256(b"lendgraph-audit-kid:" + self.secret).hexdigest()[:16]

    def sign(self, digest: str) -> str:
        mac = hmac.HMAC(self.secret, hashes.SHA256())
        mac.update(digest.encode())
        return mac.finalize().hex()

    def verifies(self, digest: str, signature: str) -> bool:
        mac = hmac.HMAC(self.secret, hashes.SHA256())
        mac.update(digest.encode())
        try:
            mac.verify(bytes.fromhex(signature))
        except (InvalidSignature, ValueError):
            return False
        return True


# ------------------------------------------------------------------------- hashing


def _canonical(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    return value


def rows_digest(rows: Sequence[Any]) -> str:
    """A digest of rows (every column, in table order) in the order given."""
    whole = hashlib.sha256()
    for row in rows:
        text = json.dumps(
            [_canonical(v) for v in row], sort_keys=True, separators=(",", ":"), default=str
        )
        whole.update(hashlib.sha256(text.encode()).digest())
    return whole.hexdigest()


def seal_hash(
    *, stream: str, seq: int, upto: uuid.UUID, rows: int, digest: str, previous: str | None
) -> str:
    text = json.dumps([stream, seq, str(upto), rows, digest, previous], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def purge_hash(*, stream: str, through_seq: int, upto: uuid.UUID, head: str, rows: int) -> str:
    """What a retention purge's signature covers (``domain.audit.purge``)."""
    text = json.dumps(["purge", stream, through_seq, str(upto), head, rows], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def signed_text(purge: LogPurge | Any) -> str:
    return purge_hash(
        stream=purge.stream,
        through_seq=purge.through_seq,
        upto=purge.upto,
        head=purge.head_hash,
        rows=purge.rows,
    )


def _hash_of(seal: LogSeal | Any) -> str:
    return seal_hash(
        stream=seal.stream,
        seq=seal.seq,
        upto=seal.upto,
        rows=seal.rows,
        digest=seal.digest,
        previous=seal.previous_hash,
    )


def _rows(model: type[Base], after: uuid.UUID | None, upto: uuid.UUID | None, limit: int) -> Any:
    table = model.__table__
    stmt = select(*table.columns).order_by(table.c.id).limit(limit)
    if after is not None:
        stmt = stmt.where(table.c.id > after)
    if upto is not None:
        stmt = stmt.where(table.c.id <= upto)
    return stmt


# ------------------------------------------------------------------------- sealing


async def last_seal(session: AsyncSession, stream: str) -> LogSeal | None:
    return await session.scalar(
        select(LogSeal).where(LogSeal.stream == stream).order_by(LogSeal.seq.desc()).limit(1)
    )


async def seal_batch(
    session: AsyncSession,
    key: SealKey,
    *,
    stream: str,
    now: datetime | None = None,
) -> LogSeal | None:
    """Seal the stream's next settled rows (at most ``BATCH``); None when none wait."""
    now = now or utcnow()
    model = STREAMS[stream]
    last = await last_seal(session, stream)
    # The smallest id of the settling millisecond: every older id sorts below it.
    settled = new_id(at=now - SETTLE, entropy=0)
    after = last.upto if last is not None else None
    stmt = _rows(model, after, None, BATCH).where(model.__table__.c.id < settled)
    rows = (await session.execute(stmt)).all()
    if not rows:
        return None
    seq = last.seq + 1 if last is not None else 0
    previous = last.hash if last is not None else None
    upto = rows[-1].id
    digest = rows_digest(rows)
    hashed = seal_hash(
        stream=stream, seq=seq, upto=upto, rows=len(rows), digest=digest, previous=previous
    )
    seal = LogSeal(
        stream=stream,
        seq=seq,
        upto=upto,
        rows=len(rows),
        digest=digest,
        previous_hash=previous,
        hash=hashed,
        kid=key.kid,
        signature=key.sign(hashed),
        sealed_at=now,
    )
    session.add(seal)
    await session.flush()  # a concurrent sealer's (stream, seq) collides here
    return seal


def checkpoint_line(seal: LogSeal) -> str:
    """The seal as one JSON line of the checkpoint file (signed: the file may be copied)."""
    return json.dumps(
        {
            "stream": seal.stream,
            "seq": seal.seq,
            "hash": seal.hash,
            "kid": seal.kid,
            "signature": seal.signature,
            "sealed_at": seal.sealed_at.isoformat(),
        },
        separators=(",", ":"),
    )


def append_checkpoints(path: Path, seals: Sequence[LogSeal]) -> None:
    """Append committed seals to the checkpoint file (opened for appending only)."""
    if not seals:
        return
    with path.open("a", encoding="utf-8") as handle:
        handle.writelines(checkpoint_line(s) + "\n" for s in seals)


# ----------------------------------------------------------------------- verifying


@dataclass(frozen=True)
class SealBreak:
    stream: str
    seq: int | None
    reason: str


@dataclass
class StreamIntegrity:
    """What verifying one stream found; intact when ``breaks`` is empty."""

    stream: str
    seals: int = 0
    rows_sealed: int = 0
    rows_awaiting: int = 0
    last_sealed_at: datetime | None = None
    rows_checked: bool = True
    breaks: list[SealBreak] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.breaks


async def verify_stream(
    session: AsyncSession, key: SealKey, stream: str, *, rows: bool = True
) -> StreamIntegrity:
    """Walk the stream's seals in order: chain, hash, signature and (``rows``) content.

    Reads seals and rows in batches with plain rows, not ORM objects; an audit, not a
    request: its cost grows with the log.
    """
    model = STREAMS[stream]
    found = StreamIntegrity(stream=stream, rows_checked=rows)
    purges = await _purges(session, key, found)
    purged_through = max(purges, default=-1)
    previous: Any = None
    while True:
        stmt = select(*LogSeal.__table__.columns).where(LogSeal.stream == stream)
        if previous is not None:
            stmt = stmt.where(LogSeal.seq > previous.seq)
        seals = (await session.execute(stmt.order_by(LogSeal.seq).limit(VERIFY_BATCH))).all()
        for seal in seals:
            _check_seal(found, key, seal, previous)
            purge = purges.pop(seal.seq, None)
            if purge is not None and (purge.head_hash, purge.upto) != (seal.hash, seal.upto):
                found.breaks.append(SealBreak(stream, seal.seq, PURGE_DIFFERS))
            # A purged batch's rows are gone on purpose: its range must hold none.
            wanted = 0 if seal.seq <= purged_through else seal.rows
            if rows:
                after = previous.upto if previous is not None else None
                # One row more than sealed: an insertion shows as a longer range.
                limit = wanted + 1
                content = (await session.execute(_rows(model, after, seal.upto, limit))).all()
                if len(content) != wanted or (wanted and rows_digest(content) != seal.digest):
                    found.breaks.append(SealBreak(stream, seal.seq, ALTERED_ROWS))
            found.seals += 1
            found.rows_sealed += seal.rows
            found.last_sealed_at = seal.sealed_at
            previous = seal
        if len(seals) < VERIFY_BATCH:
            break
    for seq in sorted(purges):  # a purge naming a seal the database does not hold
        found.breaks.append(SealBreak(stream, seq, PURGE_MISSING.format(seq=seq)))
    table = model.__table__
    awaiting = select(func.count()).select_from(table)
    if previous is not None:
        awaiting = awaiting.where(table.c.id > previous.upto)
    found.rows_awaiting = int((await session.execute(awaiting)).scalar_one())
    return found


async def _purges(session: AsyncSession, key: SealKey, found: StreamIntegrity) -> dict[int, Any]:
    """The stream's retention purges (``domain.audit.purge``) by their last seal; a purge
    whose signature does not verify is a break, and is not trusted to excuse rows."""
    stmt = select(*LogPurge.__table__.columns).where(LogPurge.stream == found.stream)
    trusted: dict[int, Any] = {}
    for purge in (await session.execute(stmt.order_by(LogPurge.through_seq))).all():
        if purge.kid != key.kid or not key.verifies(signed_text(purge), purge.signature):
            found.breaks.append(SealBreak(found.stream, purge.through_seq, PURGE_UNSIGNED))
            continue
        trusted[purge.through_seq] = purge
    return trusted


def _check_seal(found: StreamIntegrity, key: SealKey, seal: Any, previous: Any) -> None:
    stream = found.stream
    expected_seq = previous.seq + 1 if previous is not None else 0
    expected_link = previous.hash if previous is not None else None
    if seal.seq != expected_seq or seal.previous_hash != expected_link:
        found.breaks.append(SealBreak(stream, seal.seq, UNLINKED))
    if _hash_of(seal) != seal.hash:
        found.breaks.append(SealBreak(stream, seal.seq, ALTERED_SEAL))
    if seal.kid != key.kid:
        found.breaks.append(SealBreak(stream, seal.seq, OTHER_KEY.format(kid=seal.kid)))
    elif not key.verifies(seal.hash, seal.signature):
        found.breaks.append(SealBreak(stream, seal.seq, BAD_SIGNATURE))


Checkpoints = dict[tuple[str, int], str]  # (stream, seq) -> hash


def read_checkpoints(key: SealKey, path: Path) -> tuple[Checkpoints, list[SealBreak]]:
    """The file's checkpoints, (stream, seq) -> hash, and its lines that do not verify."""
    wanted: Checkpoints = {}
    breaks: list[SealBreak] = []
    if not path.exists():
        return wanted, breaks
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                point = json.loads(line)
                stream, seq, hashed = str(point["stream"]), int(point["seq"]), str(point["hash"])
                signed = key.verifies(hashed, str(point["signature"]))
            except (ValueError, KeyError, TypeError):
                signed = False
            if not signed:
                unreadable = CHECKPOINT_UNREADABLE.format(line=number)
                breaks.append(SealBreak("checkpoint", None, unreadable))
                continue
            wanted[(stream, seq)] = hashed
    return wanted, breaks


async def verify_checkpoints(session: AsyncSession, key: SealKey, path: Path) -> list[SealBreak]:
    """Every checkpoint in the file must be a seal the database still holds, unchanged."""
    wanted, breaks = await asyncio.to_thread(read_checkpoints, key, path)
    for stream in sorted({s for s, _ in wanted}):
        seqs = sorted(seq for s, seq in wanted if s == stream)
        held: dict[int, str] = {}
        for start in range(0, len(seqs), VERIFY_BATCH):
            stmt = select(LogSeal.seq, LogSeal.hash).where(
                LogSeal.stream == stream, LogSeal.seq.in_(seqs[start : start + VERIFY_BATCH])
            )
            held.update((seq, hashed) for seq, hashed in (await session.execute(stmt)).all())
        for seq in seqs:
            if seq not in held:
                breaks.append(SealBreak(stream, seq, CHECKPOINT_MISSING.format(seq=seq)))
            elif held[seq] != wanted[(stream, seq)]:
                breaks.append(SealBreak(stream, seq, CHECKPOINT_DIFFERS.format(seq=seq)))
    return breaks
