"""A believable, deterministic synthetic population, written with bulk inserts.

The same ``seed`` (and locale and ``as_of``) gives the same rows, ids included: every
random draw comes from one ``random.Random(seed)`` in a fixed order, Faker is seeded
and only used to fill name pools up front, and timestamps derive from ``as_of``.

``as_of`` is the last day of the book's history and defaults to today (UTC, the day
``lendgraph loans age`` and ``risk scan`` take by default): the book is seeded already
aged to that day, with a snapshot at every month end before it, so a demo started on
any day shows a current book and a first ageing run finds (almost) nothing to move.
Tests and benchmarks pin it for repeatable rows.
Enterprises are generated and written in batches so memory stays flat; the whole
population is one transaction, so a failed seed leaves the database as it was.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import date, timedelta
from typing import Any

from faker import Faker
from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.analytics import repository as analytics
from domain.analytics.models import LoanBucketSnapshot
from domain.applications.models import (
    Application,
    ApplicationStatus,
    Contract,
    Decision,
    Transition,
)
from domain.enterprises.models import SEALED_COLUMNS, Enterprise, FinancialStatement
from domain.enterprises.service import ID_NUMBER_INDEX
from domain.identity import people
from domain.identity.models import Institution, Membership, Role, User
from domain.ledger.models import JournalEntry, JournalLine, LedgerAccount, LedgerDayTotal
from domain.lending.models import Installment, Loan, Repayment
from domain.products.models import Product, ProductMarket
from domain.risk import ratings
from domain.risk.models import RiskAlert, RiskAssessment
from kernel.base import utcnow
from privacy import keystore, vault
from privacy.keys import KeyProvider
from privacy.models import DataKey
from seed.applications import build_applications
from seed.books import Books
from seed.catalog import (
    DEMO_DOMAIN,
    ProductInfo,
    build_catalog,
    institution_count,
    membership_row,
    user_row,
)
from seed.enterprises import EnterpriseRows, build_enterprise
from seed.history import Lenders
from seed.loans import build_loan
from seed.people import NamePools

Row = dict[str, Any]
Progress = Callable[[str, int, int], None]
BATCH_ENTERPRISES = 1000
CHUNK_ROWS = 4000


@dataclass(frozen=True, slots=True)
class SeedSummary:
    institutions: int = 0
    products: int = 0
    product_markets: int = 0
    users: int = 0
    memberships: int = 0
    enterprises: int = 0
    financial_statements: int = 0
    applications: int = 0
    decisions: int = 0
    application_transitions: int = 0
    contracts: int = 0
    risk_assessments: int = 0
    credit_ratings: int = 0
    loans: int = 0
    installments: int = 0
    repayments: int = 0
    risk_alerts: int = 0
    loan_bucket_snapshots: int = 0
    ledger_accounts: int = 0
    journal_entries: int = 0
    journal_lines: int = 0
    ledger_day_totals: int = 0

    @property
    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))


# Insert order respects foreign keys; names match SeedSummary's fields.
_TABLES: tuple[tuple[str, type[Any]], ...] = (
    ("institutions", Institution),
    ("products", Product),
    ("product_markets", ProductMarket),
    ("users", User),
    ("memberships", Membership),
    ("enterprises", Enterprise),
    ("financial_statements", FinancialStatement),
    ("applications", Application),
    ("risk_assessments", RiskAssessment),
    ("decisions", Decision),
    ("application_transitions", Transition),
    ("contracts", Contract),
    ("loans", Loan),
    ("installments", Installment),
    ("repayments", Repayment),
    ("risk_alerts", RiskAlert),
    ("loan_bucket_snapshots", LoanBucketSnapshot),
    ("ledger_accounts", LedgerAccount),
    ("journal_entries", JournalEntry),
    ("journal_lines", JournalLine),
    ("ledger_day_totals", LedgerDayTotal),
)


class _Writer:
    """Buffers rows per table and writes them in foreign-key order, in chunks.

    Enterprises' personal values are sealed on the way in, each enterprise under a
    data key of its own, like every other write of personal data.
    """

    def __init__(self, session: AsyncSession, keys: KeyProvider) -> None:
        self._session = session
        self._keys = keys
        self.buffers: dict[str, list[Row]] = {name: [] for name, _ in _TABLES}
        self.counts: dict[str, int] = dict.fromkeys(self.buffers, 0)

    def add(self, table: str, rows: Sequence[Row]) -> None:
        self.buffers[table].extend(rows)

    def _seal_enterprises(self, rows: list[Row]) -> list[Row]:
        key_rows, plain = keystore.new_key_rows(self._keys, [(r["id"], "enterprise") for r in rows])
        for row in rows:
            key = plain[row["id"]]
            id_number = row.get("legal_representative_id_number")
            row["legal_representative_id_bidx"] = (
                vault.blind_index(self._keys, id_number, column=ID_NUMBER_INDEX)
                if id_number
                else None
            )
            for column in SEALED_COLUMNS:
                if row.get(column):
                    row[column] = vault.seal(
                        key, row[column], table="enterprises", column=column, row_id=row["id"]
                    )
        return key_rows

    async def flush(self) -> None:
        data_keys: Table = DataKey.__table__  # type: ignore[assignment]
        if self.buffers["users"]:
            user_keys = people.seal_rows(self._keys, self.buffers["users"])
            await self._session.execute(insert(data_keys), user_keys)
        if self.buffers["enterprises"]:
            key_rows = self._seal_enterprises(self.buffers["enterprises"])
            await self._session.execute(insert(data_keys), key_rows)
        for name, model in _TABLES:
            rows = self.buffers[name]
            # Core inserts on the table: the ORM's bulk path adds per-row work (version
            # counters, identity bookkeeping) that triples the cost here.
            table: Table = model.__table__
            for start in range(0, len(rows), CHUNK_ROWS):
                await self._session.execute(insert(table), rows[start : start + CHUNK_ROWS])
            self.counts[name] += len(rows)
            rows.clear()


async def database_is_empty(factory: async_sessionmaker[AsyncSession]) -> bool:
    """True when no institution exists yet, the mark of a database never seeded."""
    async with factory() as session:
        return (await session.scalar(select(Institution.id).limit(1))) is None


async def seed_population(
    factory: async_sessionmaker[AsyncSession],
    *,
    enterprises: int,
    seed: int,
    locale: str = "zh_CN",
    keys: KeyProvider,
    as_of: date | None = None,
    progress: Progress | None = None,
) -> SeedSummary:
    """Institutions, products, staff, then ``enterprises`` SMEs with their whole history."""
    if enterprises < 0:
        raise ValueError(f"enterprises must not be negative, got {enterprises}")
    if as_of is None:
        as_of = utcnow().date()
    report = progress or (lambda _stage, _done, _total: None)
    rng = random.Random(seed)
    fake = Faker(locale)
    fake.seed_instance(seed)
    pools = NamePools.build(fake, chinese=locale.lower().startswith("zh"))
    catalog = build_catalog(rng, pools, institutions=institution_count(enterprises), as_of=as_of)
    lenders = Lenders(catalog)
    candidates: dict[tuple[str, str], list[ProductInfo]] = {}
    # Every status shows up early, so even a dozen enterprises demonstrate them all.
    forced = list(ApplicationStatus)
    used_codes: set[str] = set()
    owner_serial = 0

    # Every loan's history is booked as servicing books it (see ``seed.books``).
    books = Books(seed)
    async with factory() as session, session.begin():
        writer = _Writer(session, keys)
        writer.add("institutions", catalog.institutions)
        writer.add("ledger_accounts", books.open_charts(catalog.institutions))
        writer.add("products", catalog.products)
        writer.add("product_markets", catalog.markets)
        writer.add("users", catalog.users)
        writer.add("memberships", catalog.memberships)
        await writer.flush()
        report("catalog", 1, 1)

        for batch_start in range(0, enterprises, BATCH_ENTERPRISES):
            batch_end = min(batch_start + BATCH_ENTERPRISES, enterprises)
            owned = [
                build_enterprise(rng, pools, index=index, as_of=as_of, used_codes=used_codes)
                for index in range(batch_start, batch_end)
            ]
            # Owners first: an application's time line names who submitted and signed it.
            owner_serial = _add_owners(rng, writer, owned, owner_serial)
            for made in owned:
                borrower = made.borrower
                key = (borrower.industry.code, borrower.place.region)
                if key not in candidates:
                    candidates[key] = [
                        p for p in catalog.published if p.accepts(industry=key[0], region=key[1])
                    ]
                apps = build_applications(
                    rng,
                    borrower=borrower,
                    owner_id=made.enterprise["owner_id"],
                    candidates=candidates[key],
                    staff=catalog.staff,
                    lenders=lenders,
                    forced=forced,
                    chinese=pools.chinese,
                    as_of=as_of,
                )
                writer.add("financial_statements", made.statements)
                writer.add("applications", apps.applications)
                writer.add("risk_assessments", apps.assessments)
                writer.add("decisions", apps.decisions)
                writer.add("application_transitions", apps.transitions)
                writer.add("contracts", apps.contracts)
                for plan in apps.loans:
                    loan = build_loan(
                        rng,
                        plan,
                        staff=catalog.staff[plan.product.institution_id],
                        chinese=pools.chinese,
                        as_of=as_of,
                    )
                    writer.add("loans", [loan.loan])
                    writer.add("installments", loan.installments)
                    writer.add("repayments", loan.repayments)
                    writer.add("risk_alerts", loan.alerts)
                    writer.add("loan_bucket_snapshots", loan.snapshots)
                    entries, lines = books.book(loan)
                    writer.add("journal_entries", entries)
                    writer.add("journal_lines", lines)
            await writer.flush()
            report("enterprises", batch_end, enterprises)
        # Per-day totals once at the end: a day's sums span batches.
        writer.add("ledger_day_totals", books.day_totals())
        await writer.flush()
        # The rating history and the PDs in force follow from the assessments, as the
        # migrations derive them; so do each month end's PD and where its loans went.
        credit_ratings = await ratings.backfill(session)
        await analytics.complete_snapshots(session)

    return SeedSummary(**writer.counts, credit_ratings=credit_ratings)


def _add_owners(
    rng: random.Random, writer: _Writer, batch: list[EnterpriseRows], serial: int
) -> int:
    """One owner for every one to three consecutive enterprises; returns the last serial."""
    position = 0
    while position < len(batch):
        share = batch[position : position + rng.choice((1, 1, 1, 2, 2, 3))]
        position += len(share)
        serial += 1
        at = min(made.borrower.registered_at for made in share) - timedelta(
            minutes=rng.randint(1, 30)
        )
        user = user_row(
            rng,
            email=f"owner{serial:04d}@{DEMO_DOMAIN}",
            name=share[0].borrower.legal_representative,
            at=at,
        )
        writer.add("users", [user])
        writer.add(
            "memberships",
            [
                membership_row(
                    rng, user_id=user["id"], institution_id=None, role=Role.SME_OWNER, at=at
                )
            ],
        )
        for made in share:
            made.enterprise["owner_id"] = user["id"]
        writer.add("enterprises", [made.enterprise for made in share])
    return serial
