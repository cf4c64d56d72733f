"""The records the law asks us to keep, sealed and checked: one entry point for both.

``seal`` brings every log stream's seals up to date, a transaction per batch, and
appends each committed seal to the checkpoint file; ``verify`` checks every chain
the platform keeps: the audit and access logs' seals (``domain.audit.chain``), their
checkpoints, and the consent ledger's per-subject chains (``domain.privacy.consent``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.audit import chain
from domain.audit.chain import SealBreak, SealKey, StreamIntegrity
from domain.privacy import consent
from kernel.base import utcnow

# Batches one run seals per stream at most (a million rows); the next run goes on.
MAX_BATCHES = 200


@dataclass
class Integrity:
    checked_at: datetime
    streams: list[StreamIntegrity]
    consent_breaks: list[consent.ChainBreak]
    checkpoint_breaks: list[SealBreak] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return (
            all(s.intact for s in self.streams)
            and not self.consent_breaks
            and not self.checkpoint_breaks
        )


async def seal(
    sessions: async_sessionmaker[AsyncSession],
    key: SealKey,
    *,
    checkpoint: Path | None,
    now: datetime | None = None,
) -> dict[str, int]:
    """Rows sealed per stream by this run."""
    now = now or utcnow()
    sealed: dict[str, int] = {}
    for stream in chain.STREAMS:
        sealed[stream] = 0
        for _ in range(MAX_BATCHES):
            async with sessions() as session, session.begin():
                done = await chain.seal_batch(session, key, stream=stream, now=now)
            if done is None:
                break
            if checkpoint is not None:
                await asyncio.to_thread(chain.append_checkpoints, checkpoint, [done])
            sealed[stream] += done.rows
    return sealed


async def verify(
    session: AsyncSession, key: SealKey, *, checkpoint: Path | None, rows: bool = True
) -> Integrity:
    """Every chain checked; ``rows``: re-digest the logs' rows too (reads all of them)."""
    streams = [await chain.verify_stream(session, key, s, rows=rows) for s in chain.STREAMS]
    return Integrity(
        checked_at=utcnow(),
        streams=streams,
        consent_breaks=await consent.verify_chains(session),
        checkpoint_breaks=(
            await chain.verify_checkpoints(session, key, checkpoint) if checkpoint else []
        ),
    )
