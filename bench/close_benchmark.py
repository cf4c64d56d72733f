"""How long the month-end close takes over a large book (issue 20's target: 1,000,000
active loans in under 5 minutes, with the postings).

The headline is a *normal* close: the book stands as last month's close left it, and
this month end's close (``domain.provisioning.close.month_end_close``: accrue, age,
stage, provision, snapshot, every institution) is timed per step, then run again for
the same date, which must accrue and post nothing.

- PostgreSQL (``--postgres URL``, its ``public`` schema dropped and recreated first):
  the book is written in SQL by ``bench/close_book.py`` as last month's close left it
  (markers, late fees, penalty interest, receivables and loss allowance in the ledger),
  about a minute per 100,000 loans. ``--seed-only`` stops there; ``--reuse`` closes a
  database seeded so (a copy: ``createdb -T seeded copy``) without seeding it again.
- SQLite (the default, and ``--quick`` for CI): the lending benchmark's loader
  (``bench/lending_benchmark.py``), then last month end's close run untimed as a first
  close (loans never accrued: its figure is printed too), then this month end's.

Prints each step's seconds, the loans per second, the entries and lines posted, what
that rate gives for 1,000,000 loans, and the load averages before and after.

    python bench/close_benchmark.py [--loans N] [--postgres URL [--seed-only | --reuse]]
                                    [--seed S] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from close_book import seed_book
from lending_benchmark import fresh, load
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.analytics.service import month_end_on_or_before
from domain.provisioning.close import STEPS, Close, Sessions, Step, month_end_close
from kernel.base import utcnow
from kernel.db import create_engine, session_factory

TARGET = 1_000_000


def timed(steps: tuple[Step, ...], seconds: dict[str, float]) -> tuple[Step, ...]:
    """The steps, each timing itself into ``seconds``."""

    def wrap(step: Step) -> Step:
        async def work(sessions: Sessions, close: Close) -> dict[str, Any]:
            started = time.perf_counter()
            try:
                return await step.work(sessions, close)
            finally:
                seconds[step.name] = time.perf_counter() - started
                # As it ends: a long run shows its steps before the close is over.
                print(f"  {step.name}: {seconds[step.name]:.1f} s", flush=True)

        return Step(step.name, work)

    return tuple(wrap(s) for s in steps)


async def journal_size(engine: AsyncEngine) -> tuple[int, int]:
    async with engine.connect() as conn:
        entries = await conn.scalar(text("SELECT count(*) FROM journal_entries"))
        lines = await conn.scalar(text("SELECT count(*) FROM journal_lines"))
    return int(entries or 0), int(lines or 0)


async def close_once(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession], close: Close
) -> tuple[float, dict[str, float], dict[str, Any], tuple[int, int]]:
    """One close: (seconds, per step, its figures, (entries, lines) it posted)."""
    seconds: dict[str, float] = {}
    entries, lines = await journal_size(engine)
    started = time.perf_counter()
    result = await month_end_close(sessions, close, steps=timed(STEPS, seconds))
    total = time.perf_counter() - started
    after = await journal_size(engine)
    return total, seconds, result, (after[0] - entries, after[1] - lines)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def report(
    name: str, title: str, loans: int, run: tuple[float, dict[str, float], dict[str, Any], Any]
) -> float:
    total, seconds, result, (entries, lines) = run
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items())
    rate = loans / total
    print(
        f"{name}: {title} of {result['stage']['loans']:,} loans at {result['asOf']}: "
        f"{total:.1f} s ({steps}); {rate:,.0f} loans/s"
    )
    print(
        f"{name}:   accrued {result['accrue']['loans']:,} loans (interest "
        f"{result['accrue']['interest']}, penalty {result['accrue']['penalty']}, late fees "
        f"{result['accrue']['lateFees']}); aged {result['age']['changed']:,} changed; "
        f"stages {result['stage']['stages']}, ECL {result['stage']['ecl']}; "
        f"{result['provision']['entries']:,} provision entries; "
        f"posted {entries:,} entries, {lines:,} lines"
    )
    return rate


async def bench(url: str, *, loans: int, seed: int, seed_only: bool, reuse: bool) -> None:
    as_of = month_end_on_or_before(utcnow().date())
    previous = as_of.replace(day=1) - timedelta(days=1)
    print(f"load averages before: {load_average()}")
    engine = create_engine(url) if reuse else await fresh(url)
    try:
        name = engine.dialect.name
        sessions = session_factory(engine)
        if name == "postgresql" and not reuse:
            seeded = await seed_book(engine, loans=loans, seed=seed, as_of=as_of, previous=previous)
            steps = ", ".join(f"{k} {v:.1f} s" for k, v in seeded.by_step.items())
            rows = ", ".join(f"{k} {v:,}" for k, v in seeded.rows.items())
            print(f"{name}: seeded {rows} as closed at {previous} in {seeded.seconds:.1f} s")
            print(f"{name}:   ({steps})")
        elif name != "postgresql":
            loaded = await load(engine, loans=loans, seed=seed, as_of=as_of)
            print(f"{name}: loaded {loans:,} loans in {loaded.wall:.1f} s")
            first = await close_once(engine, sessions, Close(as_of=previous, institution_id=None))
            report(name, "first close (nothing accrued before)", loans, first)
        if seed_only:
            return
        close = Close(as_of=as_of, institution_id=None)
        run = await close_once(engine, sessions, close)
        rate = report(name, "month-end close", loans, run)
        print(
            f"{name}: at that rate {TARGET:,} loans take {TARGET / rate / 60:.1f} min "
            f"(target: under 5 min)"
        )
        again = await close_once(engine, sessions, close)
        total, seconds, result, (entries, lines) = again
        assert entries == lines == 0, "a repeated close posted again"
        assert result["accrue"]["loans"] == 0, "a repeated close accrued again"
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items())
        print(f"{name}: the same close again: {total:.1f} s ({steps}); 0 entries posted")
    finally:
        await engine.dispose()
        print(f"load averages after: {load_average()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--postgres", metavar="URL", help="on PostgreSQL instead of SQLite")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--seed-only", action="store_true", help="PostgreSQL: seed, no close")
    parser.add_argument("--reuse", action="store_true", help="PostgreSQL: close a seeded copy")
    parser.add_argument("--quick", action="store_true", help="a smoke run for CI (SQLite)")
    args = parser.parse_args()
    if args.quick:
        if args.postgres:
            parser.error("--quick runs on SQLite only")
        args.loans = 1000
    if (args.seed_only or args.reuse) and not args.postgres:
        parser.error("--seed-only and --reuse need --postgres URL")
    options = {"loans": args.loans, "seed": args.seed, "seed_only": args.seed_only}
    if args.postgres:
        asyncio.run(bench(args.postgres, **options, reuse=args.reuse))
        return
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'close.db'}"
        asyncio.run(bench(url, **options, reuse=False))


if __name__ == "__main__":
    main()
