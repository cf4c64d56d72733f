"""A full early-warning scan as split jobs, on 1, 2 and 4 worker processes.

The book is the scan benchmark's (``risk_scan_benchmark``: 1,000,000 active loans on
PostgreSQL by default, filled straight from numpy with COPY, 20 platform rules), built in
a database of its own. One full scan runs first in this process (``run_scan``), as the
first one in production does: it writes every loan's warning and raises the book's
alerts. Then, for each worker count, that many ``lendgraph worker`` processes start
(``--concurrency`` jobs each), a full scan is submitted as a job (``risk_scan``: the
parent records it and defers one chunk job per ``--range`` loans, which the workers
share) and the clock runs from the submission until the job's record says succeeded:
the daily full scan as the queue runs it. Workers start before the clock does (they are
long-lived in production); each count gets a fresh set. Prints wall time and loans per
second per count; nothing is asserted.

    python bench/job_scan_benchmark.py --database-url postgresql+asyncpg://.../jobs_bench
                                       [--loans N] [--workers 1,2,4] [--range N]
                                       [--concurrency N] [--reuse-book] [--quick]

The queue needs PostgreSQL: several processes share it. ``--quick`` is CI's smoke run:
2,000 loans, 1 and 2 workers, chunks of 500.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from risk_scan_benchmark import PG_LOANS, QUICK_LOANS, build, fresh, report_build
from sqlalchemy import func, select, text

from domain.jobs import repository as jobs_repo
from domain.jobs import tasks
from domain.jobs.models import JobState
from domain.jobs.queue import JobQueue
from domain.lending.models import Loan, LoanStatus
from domain.risk.scan import run_scan
from domain.settings import load_settings
from kernel.base import utcnow
from kernel.db import create_engine, session_factory

ROOT = Path(__file__).resolve().parents[1]


def start_workers(url: str, count: int, concurrency: int) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "LENDGRAPH_DATABASE_URL": url,
        "LENDGRAPH_RISK_SCAN_INTERVAL": "0",  # no scheduled scan beside the measured one
        "LENDGRAPH_LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "api.cli", "worker", "--concurrency", str(concurrency)]
    return [
        subprocess.Popen(  # noqa: S603 - our own command line, no shell
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(count)
    ]


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)  # procrastinate stops after the job in hand
    for worker in workers:
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


async def registered_workers(url: str) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(text("SELECT count(*) FROM procrastinate_workers")) or 0)
    finally:
        await engine.dispose()


async def timed_scan(url: str, *, range_size: int) -> tuple[float, int, int]:
    """Submit a full scan job and wait for it: seconds, loans scanned, chunks."""
    settings = load_settings(database_url=url, risk_scan_interval=0)
    engine = create_engine(url)
    sessions = session_factory(engine)
    queue = JobQueue(settings, schedules=tasks.Schedules.none())
    try:
        started = time.perf_counter()
        run = await queue.submit(
            sessions, tasks.SCAN, params={"full": True, "range_size": range_size}, trigger="bench"
        )
        while True:
            async with sessions() as session:
                row = await jobs_repo.get(session, run.id)
            assert row is not None
            if row.state in (JobState.SUCCEEDED, JobState.FAILED):
                break
            await asyncio.sleep(0.05)
        seconds = time.perf_counter() - started
        if row.state is JobState.FAILED:
            raise SystemExit(f"the scan job failed: {row.error}")
        assert row.result is not None
        return seconds, int(row.result["loans"]), int(row.total or 0)
    finally:
        await queue.close()
        await engine.dispose()


async def prepare(url: str, *, loans: int, reuse: bool) -> int:
    if not reuse:
        engine = await fresh(url)
        as_of = utcnow().date()
        try:
            built = await build(engine, loans=loans, seed=42, as_of=as_of, connections=2)
            report_build(built, dialect="postgresql", loans=loans, seed=42, as_of=as_of)
        finally:
            await engine.dispose()
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            active = int(
                await conn.scalar(
                    select(func.count()).select_from(Loan).where(Loan.status == LoanStatus.ACTIVE)
                )
                or 0
            )
        started = time.perf_counter()
        first = await run_scan(
            session_factory(engine), as_of=utcnow().date(), full=True, trigger="bench"
        )
        print(
            f"first full scan in this process: {time.perf_counter() - started:.2f} s, "
            f"{first.loans_scanned:,} loans, {first.alerts_raised:,} alerts raised "
            "(every warning written)"
        )
        return active
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True, help="postgresql+asyncpg://...")
    parser.add_argument("--loans", type=int, help=f"default {PG_LOANS:,}")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts to try")
    parser.add_argument("--range", type=int, default=tasks.RANGE, help="loans per chunk job")
    parser.add_argument("--concurrency", type=int, default=1, help="jobs per worker process")
    parser.add_argument("--reuse-book", action="store_true", help="scan the book already there")
    parser.add_argument("--quick", action="store_true", help="a smoke run for CI")
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        parser.error("worker processes share the queue on PostgreSQL only")
    if args.quick:
        args.loans, args.workers, args.range = QUICK_LOANS, "1,2", 500
    counts = [int(n) for n in args.workers.split(",")]
    url = args.database_url
    active = asyncio.run(prepare(url, loans=args.loans or PG_LOANS, reuse=args.reuse_book))
    chunks = -(-active // args.range)
    print(
        f"full scan as jobs: {active:,} active loans in about {chunks} chunks of {args.range:,}, "
        f"{args.concurrency} job(s) per worker process, {os.cpu_count()} CPUs"
    )
    for count in counts:
        workers = start_workers(url, count, args.concurrency)
        try:
            deadline = time.monotonic() + 60
            while asyncio.run(registered_workers(url)) < count:
                if time.monotonic() > deadline:
                    raise SystemExit("the workers did not start")
                time.sleep(0.2)
            seconds, loans, total = asyncio.run(timed_scan(url, range_size=args.range))
        finally:
            stop_workers(workers)
        print(
            f"  {count} worker process{'es' if count > 1 else ''}  {seconds:8.2f} s  "
            f"{loans:>10,} loans in {total} chunks  ({loans / seconds:>9,.0f} loans/s)"
        )


if __name__ == "__main__":
    main()
