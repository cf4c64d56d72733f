"""How fast the ledger posts a loan book's movements and answers a trial balance.

A migrated database (a temporary SQLite file; with ``--postgres`` a PostgreSQL database,
its ``public`` schema dropped and recreated first) is filled with the lending
benchmark's loan book (``bench/lending_benchmark.py``: institutions, enterprises,
disbursed loans with 12 monthly instalments). Every loan's disbursement and its
instalments paid so far are then posted through ``domain.ledger.service.post_many``,
the path every movement takes, in batches of ``--batch`` entries per transaction
(timed: entries and lines per second). The month-end close's staging and provisioning
then post each loan's loss allowance for the last month end (timed), so the book holds
every account a closed month has. Then ``trial_balance`` of the institution with
the most loans runs ``--runs`` times (median and p95). A trial balance reads the
per-day totals, a few rows per account and day, never the lines: its time follows the
days with postings, not the number of loans. Prints figures only; nothing is asserted.

    python bench/ledger_benchmark.py [--loans N] [--runs N] [--batch N]
                                     [--postgres URL] [--seed S] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

from lending_benchmark import fresh, load
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.analytics.service import month_end_on_or_before
from domain.ledger import service as ledger
from domain.ledger.chart import AccountCode
from domain.ledger.models import EntryKind
from domain.ledger.service import Leg, Posting
from domain.lending.models import Installment, Loan
from domain.provisioning.service import provide, stage_book
from kernel.base import utcnow
from kernel.db import session_factory

A = AccountCode


async def postings(engine: AsyncEngine, as_of: date) -> list[Posting]:
    """Each loan's disbursement and each instalment it paid, as its servicing posts them."""
    async with session_factory(engine)() as s:
        loans = (
            await s.execute(select(Loan.id, Loan.institution_id, Loan.principal, Loan.disbursed_on))
        ).all()
        paid = (
            await s.execute(
                select(
                    Installment.loan_id,
                    Installment.id,
                    Installment.due_on,
                    Installment.principal_paid,
                    Installment.interest_paid,
                ).where(Installment.principal_paid + Installment.interest_paid > 0)
            )
        ).all()
    bank = {loan_id: institution for loan_id, institution, _, _ in loans}
    found = [
        Posting(
            institution_id=institution,
            loan_id=loan_id,
            kind=EntryKind.DISBURSEMENT,
            effective_on=day,
            source=f"disbursement:{loan_id}",
            legs=[Leg.debit(A.LOANS_RECEIVABLE, principal), Leg.credit(A.CASH, principal)],
        )
        for loan_id, institution, principal, day in loans
    ]
    found += [
        Posting(
            institution_id=bank[loan_id],
            loan_id=loan_id,
            kind=EntryKind.REPAYMENT,
            effective_on=min(due, as_of),
            source=f"repayment:{line_id}",
            legs=[
                Leg.debit(A.CASH, principal + interest),
                Leg.credit(A.LOANS_RECEIVABLE, principal),
                Leg.credit(A.INTEREST_INCOME, interest),
            ],
        )
        for loan_id, line_id, due, principal, interest in paid
    ]
    return found


async def post_all(engine: AsyncEngine, found: list[Posting], batch: int) -> float:
    started = time.perf_counter()
    for start in range(0, len(found), batch):
        async with session_factory(engine)() as s, s.begin():
            await ledger.post_many(s, found[start : start + batch])
    return time.perf_counter() - started


async def busiest(engine: AsyncEngine) -> tuple[uuid.UUID, int]:
    async with session_factory(engine)() as s:
        row = (
            await s.execute(
                select(Loan.institution_id, func.count())
                .group_by(Loan.institution_id)
                .order_by(func.count().desc())
                .limit(1)
            )
        ).one()
    return row[0], int(row[1])


async def bench(url: str, *, loans: int, runs: int, batch: int, seed: int) -> None:
    as_of = utcnow().date()
    engine = await fresh(url)
    try:
        await load(engine, loans=loans, seed=seed, as_of=as_of)
        found = await postings(engine, as_of)
        lines = sum(len(p.kept) for p in found)
        seconds = await post_all(engine, found, batch)
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
        print(
            f"{engine.dialect.name}: posted {len(found):,} entries ({lines:,} lines) for "
            f"{loans:,} loans in {seconds:.1f} s: {len(found) / seconds:,.0f} entries/s"
        )
        month_end = month_end_on_or_before(as_of)
        sessions = session_factory(engine)
        started = time.perf_counter()
        staged = await stage_book(sessions, as_of=month_end)
        provided = await provide(sessions, as_of=month_end)
        seconds = time.perf_counter() - started
        print(
            f"{engine.dialect.name}: staged {staged.loans:,} loans and posted "
            f"{provided.entries:,} provision entries for {month_end} in {seconds:.1f} s"
        )
        institution, count = await busiest(engine)
        times = []
        for _ in range(runs):
            async with session_factory(engine)() as s:
                started = time.perf_counter()
                trial = await ledger.trial_balance(s, institution_id=institution, as_of=as_of)
                times.append((time.perf_counter() - started) * 1000)
        assert trial.balanced, "the book does not balance"
        p95 = statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]
        print(
            f"{engine.dialect.name}: trialBalance of an institution with {count:,} loans: "
            f"median {statistics.median(times):.1f} ms, p95 {p95:.1f} ms over {runs} runs "
            f"(debits {trial.debits:,}, balanced {trial.balanced})"
        )
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--batch", type=int, default=20_000, help="entries per transaction")
    parser.add_argument("--postgres", metavar="URL", help="on PostgreSQL instead of SQLite")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--quick", action="store_true", help="a smoke run for CI (SQLite)")
    args = parser.parse_args()
    if args.quick:
        if args.postgres:
            parser.error("--quick runs on SQLite only")
        args.loans, args.runs = 1000, 5
    if args.postgres:
        asyncio.run(
            bench(args.postgres, loans=args.loans, runs=args.runs, batch=args.batch, seed=args.seed)
        )
        return
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'ledger.db'}"
        asyncio.run(bench(url, loans=args.loans, runs=args.runs, batch=args.batch, seed=args.seed))


if __name__ == "__main__":
    main()
