"""How long the month-end close takes over a large book (issue 20's target: 1,000,000
active loans in under 5 minutes).

A migrated database (a temporary SQLite file; with ``--postgres`` a PostgreSQL
database, its ``public`` schema dropped and recreated first) is filled with
``--loans`` active loans by the lending benchmark's bulk loader
(``bench/lending_benchmark.py``: Core multi-row INSERTs of institutions, products,
enterprises, applications, loans and 12 monthly instalments each; every delinquency
bucket populated). The whole close (``domain.provisioning.close.month_end_close``:
accrue, age, stage, provision, snapshot) of every institution then runs for the last month
end, timed per step; then again for the same date, which must accrue and post nothing. Prints
figures and the loans per second, and what that rate gives for 1,000,000 loans
(a linear extrapolation: every step is a pass in id order, batch by batch).

    python bench/close_benchmark.py [--loans N] [--postgres URL] [--seed S] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from lending_benchmark import fresh, load
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.analytics.service import month_end_on_or_before
from domain.provisioning.close import STEPS, Close, Sessions, Step, month_end_close
from kernel.base import utcnow
from kernel.db import session_factory

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

        return Step(step.name, work)

    return tuple(wrap(s) for s in steps)


async def close_once(
    sessions: async_sessionmaker[AsyncSession], close: Close
) -> tuple[float, dict[str, float], dict[str, Any]]:
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    result = await month_end_close(sessions, close, steps=timed(STEPS, seconds))
    return time.perf_counter() - started, seconds, result


async def bench(url: str, *, loans: int, seed: int) -> None:
    today = utcnow().date()
    as_of = month_end_on_or_before(today)
    engine = await fresh(url)
    try:
        loaded = await load(engine, loans=loans, seed=seed, as_of=today)
        name = engine.dialect.name
        print(f"{name}: loaded {loans:,} loans in {loaded.wall:.1f} s")
        sessions = session_factory(engine)
        close = Close(as_of=as_of, institution_id=None)
        total, seconds, result = await close_once(sessions, close)
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items())
        rate = loans / total
        print(
            f"{name}: month-end close of {result['stage']['loans']:,} loans at {as_of}: "
            f"{total:.1f} s ({steps}); {rate:,.0f} loans/s; stages {result['stage']['stages']}, "
            f"{result['provision']['entries']:,} provision entries, ECL {result['stage']['ecl']}"
        )
        print(
            f"{name}: at that rate {TARGET:,} loans take {TARGET / rate / 60:.1f} min "
            f"(target: under 5 min)"
        )
        again, seconds, result = await close_once(sessions, close)
        assert result["provision"]["entries"] == 0, "a repeated close posted again"
        assert result["accrue"]["loans"] == 0, "a repeated close accrued again"
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in seconds.items())
        print(f"{name}: the same close again: {again:.1f} s ({steps}); 0 entries posted")
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--postgres", metavar="URL", help="on PostgreSQL instead of SQLite")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--quick", action="store_true", help="a smoke run for CI (SQLite)")
    args = parser.parse_args()
    if args.quick:
        if args.postgres:
            parser.error("--quick runs on SQLite only")
        args.loans = 1000
    if args.postgres:
        asyncio.run(bench(args.postgres, loans=args.loans, seed=args.seed))
        return
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'close.db'}"
        asyncio.run(bench(url, loans=args.loans, seed=args.seed))


if __name__ == "__main__":
    main()
