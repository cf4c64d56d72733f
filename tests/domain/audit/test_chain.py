"""The audit and access logs are sealed in batches, and tampering through SQL is caught."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.audit import chain, integrity
from domain.audit.chain import SealKey
from domain.audit.models import AuditEntry, LogSeal
from domain.audit.service import record
from domain.privacy.models import AccessLogEntry, ConsentRecord
from kernel.base import utcnow
from tests.tampering import bypass_append_only

KEY = SealKey(b"k" * 48)
LATER = timedelta(hours=1)  # sealing "an hour from now": every row has settled


async def _log(sessions: async_sessionmaker[AsyncSession], entries: int = 3) -> None:
    async with sessions() as s, s.begin():
        for n in range(entries):
            record(s, action="test.happened", entity_type="Thing", entity_id=str(n), n=n)
        s.add_all(
            AccessLogEntry(
                viewer_id=uuid.uuid4(),
                viewer_kind="user",
                subject_id=uuid.uuid4(),
                object="Enterprise.contactPhone",
                purpose="credit_assessment",
            )
            for _ in range(entries)
        )


async def _seal(
    sessions: async_sessionmaker[AsyncSession], checkpoint: Path | None = None
) -> dict[str, int]:
    return await integrity.seal(sessions, KEY, checkpoint=checkpoint, now=utcnow() + LATER)


async def _breaks(
    sessions: async_sessionmaker[AsyncSession], checkpoint: Path | None = None
) -> list[tuple[str, int | None, str]]:
    async with sessions() as s:
        found = await integrity.verify(s, KEY, checkpoint=checkpoint)
    return [
        (b.stream, b.seq, b.reason)
        for b in [*found.checkpoint_breaks, *(x for s in found.streams for x in s.breaks)]
    ]


async def test_settled_rows_are_sealed_in_batches_and_verify_intact(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: seven audit entries, sealed three at a time
    await _log(sessions, entries=7)
    monkeypatch.setattr(chain, "BATCH", 3)

    # when
    fresh = await integrity.seal(sessions, KEY, checkpoint=None)  # nothing has settled yet
    sealed = await _seal(sessions)
    again = await _seal(sessions)
    async with sessions() as s:
        found = await integrity.verify(s, KEY, checkpoint=None)
        seals = (await s.scalars(select(LogSeal.rows).where(LogSeal.stream == "audit"))).all()

    # then
    assert fresh == {"audit": 0, "access": 0}
    assert sealed == {"audit": 7, "access": 7}
    assert again == {"audit": 0, "access": 0}
    assert sorted(seals) == [1, 3, 3]
    assert found.intact
    assert [(s.stream, s.seals, s.rows_sealed, s.rows_awaiting) for s in found.streams] == [
        ("audit", 3, 7, 0),
        ("access", 3, 7, 0),
    ]


@pytest.mark.parametrize("table", ["audit_log", "access_log"])
async def test_a_row_changed_through_raw_sql_is_caught(
    sessions: async_sessionmaker[AsyncSession], db: AsyncEngine, table: str
) -> None:
    # given: sealed logs, then an insider edits one row with plain SQL
    await _log(sessions)
    await _seal(sessions)
    column = "action" if table == "audit_log" else "purpose"
    async with db.begin() as conn:
        await bypass_append_only(conn)
        target = (await conn.execute(text(f"SELECT id FROM {table} ORDER BY id"))).scalars().all()  # noqa: S608
        changed = await conn.execute(
            text(f"UPDATE {table} SET {column} = 'forged' WHERE id = :id"),  # noqa: S608
            {"id": target[1]},
        )

    # when
    breaks = await _breaks(sessions)

    # then
    assert changed.rowcount == 1
    stream = "audit" if table == "audit_log" else "access"
    assert breaks == [(stream, 0, chain.ALTERED_ROWS)]


async def test_a_row_deleted_or_slipped_in_is_caught(
    sessions: async_sessionmaker[AsyncSession], db: AsyncEngine
) -> None:
    # given
    await _log(sessions)
    await _seal(sessions)
    async with sessions() as s, s.begin():
        first = (await s.scalars(select(AccessLogEntry.id).order_by(AccessLogEntry.id))).first()
        await bypass_append_only(s)
        await s.execute(delete(AuditEntry).where(AuditEntry.action == "test.happened"))
        # a forged access: an id inside the sealed range, as if logged long ago
        assert first is not None
        s.add(
            AccessLogEntry(
                id=uuid.UUID(int=first.int - 1),
                viewer_id=uuid.uuid4(),
                viewer_kind="user",
                subject_id=uuid.uuid4(),
                object="Enterprise.contactPhone",
                purpose="oversight",
            )
        )

    # when
    breaks = await _breaks(sessions)

    # then
    assert breaks == [("audit", 0, chain.ALTERED_ROWS), ("access", 0, chain.ALTERED_ROWS)]


async def test_a_seal_rewritten_to_match_fails_its_signature_or_chain(
    sessions: async_sessionmaker[AsyncSession], db: AsyncEngine
) -> None:
    # given: two sealed batches; the forger edits a row and recomputes the seal's
    # digest and hash, but cannot sign without the key
    await _log(sessions)
    await _seal(sessions)
    await _log(sessions)
    await _seal(sessions)
    async with sessions() as s, s.begin():
        await bypass_append_only(s)
        first = await s.scalar(select(LogSeal).where(LogSeal.stream == "audit", LogSeal.seq == 0))
        assert first is not None
        await s.execute(update(AuditEntry).where(AuditEntry.id == first.upto).values(action="x"))
        rows = (
            await s.execute(
                select(*AuditEntry.__table__.columns)
                .where(AuditEntry.id <= first.upto)
                .order_by(AuditEntry.id)
            )
        ).all()
        first.digest = chain.rows_digest(rows)
        first.hash = chain.seal_hash(
            stream="audit",
            seq=0,
            upto=first.upto,
            rows=first.rows,
            digest=first.digest,
            previous=None,
        )

    # when
    breaks = await _breaks(sessions)

    # then: the signature gives the seal away, the next one no longer links to it
    assert breaks == [("audit", 0, chain.BAD_SIGNATURE), ("audit", 1, chain.UNLINKED)]


async def test_a_log_cut_back_whole_is_caught_by_the_checkpoint_file(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    # given: two sealed batches with their checkpoints; then the last batch and its
    # seal are removed together, leaving a shorter chain that is valid on its own
    checkpoint = tmp_path / "checkpoints.jsonl"
    await _log(sessions)
    await _seal(sessions, checkpoint)
    await _log(sessions)
    await _seal(sessions, checkpoint)
    async with sessions() as s, s.begin():
        last = await s.scalar(select(LogSeal).where(LogSeal.stream == "audit", LogSeal.seq == 1))
        assert last is not None
        await bypass_append_only(s)
        await s.execute(delete(AuditEntry).where(AuditEntry.id <= last.upto))
        await s.execute(delete(LogSeal).where(LogSeal.stream == "audit"))
    async with sessions() as s:
        without_file = await integrity.verify(s, KEY, checkpoint=None)

    # when
    breaks = await _breaks(sessions, checkpoint)

    # then
    assert without_file.intact  # nothing left to contradict it: what the file is for
    assert breaks == [
        ("audit", 0, chain.CHECKPOINT_MISSING.format(seq=0)),
        ("audit", 1, chain.CHECKPOINT_MISSING.format(seq=1)),
    ]
    assert len(checkpoint.read_text().splitlines()) == 4


async def test_seals_signed_with_another_key_are_not_taken(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given
    await _log(sessions)
    await _seal(sessions)

    # when
    async with sessions() as s:
        found = await integrity.verify(s, SealKey(b"o" * 48), checkpoint=None)

    # then
    assert [b.reason for s in found.streams for b in s.breaks] == [
        chain.OTHER_KEY.format(kid=KEY.kid)
    ] * 2


@pytest.mark.postgres_only
@pytest.mark.parametrize("table", ["audit_log", "access_log", "consent_records", "log_seals"])
@pytest.mark.parametrize("statement", ["UPDATE {table} SET id = id", "DELETE FROM {table}"])
async def test_postgresql_refuses_update_and_delete_on_the_logs(
    sessions: async_sessionmaker[AsyncSession], db: AsyncEngine, table: str, statement: str
) -> None:
    # given: rows in every log table
    await _log(sessions)
    await _seal(sessions)
    async with sessions() as s, s.begin():
        s.add(
            ConsentRecord(
                subject_id=uuid.uuid4(),
                purpose="marketing",
                recipient_institution_id=None,
                action="grant",
                channel="web",
                text_version="v1",
                hash="0" * 64,
            )
        )

    # when / then: refused by the trigger, whatever the WHERE clause
    with pytest.raises(DBAPIError, match="append-only"):
        async with db.begin() as conn:
            await conn.execute(text(statement.format(table=table)))
