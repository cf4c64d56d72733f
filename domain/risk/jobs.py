"""The early-warning job the service runs by itself: scan, then escalate what is overdue.

Every worker process runs the loop; the scan's lock (an advisory lock on PostgreSQL) lets
one of them work per round and the others skip it. A round is incremental unless the last
full scan is a day old, so indicators that move with the calendar (PD change over 30 and
90 days) are refreshed daily even for loans nothing touched.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.base import utcnow
from domain.db import unit_of_work
from domain.risk import queries
from domain.risk.alerts import escalate_overdue
from domain.risk.scan import ScanReport, ScanRunning, run_scan

log = logging.getLogger("lendgraph.risk")
FULL_EVERY = timedelta(days=1)


@dataclass(frozen=True)
class Round:
    scan: ScanReport | None  # None: another worker was scanning
    escalated: int


async def run_round(sessions: async_sessionmaker[AsyncSession], *, trigger: str) -> Round:
    now = utcnow()
    async with sessions() as session:
        last_full = await queries.last_full_scan(session)
    full = last_full is None or now - last_full.started_at >= FULL_EVERY
    report: ScanReport | None
    try:
        report = await run_scan(sessions, as_of=now.date(), full=full, trigger=trigger)
    except ScanRunning:
        report = None
    async with unit_of_work(sessions) as session:
        escalated = await escalate_overdue(session, now=now)
    return Round(report, escalated)


async def every(sessions: async_sessionmaker[AsyncSession], *, seconds: int) -> None:
    """Run a round every ``seconds`` until cancelled; a failing round is logged, not fatal."""
    while True:
        try:
            done = await run_round(sessions, trigger="schedule")
            if done.scan is not None or done.escalated:
                log.info(
                    "early-warning round",
                    extra={
                        "loans": done.scan.loans_scanned if done.scan else 0,
                        "alerts": done.scan.alerts_raised if done.scan else 0,
                        "escalated": done.escalated,
                    },
                )
        except asyncio.CancelledError:
            raise
        except Exception:  # a bad round must not end the schedule; it is logged in full
            log.exception("early-warning round failed")
        await asyncio.sleep(seconds)
