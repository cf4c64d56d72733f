"""How fast the synthetic population is written.

Migrates a fresh database (a temporary SQLite file unless ``--database-url`` says
otherwise; on PostgreSQL the ``public`` schema is dropped and recreated first), seeds
it, and prints the wall time, the rows per table and the rows per second.

    python bench/seed_benchmark.py [--enterprises N] [--seed S] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import fields
from pathlib import Path

from sqlalchemy import text

from kernel.db import create_engine, session_factory
from migrations.runner import upgrade
from privacy.keys import generate
from seed import SeedSummary, seed_population


async def run(*, url: str, enterprises: int, seed: int) -> tuple[SeedSummary, float, str]:
    engine = create_engine(url)
    try:
        if engine.dialect.name == "postgresql":
            async with engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
        await upgrade(engine)
        started = time.perf_counter()
        summary = await seed_population(
            session_factory(engine), enterprises=enterprises, seed=seed, keys=generate()
        )
        return summary, time.perf_counter() - started, engine.dialect.name
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--enterprises", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--database-url", help="default: a fresh temporary SQLite file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'seed.db'}"
        summary, seconds, dialect = asyncio.run(
            run(url=url, enterprises=args.enterprises, seed=args.seed)
        )

    print(f"database   {dialect}")
    print(f"seeded     {args.enterprises:,} enterprises in {seconds:.1f} s")
    for field in fields(summary):
        print(f"  {field.name:<22}{getattr(summary, field.name):>10,}")
    print(f"  {'total':<22}{summary.total:>10,}")
    print(f"rows/s     {summary.total / seconds:,.0f}")


if __name__ == "__main__":
    main()
