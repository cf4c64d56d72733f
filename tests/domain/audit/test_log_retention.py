"""Retention of the audit and access logs: whole sealed batches purged, the chains still
verify, a signed purge record is the receipt, and tampering still shows."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.audit import chain, integrity
from domain.audit import purge as log_purge
from domain.audit.chain import SealKey
from domain.audit.models import AuditEntry, LogPurge, LogSeal
from domain.audit.service import record
from domain.identity.viewer import Viewer
from domain.privacy import retention
from domain.privacy.models import AccessLogEntry, LegalHold
from kernel.base import new_id, utcnow
from tests import factories as f

KEY = SealKey(b"k" * 48)
# Past every stream's schedule (84 months at most) for what is logged now.
FAR = timedelta(days=31 * 90)


async def _log(
    sessions: async_sessionmaker[AsyncSession], entries: int, subject: uuid.UUID | None = None
) -> None:
    async with sessions() as s, s.begin():
        for n in range(entries):
            record(s, action="test.happened", entity_type="Thing", entity_id=str(n), n=n)
            s.add(
                AccessLogEntry(
                    viewer_id=uuid.uuid4(),
                    viewer_kind="user",
                    subject_id=subject or uuid.uuid4(),
                    object="Enterprise.contactPhone",
                    purpose="credit_assessment",
                )
            )


async def _seal(sessions: async_sessionmaker[AsyncSession]) -> None:
    await integrity.seal(sessions, KEY, checkpoint=None, now=utcnow() + timedelta(hours=1))


async def _breaks(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, int | None, str]]:
    async with sessions() as s:
        found = await integrity.verify(s, KEY, checkpoint=None)
    return [(b.stream, b.seq, b.reason) for x in found.streams for b in x.breaks]


async def _count(sessions: async_sessionmaker[AsyncSession], model: type) -> int:
    async with sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(model)) or 0)


async def _run(sessions: async_sessionmaker[AsyncSession]) -> retention.Receipt:
    async with sessions() as s, s.begin():
        return await retention.run(
            s, f.KEYS, viewer=Viewer(user_id=None), now=utcnow() + FAR, seal_key=KEY
        )


async def test_purged_batches_leave_a_chain_that_verifies_and_a_signed_receipt(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: seven entries in each log sealed three at a time, and two not yet sealed
    monkeypatch.setattr(chain, "BATCH", 3)
    await _log(sessions, 7)
    await _seal(sessions)
    await _log(sessions, 2)
    assert await _breaks(sessions) == []

    # when: the retention job runs long after
    receipt = await _run(sessions)

    # then: the sealed rows are gone, the unsealed stay; the seals all stay
    assert {stream: rows for stream, (rows, _) in receipt.logs.items()} == {
        "audit": 7,
        "access": 7,
    }
    assert await _count(sessions, AccessLogEntry) == 2
    async with sessions() as s:
        actions = (await s.scalars(select(AuditEntry.action))).all()
        purges = (await s.scalars(select(LogPurge).order_by(LogPurge.stream))).all()
        seals = await s.scalar(select(func.count()).select_from(LogSeal))
    assert sorted(actions) == ["log.purged", "log.purged", "test.happened", "test.happened"]
    assert seals == 6
    assert [(p.stream, p.through_seq, p.rows) for p in purges] == [
        ("access", 2, 7),
        ("audit", 2, 7),
    ]
    assert all(KEY.verifies(chain.signed_text(p), p.signature) for p in purges)
    # and: `lendgraph audit verify` is green
    assert await _breaks(sessions) == []

    # when: a second run finds nothing newly sealed; then the rest is sealed and purged
    again = await _run(sessions)
    await _seal(sessions)
    last = await _run(sessions)

    # then: the later purge picks up after the first; the chain still verifies
    assert again.logs == {}
    assert {s: rows for s, (rows, _) in last.logs.items()} == {"audit": 4, "access": 2}
    assert await _breaks(sessions) == []


async def test_tampering_still_shows_after_a_purge(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a purged stretch of both logs
    monkeypatch.setattr(chain, "BATCH", 3)
    await _log(sessions, 6)
    await _seal(sessions)
    await _run(sessions)
    async with sessions() as s:
        first = await s.scalar(select(LogSeal).where(LogSeal.stream == "audit", LogSeal.seq == 0))
    assert first is not None
    assert await _breaks(sessions) == []

    # when: a row is slipped into the purged range, and a purge forged for the access log
    async with sessions() as s, s.begin():
        s.add(
            AuditEntry(
                id=new_id(at=utcnow() - timedelta(days=1)),
                action="forged",
                entity_type="Thing",
                entity_id="x",
                detail={},
            )
        )
        s.add(
            LogPurge(
                stream="access",
                through_seq=5,
                upto=uuid.uuid4(),
                head_hash="0" * 64,
                rows=1,
                schedule_version="forged",
                kid=KEY.kid,
                signature="0" * 64,
            )
        )

    # then: both are caught
    assert sorted(await _breaks(sessions)) == [
        ("access", 5, chain.PURGE_UNSIGNED),
        ("audit", 0, chain.ALTERED_ROWS),
    ]


async def test_a_legal_hold_keeps_the_batches_about_its_subject(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: three sealed batches of the access log; the second holds a row about an
    # enterprise under a legal hold
    monkeypatch.setattr(chain, "BATCH", 3)
    held = uuid.uuid4()
    await _log(sessions, 3)
    await _log(sessions, 1, subject=held)
    await _log(sessions, 5)
    await _seal(sessions)
    async with sessions() as s, s.begin():
        s.add(LegalHold(subject_id=held, reason="litigation pending", set_at=utcnow()))

    # when
    receipt = await _run(sessions)

    # then: only the batch before it is purged; the rest stays, and verifies
    assert receipt.logs["access"][0] == 3
    async with sessions() as s:
        kept = (await s.scalars(select(AccessLogEntry.subject_id))).all()
    assert held in kept
    assert len(kept) == 6
    assert await _breaks(sessions) == []


async def test_postgresql_refuses_deleting_log_rows_no_purge_covers(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given: a sealed, unpurged log
    await _log(sessions, 2)
    await _seal(sessions)
    async with sessions() as s:
        dialect = (await s.connection()).dialect.name
    if dialect != "postgresql":
        pytest.skip("SQLite has no triggers on the logs; the seals catch a deletion")

    # when / then
    with pytest.raises(DBAPIError, match="append-only"):
        async with sessions() as s, s.begin():
            await s.execute(delete(AuditEntry))
    assert await _breaks(sessions) == []
    assert log_purge.schedules().months == {"audit": 84, "access": 24}
