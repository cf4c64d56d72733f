"""How fast portfolioSummary answers (issue 8's targets).

Targets, on PostgreSQL: the seeded portfolio of 10,000 enterprises in under 300 ms, and
a book of 1,000,000 loans in under 3 s.

Two databases, one after the other, at ``--database-url`` (a temporary SQLite file
unless given; on PostgreSQL the ``public`` schema is dropped and recreated for each):

1. ``seed_population`` with ``--enterprises`` enterprises (their month-end snapshots
   included), as ``bench/seed_benchmark.py`` writes it;
2. the early-warning benchmark's bulk-generated loan book (``bench/risk_scan_benchmark.py``:
   ``--loans`` active loans, their schedules, enterprises, accounts and assessments),
   here with each application's time line and each loan's month-end snapshots since
   its disbursement added, derived from the same arrays (paid instalments were paid on
   their due dates, so a loan's past is its schedule up to its oldest unpaid instalment);
   then, in SQL as the seed does, the PDs in force (on the enterprises and each month
   end) and where each month end's loans were at the next: about a quarter of an hour
   for 1,000,000 loans on two cores.

On each, the whole ``portfolioSummary`` (every figure group, default period: the twelve
months to today) is asked over HTTP through the app by a platform risk officer, then
by the risk officer of the busiest institution; ``--repeat`` times after a warm-up, and
the median and 90th percentile of the wall times printed with the statements a request
cost, and on PostgreSQL as a multiple of a yardstick timed first (``common.yardstick``:
counting 10,000,000 generated rows), since machines of the same size differ by a
factor of three here. Then each figure group alone, through the domain functions on a
session of its own, to show where the time goes. Nothing is asserted.

The book's snapshots are put in month order once loaded (``CLUSTER`` on PostgreSQL), as
the ageing job writing a month at a time leaves them. ``--jit`` turns PostgreSQL's JIT
compilation back on for the app's connections (the service turns it off: it compiles
each wide aggregate anew, and that costs more than it saves); ``--reuse-book`` times the loan
book a previous run left in the database instead of building one.

    python bench/analytics_benchmark.py [--database-url URL] [--enterprises N]
                                        [--loans N] [--repeat N] [--seed S]
                                        [--skip-seeded] [--skip-book] [--reuse-book]
                                        [--jit] [--quick]

``--loans`` defaults to 1,000,000 on PostgreSQL and 20,000 on SQLite. ``--quick`` is
CI's smoke run: 100 enterprises and 1,000 loans on a throwaway SQLite file.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import risk_scan_benchmark as loan_book
from common import (
    YARDSTICK_ROWS,
    bench_settings,
    busiest_institution,
    prepare,
    signed_in,
    summary,
    yardstick,
)
from sqlalchemy import event, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.app import create_app
from domain.analytics import repository as analytics_repository
from domain.analytics import service
from domain.analytics.models import LoanBucketSnapshot
from domain.applications.models import ApplicationStatus, Transition
from domain.identity.models import Role
from domain.identity.viewer import Viewer
from domain.risk import repository as risk_repository
from kernel.base import utcnow
from kernel.db import create_engine, session_factory

QUICK_ENTERPRISES = 100
QUICK_LOANS = 1_000
SUMMARY = """
{ portfolioSummary {
    period { bookDate }
    funnel { submitted approved rejected approvalRate }
    decisionTimes { decided medianHours p90Hours }
    volume { disbursedLoans disbursedAmount activeLoans outstanding }
    delinquency { nonPerforming nonPerformingRatio buckets { bucket loans outstanding } }
    rollRates { loans cells { fromBucket toState loans share } }
    vintages { cohort loans points { monthsOnBook cumulativeDefaultRate } }
    concentration { topShare borrowerHhi industryHhi regionHhi
                    topBorrowers { name outstanding } industries { name share } }
    expectedLoss { change start { expectedLoss } end { expectedLoss averagePd } }
} }
"""
# The floor: the same request, authenticated and scoped, reading no figure.
FLOOR = "{ portfolioSummary { period { bookDate } } }"
SNAPSHOTS = loan_book._table(LoanBucketSnapshot)
MONTH_INDEX = "ix_loan_bucket_snapshots_month_end_institution_id"
TRANSITIONS = loan_book._table(Transition)
# An application's moves before its loan, hours after submission (median review and
# decision times; the spread is lognormal).
REVIEW_HOURS, DECISION_HOURS = 6.0, 72.0


# ------------------------------------------------------------- the book, with history


class BookWithHistory(loan_book.LoanBook):
    """The risk benchmark's book, plus time lines and month-end snapshots per loan.

    Drawn from a generator of its own, so the book itself is the same as the risk
    benchmark's for the same seed.
    """

    def __init__(self, *, seed: int, as_of: date, stamp: Any) -> None:
        super().__init__(seed=seed, as_of=as_of, stamp=stamp)
        self.history_rng = np.random.default_rng(seed + 1)

    def batch(self, first: int, count: int) -> loan_book.Tables:
        tables = super().batch(first, count)
        for table, columns in tables.items():
            # A change stamp the generator may not know yet: as of the row's creation.
            if "updated_at" in table.c and "updated_at" not in columns and "created_at" in columns:
                columns["updated_at"] = columns["created_at"]
        loans, instalments = tables[loan_book.LOANS], tables[loan_book.INSTALMENTS]
        tables[TRANSITIONS] = self._time_lines(tables[loan_book.APPLICATIONS], loans)
        tables[SNAPSHOTS] = self._snapshots(loans, instalments)
        return tables

    def _time_lines(self, applications: loan_book.Columns, loans: loan_book.Columns) -> Any:
        rng, count = self.history_rng, len(loans["id"])
        submitted = applications["submitted_at"]
        hour = np.timedelta64(3600, "s")
        review = submitted + (rng.lognormal(np.log(REVIEW_HOURS), 0.8, count) * 3600).astype(
            "timedelta64[s]"
        ).clip(60, 3 * 86400)
        decided = review + (rng.lognormal(np.log(DECISION_HOURS), 0.9, count) * 3600).astype(
            "timedelta64[s]"
        ).clip(60, 12 * 86400)
        disbursed = loans["created_at"]
        signed = np.minimum(decided + 24 * hour, disbursed - hour)
        applications["decided_at"] = applications["first_decided_at"] = decided
        S = ApplicationStatus
        moves = (
            (None, S.DRAFT, submitted - hour),
            (S.DRAFT, S.SUBMITTED, submitted),
            (S.SUBMITTED, S.UNDER_REVIEW, review),
            (S.UNDER_REVIEW, S.APPROVED, decided),
            (S.APPROVED, S.CONTRACT_SIGNED, signed),
            (S.CONTRACT_SIGNED, S.DISBURSED, disbursed),
        )
        n = len(moves)
        return {
            "id": self.ids.take(n * count),
            "application_id": np.repeat(np.asarray(applications["id"], dtype=object), n).tolist(),
            "from_status": [None if m[0] is None else m[0].value for m in moves] * count,
            "to_status": [m[1].value for m in moves] * count,
            "at": np.stack([m[2] for m in moves], axis=1).reshape(-1),
            "note": [""] * (n * count),
        }

    def _snapshots(self, loans: loan_book.Columns, instalments: loan_book.Columns) -> Any:
        """Every month end from each loan's disbursement to before the book's date."""
        principal, term = loans["principal"], loans["term_months"]
        disbursed_month = loans["disbursed_on"].astype("datetime64[M]").astype(np.int64)
        months = np.maximum(self.month - disbursed_month, 0)
        loan = np.repeat(np.arange(len(principal)), months)
        on_book = np.arange(len(loan)) - np.repeat(np.cumsum(months) - months, months)
        month_end = (disbursed_month[loan] + on_book + 1).astype("datetime64[M]").astype(
            "datetime64[D]"
        ) - np.timedelta64(1, "D")
        # Days past due: instalments before the oldest unpaid one were paid on time.
        late_now = loans["days_past_due"][loan]
        oldest_unpaid = self.day - late_now
        dpd = np.where(late_now > 0, (month_end - oldest_unpaid).astype(np.int64), 0).clip(0)
        # Principal paid by a month end: the paid instalments due in the months up to it.
        start = np.cumsum(term) - term
        paid = np.concatenate([[0], np.cumsum(instalments["principal_paid"])])
        due_by = start[loan] + np.minimum(on_book, term[loan])
        outstanding = principal[loan] - (paid[due_by] - paid[start[loan]])
        ids = np.asarray(loans["id"], dtype=object)
        institutions = np.asarray(loans["institution_id"], dtype=object)
        return {
            "loan_id": ids[loan].tolist(),
            "month_end": month_end,
            "institution_id": institutions[loan].tolist(),
            "delinquency_bucket": self.buckets[dpd].tolist(),
            "days_past_due": dpd,
            "outstanding_principal": outstanding,
        }


async def build_book(
    engine: AsyncEngine, *, loans: int, seed: int, as_of: date, connections: int
) -> loan_book.Built:
    """``risk_scan_benchmark.build`` with the history added (same writers, same steps)."""
    book = BookWithHistory(seed=seed, as_of=as_of, stamp=utcnow())
    gc.collect()
    gc.disable()  # millions of acyclic strings and lists: the collector would only rescan them
    started = time.perf_counter()
    try:
        async with AsyncExitStack() as stack:
            writers: list[loan_book.Writer] = []
            if engine.dialect.name == "postgresql":
                built, encode = loan_book.Built(connections), loan_book.copy_payload
                for _ in range(connections):
                    conn = await stack.enter_async_context(engine.connect())
                    driver = (await conn.get_raw_connection()).driver_connection
                    writers.append(loan_book.CopyWriter(driver))
            else:
                built, encode = loan_book.Built(1), loan_book.insert_payload
                conn = await stack.enter_async_context(engine.connect())
                writers.append(loan_book.InsertWriter(conn))
            await loan_book.fill(writers, encode, book, loans, built)
    finally:
        gc.enable()
    built.wall = time.perf_counter() - started
    started = time.perf_counter()
    await derive_pds(engine)
    async with engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        if engine.dialect.name == "postgresql":
            # The ageing job writes a month's snapshots together, so a month's rows sit
            # together; the generator writes them loan by loan: put them in month order.
            await auto.execute(text(f"CLUSTER {SNAPSHOTS.name} USING {MONTH_INDEX}"))
            await auto.execute(text("VACUUM (ANALYZE)"))
        else:
            await auto.execute(text("ANALYZE"))
    built.vacuum = time.perf_counter() - started
    return built


async def derive_pds(engine: AsyncEngine) -> None:
    """The PDs in force, on the enterprises and on each month end, from the assessments
    the generator wrote, and where each month end's loans were at the next: as the seed
    derives them."""
    async with session_factory(engine)() as session, session.begin():
        await risk_repository.refresh_pd_in_force(session)
        await analytics_repository.complete_snapshots(session)


# ----------------------------------------------------------------------------- timing


def with_jit(engine: AsyncEngine) -> None:
    """Every new connection of ``engine`` with PostgreSQL's JIT compilation back on (the
    service turns it off, ``kernel/db.py``)."""

    def on(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SET jit = on")
        cursor.close()

    event.listen(engine.sync_engine, "connect", on)


async def time_api(engine: AsyncEngine, url: str, *, repeat: int, label: str) -> None:
    settings = bench_settings(url)
    app = create_app(settings, engine=engine)
    institution_id, code = await busiest_institution(engine)
    readers = {
        "platform risk officer": await signed_in(
            engine, settings, Role.PLATFORM_RISK_OFFICER, None, name="Platform Risk"
        ),
        f"risk officer of {code}": await signed_in(
            engine, settings, Role.RISK_OFFICER, institution_id, name="Bench Risk"
        ),
    }
    reference = await yardstick(engine)
    if reference is not None:
        print(
            f"  {label:<8} yardstick: PostgreSQL counts {YARDSTICK_ROWS:,} generated rows in "
            f"{reference:.0f} ms here (median of 5); figures below also as multiples of it"
        )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for who, token in readers.items():
            headers = {"authorization": f"Bearer {token}"}

            async def ask(query: str, headers: dict[str, str] = headers) -> dict[str, Any]:
                response = await client.post("/graphql", json={"query": query}, headers=headers)
                body: dict[str, Any] = response.json()
                if "errors" in body:
                    raise SystemExit(f"portfolioSummary failed: {body['errors']}")
                return body

            # Warm-up: the policy, the parse and validation caches, the database's pages.
            await ask(FLOOR)
            body = await ask(SUMMARY)
            samples, floor = [], []
            for _ in range(repeat):  # interleaved, so load on the machine hits both alike
                gc.collect()
                started = time.perf_counter()
                await ask(FLOOR)
                floor.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                body = await ask(SUMMARY)
                samples.append((time.perf_counter() - started) * 1000)
            statements = body["extensions"]["debug"]["sqlStatements"]
            times = "" if reference is None else f"; {statistics.median(samples) / reference:.2f}x"
            print(
                f"  {label:<8} {who:<28}{summary(samples)}  (median, p90; "
                f"{statements} statements a request{times})"
            )
            print(f"  {'':<8} {'  floor (no figure asked)':<28}{summary(floor)}")
            if who == "platform risk officer":
                figures = body["data"]["portfolioSummary"]
                print(
                    f"           book {figures['volume']['activeLoans']:,} loans, outstanding "
                    f"{figures['volume']['outstanding']}, NPL ratio "
                    f"{figures['delinquency']['nonPerformingRatio']:.4f}, "
                    f"{figures['funnel']['submitted']:,} applications in the period"
                )


async def time_groups(engine: AsyncEngine, *, repeat: int) -> None:
    """Each figure group alone, on a session of its own: where the time goes."""
    viewer = Viewer(user_id=uuid.uuid4(), platform_roles=frozenset({Role.PLATFORM_RISK_OFFICER}))
    flt = service.PortfolioFilter()
    groups: dict[str, Callable[[AsyncSession], Awaitable[Any]]] = {
        "funnel": lambda s: service.application_funnel(s, viewer, flt),
        "decision times": lambda s: service.decision_times(s, viewer, flt),
        "volume": lambda s: service.lending_volume(s, viewer, flt),
        "delinquency": lambda s: service.delinquency(s, viewer, flt),
        "roll rates": lambda s: service.roll_rates(s, viewer, flt),
        "vintages": lambda s: service.vintage_curves(s, viewer, flt),
        "concentration": lambda s: service.concentration(s, viewer, flt),
        "expected loss": lambda s: service.expected_loss(s, viewer, flt),
    }
    sessions = session_factory(engine)
    line = []
    for name, compute in groups.items():
        samples = []
        for _ in range(max(repeat // 2, 1) + 1):
            async with sessions() as session:
                started = time.perf_counter()
                await compute(session)
                samples.append((time.perf_counter() - started) * 1000)
        line.append(f"{name} {statistics.median(samples[1:] or samples):.0f}")
    print("           each group alone (ms, platform view): " + ", ".join(line))


async def counts(engine: AsyncEngine) -> str:
    async with engine.connect() as conn:
        snapshots = await conn.scalar(select(func.count()).select_from(SNAPSHOTS))
        transitions = await conn.scalar(select(func.count()).select_from(TRANSITIONS))
    return f"{snapshots:,} month-end snapshots, {transitions:,} transitions"


# ------------------------------------------------------------------------------- main


async def bench_seeded(url: str, *, enterprises: int, repeat: int, jit: bool) -> None:
    started = time.perf_counter()
    engine = await prepare(url, enterprises)
    if jit and engine.dialect.name == "postgresql":
        await engine.dispose()
        with_jit(engine)
        print("           (JIT compilation on)")
    try:
        # The statistics a live database has (autovacuum analyses tables this size soon
        # after a bulk load): without them the planner guesses a handful of rows.
        async with engine.connect() as conn:
            auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await auto.execute(text("ANALYZE"))
        print(
            f"seeded     {enterprises:,} enterprises in {time.perf_counter() - started:.1f} s "
            f"({await counts(engine)})"
        )
        await time_api(engine, url, repeat=repeat, label="seeded")
        await time_groups(engine, repeat=repeat)
    finally:
        await engine.dispose()


async def bench_book(
    url: str, *, loans: int, seed: int, repeat: int, connections: int, reuse: bool, jit: bool
) -> None:
    if reuse:
        engine = create_engine(url)
        print(f"loan book  {engine.dialect.name}, the one in the database ({await counts(engine)})")
    else:
        engine = await loan_book.fresh(url)
    try:
        if not reuse:
            as_of = utcnow().date()
            built = await build_book(
                engine, loans=loans, seed=seed, as_of=as_of, connections=connections
            )
            loan_book.report_build(
                built, dialect=engine.dialect.name, loans=loans, seed=seed, as_of=as_of
            )
        if jit and engine.dialect.name == "postgresql":
            await engine.dispose()  # new connections, each with JIT on
            with_jit(engine)
            print("           (JIT compilation on)")
        await time_api(engine, url, repeat=repeat, label="book")
        await time_groups(engine, repeat=repeat)
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="default: a fresh temporary SQLite file")
    parser.add_argument("--enterprises", type=int, default=10_000)
    parser.add_argument("--loans", type=int, help="default 1,000,000 on PostgreSQL")
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--connections", type=int, default=2, help="COPY connections on PostgreSQL")
    parser.add_argument("--skip-seeded", action="store_true", help="only the loan book")
    parser.add_argument("--skip-book", action="store_true", help="only the seeded population")
    parser.add_argument("--quick", action="store_true", help="a smoke run for CI (SQLite)")
    parser.add_argument(
        "--jit", action="store_true", help="PostgreSQL's JIT compilation on (the service's is off)"
    )
    parser.add_argument(
        "--reuse-book", action="store_true", help="time the loan book already in the database"
    )
    args = parser.parse_args()
    if args.quick:
        if args.database_url:
            parser.error("--quick runs on SQLite only")
        args.enterprises, args.loans, args.repeat = QUICK_ENTERPRISES, QUICK_LOANS, 3
    postgres = bool(args.database_url and args.database_url.startswith("postgresql"))
    loans = args.loans or (loan_book.PG_LOANS if postgres else loan_book.SQLITE_LOANS)

    with tempfile.TemporaryDirectory() as folder:

        def url(name: str) -> str:
            # A file each on SQLite; PostgreSQL's schema is renewed for each.
            return args.database_url or f"sqlite+aiosqlite:///{Path(folder) / name}"

        print(f"database   {url('').split('://')[0]}; portfolioSummary, all figure groups")
        if not args.skip_seeded:
            asyncio.run(
                bench_seeded(
                    url("seeded.db"),
                    enterprises=args.enterprises,
                    repeat=args.repeat,
                    jit=args.jit,
                )
            )
        if not args.skip_book:
            asyncio.run(
                bench_book(
                    url("book.db"),
                    loans=loans,
                    seed=args.seed,
                    repeat=args.repeat,
                    connections=max(args.connections, 1),
                    reuse=args.reuse_book,
                    jit=args.jit,
                )
            )


if __name__ == "__main__":
    main()
