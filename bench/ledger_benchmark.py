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
days with postings, not the number of loans. Last, ``trialBalance`` is asked through
the real GraphQL API (the app in process, an httpx ASGI client, a risk officer of that
institution signed in with a real token) for several ``asOf`` days, ``--runs`` times
each: median and p95 per day and over all calls.

``--bulk`` (PostgreSQL only) answers issue 20's target instead: ONE institution with
``--loans`` loans (200,000 by default), each disbursed 6 to 12 months ago with a month
end accrual of interest and a repayment (principal and that interest) every month
since: about 19 entries and 47 lines a loan, 9 million lines at 200,000 loans. The book
is written by ``INSERT ... SELECT`` over ``generate_series`` in SQL (foreign-key
triggers off for the two journal tables while they load, ``session_replication_role``:
the rows are generated consistent), and the per-day totals summed from the lines as
written, the state ``post_many`` leaves them in. Then a batch of entries is posted
through ``post_many`` on top (timed), the API answer checked once against the lines
summed directly (which is timed too: what a trial balance without the totals costs),
and ``trialBalance`` timed through the API as above. Prints figures; fails only when
the API's answer and the lines disagree or the book does not balance.

    python bench/ledger_benchmark.py [--loans N] [--runs N] [--batch N]
                                     [--postgres URL [--bulk]] [--seed S] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import re
import statistics
import tempfile
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from common import bench_settings, signed_in
from lending_benchmark import Book, fresh, load
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from api.app import create_app
from api.relay import encode_pk
from domain.analytics.service import month_end_on_or_before
from domain.identity.models import Role
from domain.ledger import repository as ledger_repo
from domain.ledger import service as ledger
from domain.ledger.chart import AccountCode
from domain.ledger.models import EntryKind
from domain.ledger.service import Leg, Posting
from domain.lending.models import Installment, Loan
from domain.provisioning.service import provide, stage_book
from kernel.base import new_id, utcnow
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
        print(
            f"{engine.dialect.name}: trial_balance (domain call) of an institution with "
            f"{count:,} loans: {spread(times)} over {runs} runs "
            f"(debits {trial.debits:,}, balanced {trial.balanced})"
        )
        await time_api(engine, url, institution, as_of=as_of, runs=runs)
    finally:
        await engine.dispose()


def spread(samples: list[float]) -> str:
    p95 = statistics.quantiles(samples, n=20)[-1] if len(samples) > 1 else samples[0]
    return f"median {statistics.median(samples):.1f} ms, p95 {p95:.1f} ms"


TRIAL_BALANCE = """
query TrialBalance($id: ID!, $asOf: Date) {
  trialBalance(institutionId: $id, asOf: $asOf) {
    asOf debits credits balanced
    accounts { account glCode name debits credits balance }
  }
}
"""


def asked_days(as_of: date) -> list[date]:
    """The days a trial balance is asked for: a year back, month ends, a mid-month day, today."""
    month_end = month_end_on_or_before(as_of)
    return [
        as_of - timedelta(days=365),
        month_end_on_or_before(month_end - timedelta(days=91)),
        month_end - timedelta(days=12),
        month_end,
        as_of,
    ]


async def time_api(
    engine: AsyncEngine, url: str, institution: uuid.UUID, *, as_of: date, runs: int
) -> dict[str, Any]:
    """``trialBalance`` through the GraphQL API, ``runs`` calls for each asked day; the
    answer for ``as_of``."""
    settings = bench_settings(url)
    app = create_app(settings, engine=engine)
    token = await signed_in(engine, settings, Role.RISK_OFFICER, institution, name="Bench Risk")
    headers = {"authorization": f"Bearer {token}"}
    global_id = encode_pk(institution, "Institution")
    everything: list[float] = []
    answers: dict[date, dict[str, Any]] = {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

        async def ask(day: date) -> dict[str, Any]:
            variables = {"id": global_id, "asOf": day.isoformat()}
            response = await client.post(
                "/graphql", json={"query": TRIAL_BALANCE, "variables": variables}, headers=headers
            )
            body: dict[str, Any] = response.json()
            if "errors" in body:
                raise SystemExit(f"trialBalance failed: {body['errors']}")
            return body

        days = asked_days(as_of)
        for day in days:  # warm-up: policy, documents, the pages of the totals
            await ask(day)
        for day in days:
            samples = []
            for _ in range(runs):
                gc.collect()
                started = time.perf_counter()
                body = await ask(day)
                samples.append((time.perf_counter() - started) * 1000)
            trial = body["data"]["trialBalance"]
            answers[day] = trial
            assert trial["balanced"], f"the book does not balance on {day}"
            statements = body["extensions"]["debug"]["sqlStatements"]
            everything += samples
            print(
                f"{engine.dialect.name}: API trialBalance asOf {day}: {spread(samples)} "
                f"over {runs} calls ({statements} SQL statements a call; debits {trial['debits']})"
            )
    print(
        f"{engine.dialect.name}: API trialBalance, all {len(everything)} calls: "
        f"{spread(everything)}"
    )
    return answers[as_of]


TYPES = {"now": "timestamptz", "inst": "uuid", "product": "uuid", "as_of": "date", "n": "integer"}


def typed(sql: str) -> str:
    """Each parameter cast to its type: in a SELECT list PostgreSQL cannot infer it."""
    return re.sub(
        r"(?<!:):(now|inst|product|as_of|n)\b", lambda m: f"CAST(:{m[1]} AS {TYPES[m[1]]})", sql
    )


async def bulk_book(
    engine: AsyncEngine, *, loans: int, seed: int, as_of: date
) -> tuple[uuid.UUID, int, int]:
    """One institution's book of ``loans`` loans and their journal, written in SQL:
    (institution, entries, lines)."""
    async with engine.begin() as conn:
        book = Book(conn, seed=seed, as_of=as_of)
        await book.catalog()
    institution, product = book.products[0]
    async with session_factory(engine)() as s, s.begin():
        await ledger_repo.account_ids(s, [institution])
    now = utcnow()
    params = {"inst": institution, "product": product, "as_of": as_of, "now": now, "n": loans}
    steps = [
        ("random", "SELECT setseed(:seed)", {"seed": (seed % 1000) / 1000}),
        (
            "loan terms",
            # Principal 1,000.00 to 5,000,000.00 (cents), rate 3% to 18%, 12 monthly
            # instalments of which `months` (6 to 12) are behind us.
            """CREATE TEMP TABLE bench_book ON COMMIT DROP AS
            SELECT n, gen_random_uuid() AS loan_id, gen_random_uuid() AS application_id,
                   (floor(random() * 4990) + 10)::bigint * 100000 AS principal,
                   (floor(random() * 150000) + 30000)::bigint AS rate_micro,
                   6 + floor(random() * 7)::int AS months,
                   floor(random() * 28)::int AS shift
            FROM generate_series(0, :n - 1) AS n""",
            {"n": loans},
        ),
        (
            "enterprises",
            """CREATE TEMP TABLE bench_enterprises ON COMMIT DROP AS
            SELECT m, gen_random_uuid() AS id FROM generate_series(0, (:n - 1) / 2) AS m""",
            {"n": loans},
        ),
        (
            "enterprises",
            """INSERT INTO enterprises (id, unified_social_credit_code, name, industry, region,
                   founded_on, employee_count, annual_revenue, created_at, updated_at)
            SELECT id, 'B' || lpad(m::text, 17, '0'), 'Bulk Enterprise ' || m, 'manufacturing',
                   '330000', DATE '2010-01-01', 20, 10000000.00, :now, :now
            FROM bench_enterprises""",
            {"now": now},
        ),
        (
            "applications",
            """INSERT INTO applications (id, enterprise_id, product_id, institution_id, amount,
                   term_months, repayment_method, purpose, status, submitted_at, decided_at,
                   approved_rate, created_at, updated_at, version)
            SELECT b.application_id, e.id, :product, :inst, b.principal / 100.0, 12,
                   'equal_principal', 'working capital', 'disbursed', :now, :now,
                   b.rate_micro / 1000000.0, :now, :now, 1
            FROM bench_book b JOIN bench_enterprises e ON e.m = b.n / 2""",
            params,
        ),
        (
            "loans",
            """ALTER TABLE bench_book ADD COLUMN disbursed_on date;
            UPDATE bench_book
               SET disbursed_on = (:as_of - make_interval(months => months))::date - shift""",
            {"as_of": as_of},
        ),
        (
            "loans",
            """INSERT INTO loans (id, application_id, enterprise_id, institution_id, product_id,
                   principal, annual_rate, term_months, repayment_method, disbursed_on,
                   maturity_on, status, outstanding_principal, days_past_due,
                   delinquency_bucket, aged_on, created_at, updated_at, version)
            SELECT b.loan_id, b.application_id, e.id, :inst, :product, b.principal / 100.0,
                   b.rate_micro / 1000000.0, 12, 'equal_principal', b.disbursed_on,
                   (b.disbursed_on + interval '12 months')::date,
                   CASE WHEN b.months = 12 THEN 'closed' ELSE 'active' END,
                   (b.principal - CASE WHEN b.months = 12 THEN b.principal
                                       ELSE b.months * (b.principal / 12) END) / 100.0,
                   0, 'current', :as_of, :now, :now, 1
            FROM bench_book b JOIN bench_enterprises e ON e.m = b.n / 2""",
            params,
        ),
        (
            "movements",
            # Each month: interest accrued the day before the due day on the balance
            # outstanding, then repaid on the due day with that month's principal.
            """CREATE TEMP TABLE bench_moves ON COMMIT DROP AS
            SELECT b.loan_id, k,
                   (b.disbursed_on + make_interval(months => k))::date AS paid_on,
                   (b.disbursed_on + make_interval(months => k))::date - 1 AS accrued_on,
                   CASE WHEN k = 12 THEN b.principal - 11 * (b.principal / 12)
                        ELSE b.principal / 12 END AS principal,
                   round((b.principal - (k - 1) * (b.principal / 12)) * b.rate_micro
                         / 12000000.0)::bigint AS interest
            FROM bench_book b, generate_series(1, b.months) AS k""",
            {},
        ),
        (
            "entries",
            """CREATE TEMP TABLE bench_entries ON COMMIT DROP AS
            SELECT gen_random_uuid() AS id, loan_id, 'disbursement' AS kind,
                   disbursed_on AS day, 'disbursement:' || loan_id AS source,
                   principal AS p, 0::bigint AS i
            FROM bench_book
            UNION ALL
            SELECT gen_random_uuid(), loan_id, 'accrual', accrued_on,
                   'accrual:' || loan_id || ':' || k, 0, interest
            FROM bench_moves
            UNION ALL
            SELECT gen_random_uuid(), loan_id, 'repayment', paid_on,
                   'repayment:' || loan_id || ':' || k, principal, interest
            FROM bench_moves""",
            {},
        ),
        ("journal", "SET LOCAL session_replication_role = replica", {}),
        (
            "journal entries",
            """INSERT INTO journal_entries (id, created_at, institution_id, loan_id, kind,
                   effective_on, source)
            SELECT id, :now, :inst, loan_id, kind, day, source FROM bench_entries""",
            {"now": now, "inst": institution},
        ),
        (
            "journal lines",
            """INSERT INTO journal_lines (id, entry_id, account_id, loan_id, debit, credit)
            SELECT gen_random_uuid(), e.id, a.id, e.loan_id,
                   (l.debit / 100.0)::numeric(18, 2), (l.credit / 100.0)::numeric(18, 2)
            FROM bench_entries e
            CROSS JOIN LATERAL (VALUES
                ('disbursement', 'loans_receivable', e.p, 0::bigint),
                ('disbursement', 'cash', 0, e.p),
                ('accrual', 'interest_receivable', e.i, 0),
                ('accrual', 'interest_income', 0, e.i),
                ('repayment', 'cash', e.p + e.i, 0),
                ('repayment', 'loans_receivable', 0, e.p),
                ('repayment', 'interest_receivable', 0, e.i)
            ) AS l(kind, code, debit, credit)
            JOIN ledger_accounts a ON a.institution_id = :inst AND a.code = l.code
            WHERE l.kind = e.kind""",
            {"inst": institution},
        ),
        ("journal", "SET LOCAL session_replication_role = origin", {}),
        (
            "day totals",
            # What post_many keeps, summed from the lines just written.
            """INSERT INTO ledger_day_totals (account_id, day, debit, credit)
            SELECT l.account_id, e.effective_on, sum(l.debit), sum(l.credit)
            FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id
            WHERE e.institution_id = :inst
            GROUP BY l.account_id, e.effective_on""",
            {"inst": institution},
        ),
    ]
    async with engine.begin() as conn:
        for label, sql, bound in steps:
            started = time.perf_counter()
            for statement in sql.split(";"):
                await conn.execute(text(typed(statement)), bound)
            print(f"  bulk {label}: {time.perf_counter() - started:.1f} s")
    async with engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await auto.execute(text("VACUUM ANALYZE"))
        entries = int(await conn.scalar(text("SELECT count(*) FROM journal_entries")) or 0)
        lines = int(await conn.scalar(text("SELECT count(*) FROM journal_lines")) or 0)
    return institution, entries, lines


async def lines_summed(
    engine: AsyncEngine, institution: uuid.UUID, as_of: date
) -> tuple[dict[str, tuple[Decimal, Decimal]], float]:
    """Debits and credits per account code summed over the lines themselves (no totals),
    and how long that took."""
    sql = text(
        """SELECT a.code, sum(l.debit), sum(l.credit)
        FROM journal_lines l
        JOIN journal_entries e ON e.id = l.entry_id
        JOIN ledger_accounts a ON a.id = l.account_id
        WHERE e.institution_id = :inst AND e.effective_on <= :as_of
        GROUP BY a.code"""
    )
    async with engine.connect() as conn:
        started = time.perf_counter()
        rows = (await conn.execute(sql, {"inst": institution, "as_of": as_of})).all()
        seconds = time.perf_counter() - started
    return {code: (debit, credit) for code, debit, credit in rows}, seconds


async def bench_bulk(url: str, *, loans: int, runs: int, batch: int, seed: int) -> None:
    as_of = utcnow().date()
    engine = await fresh(url)
    try:
        started = time.perf_counter()
        institution, entries, lines = await bulk_book(engine, loans=loans, seed=seed, as_of=as_of)
        print(
            f"postgresql: one institution, {loans:,} loans, {entries:,} journal entries, "
            f"{lines:,} lines, written in {time.perf_counter() - started:.0f} s"
        )
        # Today's postings through the path every movement takes, on top of the book.
        async with session_factory(engine)() as s:
            some = (
                await s.execute(
                    select(Loan.id).where(Loan.institution_id == institution).limit(batch)
                )
            ).scalars()
            found = [
                Posting(
                    institution_id=institution,
                    loan_id=loan_id,
                    kind=EntryKind.CHARGE,
                    effective_on=as_of,
                    source=f"bench:fee:{new_id()}",
                    legs=[
                        Leg.debit(A.CASH, Decimal("25.00")),
                        Leg.credit(A.FEE_INCOME, Decimal("25.00")),
                    ],
                )
                for loan_id in some
            ]
        seconds = await post_all(engine, found, batch)
        print(
            f"postgresql: post_many on top: {len(found):,} entries in {seconds:.2f} s "
            f"({len(found) / seconds:,.0f} entries/s)"
        )
        answer = await time_api(engine, url, institution, as_of=as_of, runs=runs)
        summed, seconds = await lines_summed(engine, institution, as_of)
        print(
            f"postgresql: the same trial balance summed over the {lines + 2 * len(found):,} "
            f"lines instead: {seconds * 1000:.0f} ms (once)"
        )
        from_api = {
            a["account"].lower(): (Decimal(a["debits"]), Decimal(a["credits"]))
            for a in answer["accounts"]
            if Decimal(a["debits"]) or Decimal(a["credits"])
        }
        assert from_api == summed, f"the API's trial balance is not the lines' sum: {from_api}"
        print("postgresql: the API's trial balance equals the lines summed, account by account")
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
    parser.add_argument(
        "--bulk",
        action="store_true",
        help="PostgreSQL: one institution's book of --loans loans written in SQL (issue 20)",
    )
    args = parser.parse_args()
    if args.quick:
        if args.postgres or args.bulk:
            parser.error("--quick runs on SQLite only")
        args.loans, args.runs = 1000, 5
    if args.bulk:
        if not args.postgres:
            parser.error("--bulk needs --postgres URL")
        batch = min(args.batch, 2000)
        asyncio.run(
            bench_bulk(args.postgres, loans=args.loans, runs=args.runs, batch=batch, seed=args.seed)
        )
        return
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
