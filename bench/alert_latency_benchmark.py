"""Alert latency: from a loan falling behind to a subscriber holding the new alert (issue 7).

A seeded book (``seed_population``) gets the default early-warning rules and a first full
scan. A subscriber then follows the alert channel through the process's event hub: on
SQLite the in-process hub, on PostgreSQL a LISTEN connection, exactly as the service's
``riskAlerts`` subscription does. Each round moves one current loan to 95 days past due
and commits (t0), runs the incremental scan the service schedules (t1), and waits until
the subscriber has the alert and has read it back through the viewer-scoped query the
subscription resolver uses (t2). Prints the median and p95 of t2 - t0 and of its parts,
and before the rounds how long a dry run of each default rule over the portfolio takes.

In the running service the scan is the schedule's (``LENDGRAPH_RISK_SCAN_INTERVAL``,
900 s by default) or ``lendgraph risk scan``; this measures the work once it starts.

    python bench/alert_latency_benchmark.py [--enterprises N] [--rounds N]
                                            [--database-url URL] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import domain.models  # noqa: F401 - every mapper known before the first query
from domain.identity.models import Role
from domain.identity.viewer import Viewer
from domain.lending.models import DelinquencyBucket, Loan, LoanStatus
from domain.risk import alerts
from domain.risk import service as risk_service
from domain.risk.scan import run_scan
from kernel import events
from kernel.base import utcnow
from kernel.db import create_engine, session_factory, unit_of_work
from migrations.runner import upgrade
from privacy.keys import generate
from seed import seed_population
from seed.risk_rules import DEFAULT_RULES, install_default_rules

PLATFORM = Viewer(platform_roles=frozenset({Role.PLATFORM_RISK_OFFICER}))


async def _current_loans(sessions: async_sessionmaker[AsyncSession], n: int) -> list[uuid.UUID]:
    async with sessions() as session:
        rows = await session.scalars(
            select(Loan.id)
            .where(Loan.status == LoanStatus.ACTIVE, Loan.days_past_due == 0)
            .order_by(Loan.id)
            .limit(n)
        )
        return list(rows)


async def bench(url: str, *, enterprises: int, rounds: int) -> None:
    engine = create_engine(url)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    await upgrade(engine)
    sessions = session_factory(engine)
    started = time.perf_counter()
    await seed_population(sessions, enterprises=enterprises, seed=11, keys=generate())
    async with unit_of_work(sessions) as session:
        await install_default_rules(session)
    first = await run_scan(sessions, as_of=utcnow().date(), full=True, trigger="bench")
    print(
        f"{engine.dialect.name}: seeded {enterprises} enterprises, first full scan of "
        f"{first.loans_scanned} active loans in {first.seconds:.2f} s "
        f"({time.perf_counter() - started:.1f} s with the seed)"
    )
    # What a risk officer waits for before switching a rule on: a dry run of each
    # default rule over the whole seeded portfolio.
    dry: list[float] = []
    for draft in DEFAULT_RULES:
        async with sessions() as session:
            run = await risk_service.dry_run(
                session, PLATFORM, draft.expression, as_of=utcnow().date()
            )
        dry.append(run.seconds)
    print(
        f"  dry runs of the {len(dry)} default rules over {run.loans_scanned} active loans: "
        f"median {statistics.median(dry) * 1000:.1f} ms, slowest {max(dry) * 1000:.1f} ms"
    )
    hub = events.EventHub(url)
    previous = events.set_hub(hub)
    totals: list[float] = []
    scans: list[float] = []
    deliveries: list[float] = []
    try:
        async with hub.subscribe(events.ALERTS_CHANNEL) as feed:
            for loan_id in await _current_loans(sessions, rounds):
                async with unit_of_work(sessions) as session:
                    await session.execute(
                        update(Loan)
                        .where(Loan.id == loan_id)
                        .values(days_past_due=95, delinquency_bucket=DelinquencyBucket.DPD_90_PLUS)
                    )
                t0 = time.perf_counter()
                report = await run_scan(sessions, as_of=utcnow().date(), trigger="bench")
                t1 = time.perf_counter()
                found = False
                while not found:
                    async with asyncio.timeout(10):
                        payload = await anext(aiter(feed))
                    ids = [uuid.UUID(i) for i in payload["alerts"].split(",")]
                    async with sessions() as session:
                        rows = await alerts.matching(
                            session, viewer=PLATFORM, flt=alerts.AlertFilter(ids=ids)
                        )
                    found = any(r.loan_id == loan_id for r in rows)
                t2 = time.perf_counter()
                assert report.loans_scanned >= 1
                totals.append(t2 - t0)
                scans.append(t1 - t0)
                deliveries.append(t2 - t1)
    finally:
        await hub.aclose()
        events.set_hub(previous)
        await engine.dispose()

    def show(name: str, values: list[float]) -> None:
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        median = statistics.median(values) * 1000
        print(f"  {name:<34} median {median:8.1f} ms   p95 {p95 * 1000:8.1f} ms")

    print(f"{len(totals)} rounds (one loan falls 95 days behind each round):")
    show("change committed -> alert in hand", totals)
    show("  incremental scan", scans)
    show("  notify -> subscriber has read it", deliveries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enterprises", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--database-url", help="e.g. postgresql+asyncpg://...; SQLite if left out")
    parser.add_argument("--quick", action="store_true", help="a smoke run for CI (SQLite)")
    args = parser.parse_args()
    if args.quick:
        args.enterprises, args.rounds = 200, 3
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'latency.db'}"
        asyncio.run(bench(url, enterprises=args.enterprises, rounds=args.rounds))


if __name__ == "__main__":
    main()
