"""How fast repayment schedules are built and a loan book is aged (issue 5's targets).

Schedules: ``build_schedule`` over a seeded random mix of principals (10,000.00 to
5,000,000.00), annual rates (0.03 to 0.18, six decimals), terms (6 to 60 months) and
every repayment method, the same mix each run; prints every run's total, then the
median run's total and its median and p95 per schedule.

Ageing: a migrated database (a temporary SQLite file; with ``--postgres`` a PostgreSQL
database as well, its ``public`` schema dropped and recreated first) is filled with
Core bulk inserts: institutions, products, enterprises (no personal data), disbursed
applications and active loans, disbursed over the last two years, with 12 monthly
instalments each. Most borrowers paid everything due; the others stopped paying
between a day and a year ago, so every delinquency bucket is populated. The loans are
stored as disbursement leaves them (never aged), and every one is active, fully repaid
or not, so ``age_loans`` looks at all of them. It then runs three times on one day,
each in a transaction of its own (the first two rolled back, the third committed):
every overdue loan changes. Then three times more the same day, rolled back: nothing
changes, which times the read path alone. Prints figures only; nothing is asserted.

    python bench/lending_benchmark.py [--schedules N] [--runs N] [--loans N]
                                      [--postgres URL] [--seed S] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import statistics
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Table, insert, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.applications.models import Application, ApplicationStatus
from domain.enterprises.models import Enterprise
from domain.enterprises.uscc import organisation_check_character, uscc_check_character
from domain.identity.models import Institution, InstitutionKind
from domain.lending.models import DelinquencyBucket, Installment, Loan, LoanStatus
from domain.lending.schedule import add_months, build_schedule
from domain.lending.service import Aged, age_loans
from domain.products.models import Product, ProductStatus, ProductType, RepaymentMethod
from kernel.base import new_id, utcnow
from kernel.db import create_engine, session_factory
from migrations.runner import upgrade

Row = dict[str, Any]

INSTITUTIONS = 10
LOANS_PER_ENTERPRISE = 2
INSTALMENTS = 12
BATCH_LOANS = 2000  # loans generated and written at a time (memory stays flat)
CHUNK_ROWS = 4000  # rows per INSERT executemany, as the seed writes them
AGEING_RUNS = 3
INDUSTRIES = ("manufacturing", "wholesale", "retail", "logistics", "software", "agriculture")
REGIONS = ("310000", "320000", "330000", "440000", "510000", "110000")
# Share of loans by how many days ago the borrower stopped paying (0: paid all due).
LATENESS = ((0.70, 0, 0), (0.12, 1, 30), (0.07, 31, 60), (0.05, 61, 90), (0.06, 91, 365))


# ------------------------------------------------------------------------- schedules


def schedule_mix(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    methods = list(RepaymentMethod)
    first = date(2026, 1, 1)
    return [
        {
            "principal": Decimal(rng.randint(1_000_000, 500_000_000)).scaleb(-2),
            "annual_rate": Decimal(rng.randint(30_000, 180_000)).scaleb(-6),
            "term_months": rng.randint(6, 60),
            "method": rng.choice(methods),
            "first_due_on": first + timedelta(days=rng.randrange(365)),
        }
        for _ in range(count)
    ]


@dataclass(frozen=True, slots=True)
class ScheduleRun:
    total: float  # seconds
    per_call: list[float]  # microseconds
    instalments: int


def time_schedules(mix: list[dict[str, Any]]) -> ScheduleRun:
    per_call: list[float] = []
    instalments = 0
    clock = time.perf_counter_ns
    gc.collect()
    started = clock()
    for terms in mix:
        before = clock()
        instalments += len(build_schedule(**terms))
        per_call.append((clock() - before) / 1000)
    return ScheduleRun(total=(clock() - started) / 1e9, per_call=per_call, instalments=instalments)


def report_schedules(count: int, runs: int, seed: int) -> None:
    mix = schedule_mix(count, seed)
    build_schedule(**mix[0])  # imports and caches warm outside the figures
    timed = [time_schedules(mix) for _ in range(runs)]
    median_run = sorted(timed, key=lambda r: r.total)[len(timed) // 2]
    p95 = statistics.quantiles(median_run.per_call, n=20)[-1]
    methods = Counter(terms["method"].value for terms in mix)
    print(
        f"schedules  {count:,} per run (seed {seed}): "
        + ", ".join(f"{name} {n:,}" for name, n in sorted(methods.items()))
    )
    print("  runs       " + "  ".join(f"{r.total:.3f} s" for r in timed))
    print(
        f"  median run {median_run.total:.3f} s   per schedule: "
        f"median {statistics.median(median_run.per_call):7.1f} µs   p95 {p95:7.1f} µs"
    )
    print(
        f"  instalments {median_run.instalments:,} per run "
        f"({median_run.instalments / count:.1f} per schedule, "
        f"{median_run.instalments / median_run.total:,.0f}/s)"
    )


# --------------------------------------------------------------------------- loans


@dataclass(slots=True)
class Loaded:
    rows: Counter[str] = field(default_factory=Counter)
    # Time in the INSERT statements, per table.
    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    wall: float = 0.0  # generating the rows too
    analyze: float = 0.0


def money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


def credit_code(n: int) -> str:
    """A valid unified social credit code, unique per ``n``."""
    organisation = f"{n:08d}"
    first17 = "91" + REGIONS[n % len(REGIONS)] + organisation
    first17 += organisation_check_character(organisation)
    return first17 + uscc_check_character(first17)


def institution_row(institution_id: uuid.UUID, code: str, n: int, now: datetime) -> Row:
    return {
        "id": institution_id,
        "code": code,
        "name": f"Bench Lender {n}",
        "kind": InstitutionKind.BANK,
        "region": REGIONS[n % len(REGIONS)],
        "four_eyes_threshold": money(100_000_000),
        "created_at": now,
    }


def product_row(
    product_id: uuid.UUID, institution_id: uuid.UUID, now: datetime, **terms: Any
) -> Row:
    """A published product lending 10,000.00 to 5,000,000.00 over 6 to 60 months at 3% to
    18%, open to every borrower; ``terms``: its code, name, type and charges."""
    return {
        "id": product_id,
        "institution_id": institution_id,
        "version": 1,
        "status": ProductStatus.PUBLISHED,
        "description": "",
        "min_amount": money(1_000_000),
        "max_amount": money(500_000_000),
        "min_term_months": 6,
        "max_term_months": 60,
        "min_rate": Decimal("0.030000"),
        "max_rate": Decimal("0.180000"),
        "origination_fee_rate": Decimal("0.000000"),
        "repayment_methods": [m.value for m in RepaymentMethod],
        "collateral_required": False,
        "eligibility": {
            "min_years_in_business": 1,
            "industries": [],
            "regions": [],
            "min_annual_revenue": "0.00",
            "max_debt_to_asset": "0.90",
        },
        "published_at": now,
        "created_at": now,
        **terms,
    }


class Book:
    """Generates the loan book in batches and writes it with Core inserts."""

    def __init__(self, conn: AsyncConnection, *, seed: int, as_of: date) -> None:
        self.conn = conn
        self.rng = random.Random(seed)
        self.as_of = as_of
        self.now = utcnow()
        self.loaded = Loaded()
        self.products: list[tuple[uuid.UUID, uuid.UUID]] = []  # (institution, product)

    async def write(self, model: type[Any], rows: list[Row]) -> None:
        table: Table = model.__table__
        started = time.perf_counter()
        for start in range(0, len(rows), CHUNK_ROWS):
            await self.conn.execute(insert(table), rows[start : start + CHUNK_ROWS])
        self.loaded.seconds[table.name] += time.perf_counter() - started
        self.loaded.rows[table.name] += len(rows)

    async def catalog(self) -> None:
        institutions, products = [], []
        for n in range(INSTITUTIONS):
            institution_id, product_id = new_id(), new_id()
            institutions.append(institution_row(institution_id, f"BENCH{n:02d}", n, self.now))
            products.append(
                product_row(
                    product_id,
                    institution_id,
                    self.now,
                    code="WCL01",
                    name="Working capital loan",
                    type=ProductType.WORKING_CAPITAL_LOAN,
                )
            )
            self.products.append((institution_id, product_id))
        await self.write(Institution, institutions)
        await self.write(Product, products)

    async def loans(self, count: int) -> None:
        for start in range(0, count, BATCH_LOANS):
            await self.batch(range(start, min(start + BATCH_LOANS, count)))

    def lateness(self) -> int:
        """Days before ``as_of`` since which the borrower has paid nothing due."""
        draw = self.rng.random()
        for share, low, high in LATENESS:
            if draw < share:
                return self.rng.randint(low, high)
            draw -= share
        return 0

    async def batch(self, numbers: range) -> None:
        rng, as_of, now = self.rng, self.as_of, self.now
        methods = list(RepaymentMethod)
        enterprises: list[Row] = []
        applications: list[Row] = []
        loans: list[Row] = []
        instalments: list[Row] = []
        enterprise_id = new_id()
        for n in numbers:
            if n % LOANS_PER_ENTERPRISE == 0:
                enterprise_id = new_id()
                enterprises.append(
                    {
                        "id": enterprise_id,
                        "owner_id": None,
                        "unified_social_credit_code": credit_code(n // LOANS_PER_ENTERPRISE),
                        "name": f"Bench Enterprise {n // LOANS_PER_ENTERPRISE}",
                        "industry": rng.choice(INDUSTRIES),
                        "region": rng.choice(REGIONS),
                        "founded_on": as_of - timedelta(days=rng.randint(400, 9000)),
                        "employee_count": rng.randint(1, 500),
                        "annual_revenue": money(rng.randint(100_000, 100_000_000) * 100),
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            institution_id, product_id = self.products[n % INSTITUTIONS]
            application_id, loan_id = new_id(), new_id()
            principal = rng.randint(10, 5000) * 100_000  # cents: 1,000.00 steps
            rate = Decimal(rng.randint(30_000, 180_000)).scaleb(-6)
            method = rng.choice(methods)
            disbursed_on = as_of - timedelta(days=rng.randint(1, 730))
            stopped = as_of - timedelta(days=self.lateness())
            # Equal principal, interest on the opening balance: close enough to a real
            # schedule for ageing, which reads only due dates and settlement.
            share, balance, repaid = principal // INSTALMENTS, principal, 0
            monthly = float(rate) / 12
            for sequence in range(1, INSTALMENTS + 1):
                part = balance if sequence == INSTALMENTS else share
                interest = round(balance * monthly)
                due_on = add_months(disbursed_on, sequence)
                settled = due_on < stopped
                instalments.append(
                    {
                        "id": new_id(),
                        "loan_id": loan_id,
                        "sequence": sequence,
                        "due_on": due_on,
                        "principal_due": money(part),
                        "interest_due": money(interest),
                        "fee_due": money(0),
                        "principal_paid": money(part if settled else 0),
                        "interest_paid": money(interest if settled else 0),
                        "fee_paid": money(0),
                        "settled_on": due_on if settled else None,
                    }
                )
                repaid += part if settled else 0
                balance -= part
            applications.append(
                {
                    "id": application_id,
                    "enterprise_id": enterprise_id,
                    "product_id": product_id,
                    "institution_id": institution_id,
                    "amount": money(principal),
                    "term_months": INSTALMENTS,
                    "repayment_method": method,
                    "purpose": "working capital",
                    "status": ApplicationStatus.DISBURSED,
                    "submitted_at": now,
                    "decided_at": now,
                    "approved_rate": rate,
                    "created_at": now,
                    "updated_at": now,
                    "version": 1,
                }
            )
            loans.append(
                {
                    "id": loan_id,
                    "application_id": application_id,
                    "enterprise_id": enterprise_id,
                    "institution_id": institution_id,
                    "product_id": product_id,
                    "principal": money(principal),
                    "annual_rate": rate,
                    "term_months": INSTALMENTS,
                    "repayment_method": method,
                    "disbursed_on": disbursed_on,
                    "maturity_on": add_months(disbursed_on, INSTALMENTS),
                    "status": LoanStatus.ACTIVE,
                    "outstanding_principal": money(principal - repaid),
                    "days_past_due": 0,
                    "delinquency_bucket": DelinquencyBucket.CURRENT,
                    "aged_on": disbursed_on,
                    "created_at": now,
                    "version": 1,
                }
            )
        await self.write(Enterprise, enterprises)
        await self.write(Application, applications)
        await self.write(Loan, loans)
        await self.write(Installment, instalments)


async def fresh(url: str) -> AsyncEngine:
    """A migrated, empty database (PostgreSQL: schema public renewed)."""
    engine = create_engine(url)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    await upgrade(engine)
    return engine


async def load(engine: AsyncEngine, *, loans: int, seed: int, as_of: date) -> Loaded:
    started = time.perf_counter()
    async with engine.begin() as conn:
        book = Book(conn, seed=seed, as_of=as_of)
        await book.catalog()
        await book.loans(loans)
    book.loaded.wall = time.perf_counter() - started
    # The planner's statistics, which a live database has and a bulk load lacks.
    started = time.perf_counter()
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE"))
    book.loaded.analyze = time.perf_counter() - started
    return book.loaded


@dataclass(frozen=True, slots=True)
class AgeingRun:
    aged: Aged
    seconds: float  # age_loans and the flush of its audit entry
    commit: float | None  # None: rolled back


async def age_once(engine: AsyncEngine, as_of: date, *, commit: bool) -> AgeingRun:
    async with session_factory(engine)() as session:
        gc.collect()
        started = time.perf_counter()
        aged = await age_loans(session, as_of=as_of)
        await session.flush()
        seconds = time.perf_counter() - started
        if not commit:
            await session.rollback()
            return AgeingRun(aged, seconds, None)
        started = time.perf_counter()
        await session.commit()
        return AgeingRun(aged, seconds, time.perf_counter() - started)


def report_ageing(title: str, runs: list[AgeingRun]) -> None:
    last = runs[-1].aged
    times = "  ".join(f"{r.seconds:.3f} s" for r in runs)
    committed = [r.commit for r in runs if r.commit is not None]
    commit = f"   (+ commit {committed[0]:.3f} s)" if committed else ""
    print(f"  {title}")
    print(f"    runs      {times}   median {statistics.median(r.seconds for r in runs):.3f} s")
    print(f"    loans     {last.loans:,} looked at, {last.changed:,} changed{commit}")
    print("    buckets   " + "  ".join(f"{b.value} {last.buckets[b]:,}" for b in DelinquencyBucket))


async def bench_ageing(url: str, *, loans: int, seed: int) -> None:
    as_of = utcnow().date()
    engine = await fresh(url)
    try:
        loaded = await load(engine, loans=loans, seed=seed, as_of=as_of)
        total = sum(loaded.rows.values())
        print(f"ageing     {engine.dialect.name}, {loans:,} loans, as of {as_of} (seed {seed})")
        for name, rows in loaded.rows.items():
            print(f"  {name:<22}{rows:>10,} rows  {loaded.seconds[name]:7.2f} s in INSERTs")
        print(
            f"  inserted  {total:,} rows in {loaded.wall:.2f} s, generation included "
            f"({total / loaded.wall:,.0f} rows/s); ANALYZE {loaded.analyze:.2f} s"
        )
        changing = [
            await age_once(engine, as_of, commit=n == AGEING_RUNS - 1) for n in range(AGEING_RUNS)
        ]
        report_ageing(
            f"first run, every overdue loan moves ({AGEING_RUNS} runs, one transaction "
            f"each: the first {AGEING_RUNS - 1} rolled back, the last committed)",
            changing,
        )
        same_day = [await age_once(engine, as_of, commit=False) for _ in range(AGEING_RUNS)]
        report_ageing(
            f"same day again, nothing moves: the read path ({AGEING_RUNS} runs, rolled back)",
            same_day,
        )
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5, help="schedule runs; the median shown")
    parser.add_argument("--loans", type=int, default=100_000)
    parser.add_argument("--postgres", metavar="URL", help="age on PostgreSQL too")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--quick", action="store_true", help="a smoke run for CI (SQLite)")
    args = parser.parse_args()
    if args.quick:
        if args.postgres:
            parser.error("--quick runs on SQLite only")
        args.schedules, args.loans = 500, 2000

    report_schedules(args.schedules, args.runs, args.seed)
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'lending.db'}"
        asyncio.run(bench_ageing(url, loans=args.loans, seed=args.seed))
    if args.postgres:
        asyncio.run(bench_ageing(args.postgres, loans=args.loans, seed=args.seed))


if __name__ == "__main__":
    main()
