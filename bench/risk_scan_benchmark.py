"""How fast the early-warning scan reads a large active loan book (the scan's target).

Target: a full scan of 1,000,000 active loans with 20 rules in under 2 minutes on 2 cores
with PostgreSQL.

The book: a migrated, empty database (a temporary SQLite file unless ``--database-url``
says otherwise; on PostgreSQL the ``public`` schema is dropped and recreated first) is
filled straight from numpy arrays, no services: institutions with a few products each,
one enterprise per two loans (no personal data), a disbursed application per loan,
active loans, every instalment of every schedule, two fiscal years of accounts for most
enterprises, three champion assessments for most (about 100, 40 and 5 days before the
scan date, their PDs drifting) and 20 platform rules. Borrowers' health drives their
accounts, PDs and arrears together; each loan's days past due is the age of its oldest
unpaid instalment. Batches of 10,000 loans are generated and encoded in a thread while
the database takes the previous ones: on PostgreSQL with COPY (text format) through the
asyncpg connections under ``--connections`` SQLAlchemy ones, a transaction per batch
(indexes, constraints and foreign keys all in place: nothing is dropped or deferred);
on SQLite with batched INSERTs. Then ``VACUUM ANALYZE`` (SQLite: ``ANALYZE``), so the
scan meets the statistics and visibility map a live database has. Same seed, same book
(relative to the scan date).

The scan: ``domain.risk.scan.run_scan`` in full (the first one raises the alerts), then
about 1% of the loans slip a month further into arrears (their ``days_past_due`` and
bucket, ``updated_at`` and ``version`` updated in bulk; the instalments are left as they
are) and an incremental scan runs, then ``--repeat`` more full scans. Prints the
generator's figures apart from the scan's; nothing is asserted. ``--reuse-book`` only
runs ``--repeat`` full scans of the book a previous run left (given ``--database-url``),
in a process that did not just build it.

    python bench/risk_scan_benchmark.py [--loans N] [--repeat N] [--seed S]
                                        [--as-of YYYY-MM-DD] [--database-url URL]
                                        [--connections N] [--build-only]
                                        [--reuse-book] [--quick]

``--loans`` defaults to 1,000,000 on PostgreSQL and 20,000 on SQLite. ``--quick`` is
CI's smoke run: 2,000 loans on a throwaway SQLite file.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import json
import math
import statistics
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from statistics import NormalDist
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import JSON, Column, Table, Uuid, bindparam, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.applications.models import Application, ApplicationStatus
from domain.applications.states import reached
from domain.enterprises.models import Enterprise, FinancialStatement
from domain.enterprises.uscc import organisation_check_character, uscc_check_character
from domain.identity.models import Institution, InstitutionKind
from domain.lending.delinquency import bucket_for
from domain.lending.models import Installment, Loan, LoanStatus
from domain.products.models import Product, ProductStatus, ProductType, RepaymentMethod
from domain.risk.models import AlertSeverity, DisposalAction, RiskAlert, RiskAssessment, RiskRule
from domain.risk.rules import CompiledRule, IndicatorType, compile_rule
from domain.risk.scan import ScanReport, run_scan
from kernel.base import ScaledDecimal, new_id, utcnow
from kernel.db import create_engine, session_factory
from migrations.runner import upgrade
from scoring.scorecard import MasterScale, Scorecard
from seed.reference import INDUSTRIES, INDUSTRY_WEIGHTS, PLACES

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]
Days = NDArray[Any]  # datetime64[D]
Stamps = NDArray[Any]  # datetime64[s], UTC

QUICK_LOANS = 2_000
PG_LOANS = 1_000_000
SQLITE_LOANS = 20_000
BATCH_LOANS = 10_000  # loans generated and written at a time (memory stays flat)
INSERT_ROWS = 2_000  # rows per executemany on SQLite
TOUCHED_SHARE = 0.01  # loans changed between the full and the incremental scan
WRITTEN_BEFORE = timedelta(days=1)  # the book's last writes, before the run
INSTITUTION_WEIGHTS = (0.20, 0.15, 0.12, 0.10, 0.08, 0.08, 0.06, 0.06, 0.05, 0.04, 0.03, 0.03)
PRODUCTS_PER_INSTITUTION = 3
TERMS = ((6, 0.08), (9, 0.07), (12, 0.30), (18, 0.15), (24, 0.25), (36, 0.15))
METHODS = (
    (RepaymentMethod.ANNUITY, 0.5),
    (RepaymentMethod.EQUAL_PRINCIPAL, 0.4),
    (RepaymentMethod.INTEREST_ONLY, 0.1),
)
MAX_TERM = max(term for term, _ in TERMS)
HISTORY_MONTHS = 36  # loans were disbursed within the last three years
# Share of loans per arrears class: current, 1-30, 31-60, 61-90 and over 90 days.
ARREARS_SHARES = (0.82, 0.08, 0.04, 0.025, 0.035)
# Borrowers' health explains this much of who falls behind (the rest is luck).
HEALTH_IN_ARREARS = 0.6
# Of the enterprises: no statement / one fiscal year / two; no / one / three assessments.
STATEMENT_SHARES = (0.08, 0.10, 0.82)
ASSESSMENT_SHARES = (0.07, 0.05, 0.88)
ASSESSED_DAYS_AGO = (100, 40, 5)  # each +/- a few days
MODEL_VERSION = "bench-catboost-1"
BASE_PD = 0.02
SCALE = MasterScale()
CARD = Scorecard()
# Standard normal cut points of the cumulative arrears shares.
ARREARS_CUTS = np.array(
    [NormalDist().inv_cdf(sum(ARREARS_SHARES[: i + 1])) for i in range(len(ARREARS_SHARES) - 1)]
)
REASONS = tuple(
    json.dumps(reasons)
    for reasons in (
        [
            {"feature": "debt_to_asset", "impact": 0.42, "text": "High leverage"},
            {"feature": "interest_coverage", "impact": 0.21, "text": "Thin interest cover"},
        ],
        [
            {"feature": "revenue_growth", "impact": 0.35, "text": "Revenue falling"},
            {"feature": "industry", "impact": 0.12, "text": "Sector risk"},
        ],
        [{"feature": "years_in_business", "impact": -0.18, "text": "Long track record"}],
    )
)

# ------------------------------------------------------------------------------- rules

# The indicators a rule may name (the scan's catalogue).
CATALOGUE: dict[str, IndicatorType] = {
    **dict.fromkeys(
        (
            "days_past_due",
            "outstanding",
            "pd",
            "pd_change_30d",
            "pd_change_90d",
            "grade_downgrade_90d",
            "revenue_change",
            "debt_to_asset",
            "current_ratio",
            "interest_coverage",
            "industry_share",
            "region_share",
            "repayment_to_revenue",
        ),
        IndicatorType.NUMBER,
    ),
    **dict.fromkeys(
        ("delinquency_bucket", "industry", "region", "grade", "product_type"), IndicatorType.TEXT
    ),
}

_S, _A = AlertSeverity, DisposalAction
RULES: tuple[tuple[str, str, str, AlertSeverity, DisposalAction], ...] = (
    ("R01", "Over 90 days past due", "days_past_due > 90", _S.CRITICAL, _A.COLLECTION),
    (
        "R02",
        "61 to 90 days past due",
        'delinquency_bucket == "dpd_61_90"',
        _S.HIGH,
        _A.COLLECTION,
    ),
    (
        "R03",
        "In arrears while the PD rises",
        "days_past_due > 30 and pd_change_90d > 0.02",
        _S.HIGH,
        _A.RESTRUCTURE,
    ),
    ("R04", "Large expected loss", "outstanding * pd > 150000", _S.HIGH, _A.EXTRA_COLLATERAL),
    (
        "R05",
        "PD jumped",
        "pd_change_30d > 0.05 or pd_change_90d > 0.08",
        _S.MEDIUM,
        _A.MONITOR,
    ),
    (
        "R06",
        "Downgraded two notches or more in 90 days",
        "grade_downgrade_90d >= 2",
        _S.HIGH,
        _A.RESTRUCTURE,
    ),
    ("R07", "Probability of default above 25%", "pd > 0.25", _S.HIGH, _A.RESTRUCTURE),
    (
        "R08",
        "Speculative grade in arrears",
        'grade in ["CCC", "CC", "C"] and delinquency_bucket != "current"',
        _S.HIGH,
        _A.COLLECTION,
    ),
    ("R09", "Revenue collapse", "revenue_change < -0.3", _S.MEDIUM, _A.MONITOR),
    (
        "R10",
        "Over-leveraged builder or developer",
        'debt_to_asset > 0.85 and industry in ["construction", "real_estate"]',
        _S.HIGH,
        _A.EXTRA_COLLATERAL,
    ),
    ("R11", "Liabilities exceed assets", "debt_to_asset >= 1", _S.CRITICAL, _A.GUARANTEE_CALL),
    (
        "R12",
        "Liquidity squeeze in arrears",
        "current_ratio < 0.8 and days_past_due > 0",
        _S.MEDIUM,
        _A.MONITOR,
    ),
    (
        "R13",
        "Interest not covered, revenue shrinking",
        "interest_coverage < 1 and revenue_change < -0.1",
        _S.MEDIUM,
        _A.RESTRUCTURE,
    ),
    (
        "R14",
        "Repayments heavy for the revenue",
        "repayment_to_revenue > 0.5",
        _S.MEDIUM,
        _A.RESTRUCTURE,
    ),
    (
        "R15",
        "Concentrated industry, weak borrower",
        "industry_share > 0.2 and pd > 0.08",
        _S.LOW,
        _A.MONITOR,
    ),
    (
        "R16",
        "Concentrated region, in arrears",
        "region_share > 0.15 and not days_past_due <= 30",
        _S.LOW,
        _A.MONITOR,
    ),
    (
        "R17",
        "Factoring receivable overdue",
        'product_type == "factoring" and days_past_due > 15',
        _S.HIGH,
        _A.COLLECTION,
    ),
    (
        "R18",
        "Leased equipment at risk",
        'product_type == "equipment_leasing" and '
        'delinquency_bucket in ["dpd_31_60", "dpd_61_90", "dpd_90_plus"]',
        _S.HIGH,
        _A.EXTRA_COLLATERAL,
    ),
    (
        "R19",
        "Cyclical sector turning down",
        'industry in ["hospitality", "real_estate", "construction"] '
        "and revenue_change < -0.15 and pd_change_90d > 0",
        _S.MEDIUM,
        _A.MONITOR,
    ),
    (
        "R20",
        "Write-off candidate",
        "days_past_due > 180 and (pd > 0.5 or debt_to_asset > 1)",
        _S.CRITICAL,
        _A.WRITE_OFF_PROPOSAL,
    ),
)


def compile_rules() -> list[CompiledRule]:
    """Each rule parsed and type-checked: one the scan would refuse stops the run here."""
    return [compile_rule(expression, CATALOGUE) for _, _, expression, _, _ in RULES]


def rule_columns(ids: Ids, at: np.datetime64) -> Columns:
    compiled = compile_rules()
    n = len(RULES)
    return {
        "id": ids.take(n),
        "code": [code for code, *_ in RULES],
        "version": np.ones(n, np.int64),
        "name": [name for _, name, *_ in RULES],
        "expression": [c.text for c in compiled],
        "indicators": [json.dumps(sorted(c.indicators)) for c in compiled],
        "severity": [severity.value for *_, severity, _ in RULES],
        "action": [action.value for *_, action in RULES],
        "enabled": np.ones(n, np.bool_),
        "current": np.ones(n, np.bool_),
        "created_at": np.full(n, at),
    }


# ------------------------------------------------------------------------------ tables

# A table's generated data, column by column: numpy arrays (integers, scaled integers for
# the exact decimals, floats, booleans, datetime64 days or UTC seconds, NaT for NULL) or
# lists (ids as 32 hex digits, text, enum values, JSON text, None for NULL).
Columns = dict[str, Any]
Tables = dict[Table, Columns]


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


INSTITUTIONS, PRODUCTS, RISK_RULES = _table(Institution), _table(Product), _table(RiskRule)
ENTERPRISES, STATEMENTS = _table(Enterprise), _table(FinancialStatement)
ASSESSMENTS, APPLICATIONS = _table(RiskAssessment), _table(Application)
# Every loan's application went draft, submitted, under review, approved, signed, paid out.
DISBURSED_PATH = reached(
    (
        ApplicationStatus.DRAFT,
        ApplicationStatus.SUBMITTED,
        ApplicationStatus.UNDER_REVIEW,
        ApplicationStatus.APPROVED,
        ApplicationStatus.CONTRACT_SIGNED,
        ApplicationStatus.DISBURSED,
    )
)
LOANS, INSTALMENTS = _table(Loan), _table(Installment)


def check_columns(table: Table, columns: Columns) -> int:
    """The row count; COPY applies no Python-side defaults, so every NOT NULL column is due."""
    unknown = set(columns) - set(table.columns.keys())
    missing = [
        c.name
        for c in table.columns
        if not c.nullable and c.server_default is None and c.name not in columns
    ]
    lengths = {len(values) for values in columns.values()}
    if unknown or missing or len(lengths) != 1:
        raise ValueError(
            f"{table.name}: unknown columns {unknown}, not generated {missing}, lengths {lengths}"
        )
    return lengths.pop()


def credit_code(n: int, division_code: str) -> str:
    """A valid unified social credit code, unique per ``n``."""
    organisation = f"{n:08d}"
    first17 = "91" + division_code + organisation + organisation_check_character(organisation)
    return first17 + uscc_check_character(first17)


def month_start(index: Ints) -> Days:
    """The first day of each month, months counted from January 1970."""
    return index.astype("datetime64[M]").astype("datetime64[D]")


def cents(yuan: Floats) -> Ints:
    return np.rint(yuan * 100).astype(np.int64)


def pick(values: Sequence[Any], index: Ints) -> list[Any]:
    """``values[i]`` for each ``i`` of ``index``."""
    return np.asarray(values, dtype=object)[index].tolist()  # type: ignore[no-any-return]


class Ids:
    """UUIDv7s in creation order, as 32 hex digits: deterministic, and appended to indexes."""

    def __init__(self, at: datetime) -> None:
        self.next = new_id(at=at, entropy=0).int

    def take(self, count: int) -> list[str]:
        start = self.next
        self.next += count
        return [f"{value:032x}" for value in range(start, start + count)]


@dataclass(slots=True)
class Touch:
    loan_id: str
    days_past_due: int


class LoanBook:
    """Generates the book in batches of loans, column by column."""

    def __init__(self, *, seed: int, as_of: date, stamp: datetime) -> None:
        self.rng = np.random.default_rng(seed)
        self.as_of = as_of
        self.day = np.datetime64(as_of, "D")
        self.month = int(self.day.astype("datetime64[M]").astype(np.int64))
        # Every row was last written by this moment (UTC, to the second): a day before the
        # run, so that only what the benchmark changes is newer than the scan's look-back.
        written = stamp - WRITTEN_BEFORE
        self.stamp = np.datetime64(written.astimezone(UTC).replace(tzinfo=None), "s")
        self.ids = Ids(written)
        self.institution_of: list[str] = []  # per product
        self.product_ids: list[str] = []
        self.touched: list[Touch] = []
        # Bucket per number of days past due, by the ageing job's own rule.
        self.buckets = np.array([bucket_for(d).value for d in range(2000)], dtype=object)

    def catalog(self) -> Tables:
        n = len(INSTITUTION_WEIGHTS)
        kinds, types = list(InstitutionKind), list(ProductType)
        opened = self.stamp - np.timedelta64(4 * 365, "D")
        institution_ids = self.ids.take(n)
        institutions = {
            "id": institution_ids,
            "code": [f"RSK{k:02d}" for k in range(n)],
            "name": [f"Risk Bench Lender {k}" for k in range(n)],
            "kind": [kinds[k % len(kinds)].value for k in range(n)],
            "region": [PLACES[k % len(PLACES)].region for k in range(n)],
            "four_eyes_threshold": np.full(n, 100_000_000),  # cents
            "created_at": np.full(n, opened),
        }
        m = n * PRODUCTS_PER_INSTITUTION
        self.product_ids = self.ids.take(m)
        self.institution_of = [institution_ids[p // PRODUCTS_PER_INSTITUTION] for p in range(m)]
        kind = [types[(p // PRODUCTS_PER_INSTITUTION + p) % len(types)] for p in range(m)]
        eligibility = {
            "min_years_in_business": 1,
            "industries": [],
            "regions": [],
            "min_annual_revenue": "0.00",
            "max_debt_to_asset": "0.90",
        }
        products = {
            "id": self.product_ids,
            "institution_id": self.institution_of,
            "code": [f"P{p % PRODUCTS_PER_INSTITUTION}" for p in range(m)],
            "version": np.ones(m, np.int64),
            "name": [k.value.replace("_", " ").capitalize() for k in kind],
            "type": [k.value for k in kind],
            "status": [ProductStatus.PUBLISHED.value] * m,
            "description": [""] * m,
            "min_amount": np.full(m, 5_000_000),  # cents
            "max_amount": np.full(m, 500_000_000),
            "min_term_months": np.full(m, min(t for t, _ in TERMS)),
            "max_term_months": np.full(m, MAX_TERM),
            "min_rate": np.full(m, 30_000),  # millionths
            "max_rate": np.full(m, 180_000),
            "origination_fee_rate": np.full(m, 5_000),
            "repayment_methods": [json.dumps([r.value for r in RepaymentMethod])] * m,
            "collateral_required": np.zeros(m, np.bool_),
            "eligibility": [json.dumps(eligibility)] * m,
            "published_at": np.full(m, opened),
            "created_at": np.full(m, opened),
        }
        return {
            INSTITUTIONS: institutions,
            PRODUCTS: products,
            RISK_RULES: rule_columns(self.ids, self.stamp),
        }

    def batch(self, first: int, count: int) -> Tables:
        """Loans ``first`` .. ``first + count - 1``; loan ``i`` belongs to enterprise ``i // 2``."""
        rng, day = self.rng, self.day
        firms = (count + 1) // 2
        owner = np.arange(count) // 2
        health = rng.standard_normal(firms)

        # ---- loans: arrears, terms, amounts, and the schedule's anchor dates
        luck = HEALTH_IN_ARREARS * -health[owner] + math.sqrt(
            1 - HEALTH_IN_ARREARS**2
        ) * rng.standard_normal(count)
        arrears = np.searchsorted(ARREARS_CUTS, luck)  # 0 current .. 4 over 90 days
        late = np.select(
            [arrears == 1, arrears == 2, arrears == 3, arrears == 4],
            [
                rng.integers(1, 31, count),
                rng.integers(31, 61, count),
                rng.integers(61, 91, count),
                91 + np.minimum(rng.exponential(90, count), 450).astype(np.int64),
            ],
            0,
        )
        current = arrears == 0
        term = rng.choice([t for t, _ in TERMS], count, p=[w for _, w in TERMS])
        method = rng.choice(len(METHODS), count, p=[w for _, w in METHODS])
        principal = (
            np.clip(np.exp(rng.normal(math.log(600_000), 0.9, count)), 50_000, 5_000_000) // 1000
        ).astype(np.int64) * 100_000  # cents, whole thousands of yuan
        rate = rng.integers(35_000, 150_001, count)  # millionths
        product = rng.choice(len(INSTITUTION_WEIGHTS), count, p=INSTITUTION_WEIGHTS)
        product = product * PRODUCTS_PER_INSTITUTION + rng.integers(
            0, PRODUCTS_PER_INSTITUTION, count
        )
        # The oldest unpaid instalment's due date (current loans: the next one), on a
        # day of the month every month has, so each schedule is plain month arithmetic.
        wanted = np.where(current, day + rng.integers(0, 28, count), day - late)
        months = wanted.astype("datetime64[M]")
        day_of_month = (wanted - months.astype("datetime64[D]")).astype(np.int64) + 1
        oldest = np.where(
            day_of_month <= 28,
            wanted,
            np.where(current, (months + 1).astype("datetime64[D]"), wanted - (day_of_month - 28)),
        )
        days_past_due = np.where(current, 0, (day - oldest).astype(np.int64))
        oldest_month = oldest.astype("datetime64[M]").astype(np.int64)
        due_day = (oldest - month_start(oldest_month)).astype(np.int64)  # 0-based
        room = np.minimum(term, oldest_month - (self.month - HISTORY_MONTHS) - 1)
        unpaid_from = 1 + (rng.random(count) * room).astype(np.int64)  # its sequence
        first_month = oldest_month - unpaid_from  # the month of disbursement
        disbursed = month_start(first_month) + due_day
        disbursed_at = disbursed + rng.integers(3600, 36000, count).astype("timedelta64[s]")

        # ---- schedules: (loan, sequence) matrices, flattened loan by loan
        sequence = np.arange(1, MAX_TERM + 1)
        monthly = rate / 1e6 / 12
        annuity = np.rint(principal * monthly / (1 - (1 + monthly) ** -term)).astype(np.int64)
        balance = principal.copy()
        principal_due = np.zeros((count, MAX_TERM), np.int64)
        interest_due = np.zeros((count, MAX_TERM), np.int64)
        for j in sequence:
            live = j <= term
            interest = np.floor(balance * monthly + 0.5).astype(np.int64)
            part = np.select([method == 0, method == 1], [annuity - interest, principal // term], 0)
            part = np.where(j == term, balance, np.clip(part, 0, balance))
            principal_due[:, j - 1] = np.where(live, part, 0)
            interest_due[:, j - 1] = np.where(live, interest, 0)
            balance -= principal_due[:, j - 1]
        scheduled = sequence[None, :] <= term[:, None]
        paid = sequence[None, :] < unpaid_from[:, None]
        outstanding = principal - (principal_due * paid).sum(axis=1)
        row_of = np.broadcast_to(np.arange(count)[:, None], scheduled.shape)[scheduled]
        due_on = (
            month_start((first_month[:, None] + sequence[None, :])[scheduled]) + due_day[row_of]
        )
        flat_paid = paid[scheduled]

        # ---- enterprises: accounts from health, PDs from health and arrears
        industry = rng.choice(len(INDUSTRIES), firms, p=_weights(INDUSTRY_WEIGHTS))
        place = rng.choice(len(PLACES), firms, p=_weights([p.weight for p in PLACES]))
        age_days = np.clip(np.exp(rng.normal(math.log(7), 0.7, firms)), 1.5, 35) * 365.25
        employees = np.clip(np.rint(np.exp(rng.normal(math.log(15), 1.0, firms))), 1, 800)
        per_employee = np.array([i.revenue_per_employee for i in INDUSTRIES])[industry]
        revenue = np.maximum(
            employees * per_employee * np.exp(rng.normal(0.1 * health, 0.4)), 500_000
        )
        worst = np.zeros(firms, np.int64)
        np.maximum.at(worst, owner, arrears)
        first_loan = np.full(firms, np.iinfo(np.int64).max)
        np.minimum.at(first_loan, owner, disbursed.astype(np.int64))
        registered = first_loan.astype("datetime64[D]") - rng.integers(30, 120, firms)
        registered_at = registered + rng.integers(3600, 36000, firms).astype("timedelta64[s]")

        firm_ids = self.ids.take(firms)
        application_ids = self.ids.take(count)
        loan_ids = self.ids.take(count)
        numbers = range(first // 2, first // 2 + firms)
        division = pick([p.division_code for p in PLACES], place)
        enterprises = {
            "id": firm_ids,
            "unified_social_credit_code": [
                credit_code(n, d) for n, d in zip(numbers, division, strict=True)
            ],
            "name": [f"Risk Bench Enterprise {n}" for n in numbers],
            "industry": pick([i.code for i in INDUSTRIES], industry),
            "region": pick([p.region for p in PLACES], place),
            "founded_on": registered - age_days.astype(np.int64),
            "employee_count": employees.astype(np.int64),
            "annual_revenue": cents(revenue),
            "created_at": registered_at,
            "updated_at": registered_at,
        }
        firm_id = np.asarray(firm_ids, dtype=object)
        statements = self._statements(firm_id, industry, health, revenue, registered_at)
        assessments = self._assessments(firm_id, health, worst)

        institution = np.asarray(self.institution_of, dtype=object)[product].tolist()
        product_id = np.asarray(self.product_ids, dtype=object)[product].tolist()
        method_value = pick([m.value for m, _ in METHODS], method)
        applications = {
            "id": application_ids,
            "enterprise_id": firm_id[owner].tolist(),
            "product_id": product_id,
            "institution_id": institution,
            "amount": principal,
            "term_months": term,
            "repayment_method": method_value,
            "purpose": ["working capital"] * count,
            "status": [ApplicationStatus.DISBURSED.value] * count,
            "submitted_at": disbursed_at - np.timedelta64(21, "D"),
            "decided_at": disbursed_at - np.timedelta64(7, "D"),
            "first_decided_at": disbursed_at - np.timedelta64(7, "D"),
            "reached": np.full(count, DISBURSED_PATH, np.int64),
            "approved_rate": rate,
            "created_at": disbursed_at - np.timedelta64(21, "D"),
            "updated_at": disbursed_at,
            "version": np.ones(count, np.int64),
        }
        loans = {
            "id": loan_ids,
            "application_id": application_ids,
            "enterprise_id": applications["enterprise_id"],
            "institution_id": institution,
            "product_id": product_id,
            "principal": principal,
            "annual_rate": rate,
            "term_months": term,
            "repayment_method": method_value,
            "disbursed_on": disbursed,
            "maturity_on": month_start(first_month + term) + due_day,
            "status": [LoanStatus.ACTIVE.value] * count,
            "outstanding_principal": outstanding,
            "days_past_due": days_past_due,
            "delinquency_bucket": self.buckets[days_past_due].tolist(),
            "aged_on": np.full(count, day),
            "created_at": disbursed_at,
            "updated_at": np.full(count, self.stamp),
            "version": np.ones(count, np.int64),
        }
        for n in np.flatnonzero(rng.random(count) < TOUCHED_SHARE).tolist():
            self.touched.append(Touch(loan_ids[n], int(days_past_due[n])))

        rows = len(row_of)
        principal_part, interest_part = principal_due[scheduled], interest_due[scheduled]
        nothing = np.zeros(rows, np.int64)
        instalments = {
            "id": self.ids.take(rows),
            "loan_id": np.asarray(loan_ids, dtype=object)[row_of].tolist(),
            "sequence": np.broadcast_to(sequence, scheduled.shape)[scheduled],
            "due_on": due_on,
            "principal_due": principal_part,
            "interest_due": interest_part,
            "fee_due": nothing,
            "principal_paid": np.where(flat_paid, principal_part, 0),
            "interest_paid": np.where(flat_paid, interest_part, 0),
            "fee_paid": nothing,
            "settled_on": np.where(flat_paid, due_on, np.datetime64("NaT")),
        }
        return {
            ENTERPRISES: enterprises,
            STATEMENTS: statements,
            ASSESSMENTS: assessments,
            APPLICATIONS: applications,
            LOANS: loans,
            INSTALMENTS: instalments,
        }

    def _statements(
        self,
        firm_id: NDArray[np.object_],
        industry: Ints,
        health: Floats,
        revenue: Floats,
        registered_at: Stamps,
    ) -> Columns:
        """The last two fiscal years before the scan date's, balanced to the cent."""
        rng, firms = self.rng, len(firm_id)
        years = rng.choice(3, firms, p=STATEMENT_SHARES)  # how many were filed
        sector = {
            name: np.array([getattr(i, name) for i in INDUSTRIES])[industry]
            for name in ("gross_margin", "operating_margin", "asset_turnover")
        }
        growth = np.clip(rng.normal(0.05 + 0.05 * health, 0.2), -0.7, 1.5)
        leverage = math.log(0.5 / 0.65) - 0.5 * health + rng.normal(0, 0.6, firms)
        # (enterprise, year) matrices, the earlier year first
        shape = (firms, 2)
        income = np.stack([cents(revenue / (1 + growth)), cents(revenue)], axis=1)
        margin = sector["gross_margin"][:, None] + rng.normal(0, 0.05, shape)
        operating_margin = (
            sector["operating_margin"][:, None]
            + 0.03 * health[:, None]
            + rng.normal(0, 0.04, shape)
        )
        turnover = sector["asset_turnover"][:, None] * np.exp(rng.normal(0, 0.3, shape))
        assets = np.rint(income / turnover).astype(np.int64)
        debt_ratio = 1.15 / (1 + np.exp(-(leverage[:, None] + rng.normal(0, 0.1, shape))))
        liabilities = np.rint(assets * debt_ratio).astype(np.int64)
        operating = np.rint(income * operating_margin).astype(np.int64)
        interest = np.rint(liabilities * rng.uniform(0.015, 0.045, shape)).astype(np.int64)
        latest = self.as_of.year - 1
        fiscal_year = np.broadcast_to(np.array([latest - 1, latest]), shape)
        # Filed by the end of April after the year closed, once the enterprise had joined.
        deadline = np.array([f"{latest}-04-30T02:00", f"{latest + 1}-04-30T02:00"], "datetime64[s]")
        filed_at = np.minimum(np.maximum(deadline[None, :], registered_at[:, None]), self.stamp)
        kept = np.stack([years == 2, years >= 1], axis=1)

        def rows(values: NDArray[Any]) -> NDArray[Any]:
            kept_rows: NDArray[Any] = values[kept]
            return kept_rows

        return {
            "id": self.ids.take(int(kept.sum())),
            "enterprise_id": np.broadcast_to(firm_id[:, None], shape)[kept].tolist(),
            "fiscal_year": rows(fiscal_year),
            "revenue": rows(income),
            "cost_of_sales": rows(np.rint(income * (1 - margin)).astype(np.int64)),
            "operating_profit": rows(operating),
            "interest_expense": rows(interest),
            "net_profit": rows(np.rint((operating - interest) * 0.75).astype(np.int64)),
            "total_assets": rows(assets),
            "current_assets": rows(np.rint(assets * rng.uniform(0.3, 0.8, shape)).astype(np.int64)),
            "total_liabilities": rows(liabilities),
            "current_liabilities": rows(
                np.rint(liabilities * rng.uniform(0.4, 0.9, shape)).astype(np.int64)
            ),
            "equity": rows(assets - liabilities),
            "operating_cash_flow": rows(
                np.rint(operating * rng.uniform(0.4, 1.3, shape)).astype(np.int64)
            ),
            "created_at": rows(filed_at),
            "updated_at": rows(filed_at),
        }

    def _assessments(self, firm_id: NDArray[np.object_], health: Floats, worst: Ints) -> Columns:
        """Champion assessments about 100, 40 and 5 days ago, the PD drifting with arrears."""
        rng, firms = self.rng, len(firm_id)
        made = rng.choice(3, firms, p=ASSESSMENT_SHARES)  # none / the latest / all three
        base = math.log(BASE_PD / (1 - BASE_PD)) + 0.9 * health + rng.normal(0, 0.4, firms)
        second = base + rng.normal(0, 0.25, firms) + 0.5 * (worst >= 2)
        third = second + rng.normal(0.02, 0.25, firms) + 0.4 * (worst >= 1) + 0.6 * (worst >= 3)
        logit = np.stack([base, second, third], axis=1)  # (enterprise, round), oldest first
        shape = logit.shape
        pd = 1 / (1 + np.exp(-logit))
        ago = np.array(ASSESSED_DAYS_AGO)[None, :] + rng.integers(-2, 3, shape)
        assessed_at = (self.day - ago) + rng.integers(3600, 36000, shape).astype("timedelta64[s]")
        kept = np.stack([made == 2, made == 2, made >= 1], axis=1)
        n = int(kept.sum())
        return {
            "id": self.ids.take(n),
            "enterprise_id": np.broadcast_to(firm_id[:, None], shape)[kept].tolist(),
            "probability_of_default": pd[kept],
            "score": CARD.points_many(logit[kept]),
            "grade": SCALE.grade_many(pd[kept]),
            "reasons": pick(REASONS, rng.integers(0, len(REASONS), n)),
            "model_version": [MODEL_VERSION] * n,
            "assessed_at": np.minimum(assessed_at[kept], self.stamp),
            "shadow": np.zeros(n, np.bool_),
        }


def _weights(weights: Sequence[float]) -> list[float]:
    total = sum(weights)
    return [w / total for w in weights]


# ------------------------------------------------------------------------------ writing

NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(column: Column[Any], values: Any) -> tuple[Any, str]:
    """One column in COPY's text format, and what follows each value: exact decimals go
    as their scaled integers followed by an exponent (``12345`` ``e-2``)."""
    if isinstance(values, np.ndarray):
        kind = values.dtype.kind
        if kind == "M":  # few distinct days: each is formatted once
            distinct, index = np.unique(values, return_inverse=True)
            unit, _ = np.datetime_data(values.dtype)
            shown = np.datetime_as_string(distinct, timezone="UTC" if unit == "s" else "naive")
            return np.where(np.isnat(distinct), NULL, shown).astype(object)[index], ""
        if kind == "b":
            return np.where(values, "t", "f"), ""
        suffix = f"e-{column.type.scale}" if isinstance(column.type, ScaledDecimal) else ""
        if len(values) and (values == values[0]).all():
            return [str(values[0].item())] * len(values), suffix
        return list(map(str, values.tolist())), suffix
    joined = "".join(filter(None, values))
    if any(special in joined for special in "\\\t\n\r"):
        values = [None if v is None else v.translate(_ESCAPES) for v in values]
    if None in values:
        values = [NULL if v is None else v for v in values]
    return values, ""


def _python(column: Column[Any], values: Any) -> list[Any]:
    """One column as the SQLAlchemy column type takes it."""
    if isinstance(values, np.ndarray):
        if values.dtype.kind == "M" and np.datetime_data(values.dtype)[0] == "s":
            return [None if v is None else v.replace(tzinfo=UTC) for v in values.tolist()]
        if isinstance(column.type, ScaledDecimal):
            return [Decimal(v).scaleb(-column.type.scale) for v in values.tolist()]
        return values.tolist()  # type: ignore[no-any-return]
    if isinstance(column.type, Uuid):
        return [None if v is None else uuid.UUID(v) for v in values]
    if isinstance(column.type, JSON):
        return [None if v is None else json.loads(v) for v in values]
    return list(values)


@dataclass(slots=True)
class Prepared:
    """One table's rows of a batch, encoded for the database."""

    table: Table
    columns: list[str]
    rows: int
    payload: Any


Encode = Callable[[Table, Columns], Any]


def copy_payload(table: Table, columns: Columns) -> Any:
    """The rows in COPY's text format.

    Text, not asyncpg's binary COPY: its encoder builds a ``Decimal`` and its digits in
    Python for every exact decimal, which costs ten times what the server spends per row.
    """
    rows = len(next(iter(columns.values())))
    # Values and separators interleaved, row by row, in one list: one join for the batch.
    width = 2 * len(columns)
    cells: list[Any] = [None] * (rows * width)
    for k, (name, values) in enumerate(columns.items()):
        shown, suffix = _copy_text(table.c[name], values)
        cells[2 * k :: width] = shown if isinstance(shown, list) else shown.tolist()
        cells[2 * k + 1 :: width] = [suffix + ("\t" if 2 * k + 2 < width else "\n")] * rows
    text = "".join(cells)
    return memoryview(text.encode())  # a buffer: bytes would be a path to asyncpg


def insert_payload(table: Table, columns: Columns) -> Any:
    names = list(columns)
    values = [_python(table.c[name], columns[name]) for name in names]
    return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)]


@dataclass(slots=True)
class Built:
    connections: int = 1
    rows: Counter[str] = field(default_factory=Counter)
    write: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    generate: float = 0.0  # numpy to columns
    encode: float = 0.0  # columns to what the database takes
    wall: float = 0.0
    vacuum: float = 0.0
    touched: list[Touch] = field(default_factory=list)


class Writer(Protocol):
    async def write(self, batch: list[Prepared], built: Built) -> None: ...


class CopyWriter:
    """COPY through the asyncpg connection under a SQLAlchemy one, a transaction a batch."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    async def write(self, batch: list[Prepared], built: Built) -> None:
        async with self.driver.transaction():
            for prepared in batch:
                started = time.perf_counter()
                await self.driver.copy_to_table(
                    prepared.table.name,
                    source=prepared.payload,
                    columns=prepared.columns,
                    format="text",
                )
                built.write[prepared.table.name] += time.perf_counter() - started
                built.rows[prepared.table.name] += prepared.rows


class InsertWriter:
    """Core INSERTs in chunks (SQLite), a transaction a batch."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def write(self, batch: list[Prepared], built: Built) -> None:
        for prepared in batch:
            started = time.perf_counter()
            rows = prepared.payload
            for start in range(0, len(rows), INSERT_ROWS):
                await self.conn.execute(insert(prepared.table), rows[start : start + INSERT_ROWS])
            built.write[prepared.table.name] += time.perf_counter() - started
            built.rows[prepared.table.name] += prepared.rows
        await self.conn.commit()


def prepare(encode: Encode, make: Callable[[], Tables], built: Built) -> list[Prepared]:
    started = time.perf_counter()
    tables = make()
    encoding = time.perf_counter()
    prepared = [
        Prepared(table, list(columns), check_columns(table, columns), encode(table, columns))
        for table, columns in tables.items()
    ]
    built.generate += encoding - started
    built.encode += time.perf_counter() - encoding
    return prepared


async def fill(
    writers: Sequence[Writer], encode: Encode, book: LoanBook, loans: int, built: Built
) -> None:
    """Batches are generated and encoded in a thread, in order, and written as they come by
    whichever connection is free: a batch refers only to itself and the catalog."""
    await writers[0].write(prepare(encode, book.catalog, built), built)
    queue: asyncio.Queue[list[Prepared] | None] = asyncio.Queue(maxsize=len(writers))

    async def produce() -> None:
        for first in range(0, loans, BATCH_LOANS):
            make = functools.partial(book.batch, first, min(BATCH_LOANS, loans - first))
            await queue.put(await asyncio.to_thread(prepare, encode, make, built))
        for _ in writers:
            await queue.put(None)

    async def consume(writer: Writer) -> None:
        while (batch := await queue.get()) is not None:
            await writer.write(batch, built)

    await asyncio.gather(produce(), *(consume(writer) for writer in writers))


async def fresh(url: str) -> AsyncEngine:
    """A migrated, empty database (PostgreSQL: schema public renewed)."""
    engine = create_engine(url)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    await upgrade(engine)
    return engine


async def build(
    engine: AsyncEngine, *, loans: int, seed: int, as_of: date, connections: int
) -> Built:
    book = LoanBook(seed=seed, as_of=as_of, stamp=utcnow())
    gc.collect()
    gc.disable()  # millions of acyclic strings and lists: the collector would only rescan them
    started = time.perf_counter()
    try:
        async with AsyncExitStack() as stack:
            if engine.dialect.name == "postgresql":
                built, encode = Built(connections), copy_payload
                writers: list[Writer] = []
                for _ in range(connections):
                    conn = await stack.enter_async_context(engine.connect())
                    driver = (await conn.get_raw_connection()).driver_connection
                    writers.append(CopyWriter(driver))
            else:  # one writer at a time anyway
                built, encode = Built(1), insert_payload
                writers = [InsertWriter(await stack.enter_async_context(engine.connect()))]
            await fill(writers, encode, book, loans, built)
    finally:
        gc.enable()
    built.wall = time.perf_counter() - started
    started = time.perf_counter()
    # The statistics and visibility map a live database has and a bulk load lacks.
    async with engine.connect() as conn:
        auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
        vacuum = "VACUUM (ANALYZE)" if engine.dialect.name == "postgresql" else "ANALYZE"
        await auto.execute(text(vacuum))
    built.vacuum = time.perf_counter() - started
    built.touched = book.touched
    return built


async def touch(engine: AsyncEngine, touched: Sequence[Touch]) -> float:
    """The chosen loans slip a month further into arrears: one bulk UPDATE."""
    table = _table(Loan)
    stmt = (
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(
            days_past_due=bindparam("dpd"),
            delinquency_bucket=bindparam("bucket"),
            updated_at=utcnow(),
            version=table.c.version + 1,
        )
    )
    rows = [
        {
            "b_id": uuid.UUID(t.loan_id),
            "dpd": t.days_past_due + 30,
            "bucket": bucket_for(t.days_past_due + 30),
        }
        for t in touched
    ]
    started = time.perf_counter()
    async with engine.begin() as conn:
        if rows:
            await conn.execute(stmt, rows)
    return time.perf_counter() - started


# --------------------------------------------------------------------------------- scan


async def alerts_by_rule(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(RiskAlert.rule_code, func.count()).group_by(RiskAlert.rule_code)
        )
        return {str(r[0]): int(r[1]) for r in rows}


async def scan(engine: AsyncEngine, *, as_of: date, full: bool) -> ScanReport:
    gc.collect()
    return await run_scan(session_factory(engine), as_of=as_of, full=full, trigger="benchmark")


def report_scan(title: str, report: ScanReport) -> None:
    rate = report.loans_scanned / report.seconds if report.seconds else 0.0
    kind = "full" if report.full else "incremental"
    print(
        f"  {title:<14}{report.seconds:8.2f} s  {report.loans_scanned:>10,} loans "
        f"({rate:>9,.0f} loans/s, {kind})  alerts raised {report.alerts_raised:,}  "
        f"warnings written {report.warnings_written:,}"
    )


def report_build(built: Built, *, dialect: str, loans: int, seed: int, as_of: date) -> None:
    total = sum(built.rows.values())
    verb = "COPY" if dialect == "postgresql" else "INSERT"
    spread = f", summed over {built.connections} connections" if built.connections > 1 else ""
    print(f"loan book  {dialect}, {loans:,} active loans, as of {as_of} (seed {seed})")
    for name, rows in built.rows.items():
        print(f"  {name:<24}{rows:>12,} rows  {built.write[name]:8.2f} s in {verb}{spread}")
    print(
        f"  generated  {total:,} rows: {built.generate:.2f} s in numpy and lists "
        f"({total / built.generate:,.0f} rows/s), {built.encode:.2f} s encoding them "
        f"for {verb} ({total / built.encode:,.0f} rows/s)"
    )
    print(
        f"  loaded     {total:,} rows in {built.wall:.2f} s wall, generation included "
        f"({total / built.wall:,.0f} rows/s); "
        f"{'VACUUM ANALYZE' if dialect == 'postgresql' else 'ANALYZE'} {built.vacuum:.2f} s"
    )


async def bench_scans(
    engine: AsyncEngine, *, loans: int, as_of: date, touched: Sequence[Touch], repeat_full: int
) -> None:
    print(f"scan       {len(RULES)} platform rules")
    first = await scan(engine, as_of=as_of, full=True)
    report_scan("full, first", first)
    levels = "  ".join(f"{name} {n:,}" for name, n in first.levels.items())
    print(f"    warning levels  {levels}")
    fired = await alerts_by_rule(engine)
    print("    alerts by rule  " + "  ".join(f"{c} {fired.get(c, 0):,}" for c, *_ in RULES))

    seconds = await touch(engine, touched)
    print(
        f"  touched {len(touched):,} loans (days_past_due + 30, updated_at now) in {seconds:.2f} s"
    )
    report_scan("incremental", await scan(engine, as_of=as_of, full=False))

    again = [await scan(engine, as_of=as_of, full=True) for _ in range(repeat_full)]
    for n, report in enumerate(again, start=2):
        report_scan(f"full, run {n}", report)
    if again:
        # The first scan writes every warning and raises the book's alerts; the others
        # find little changed, as a scheduled full scan does: medians of those apart.
        median = statistics.median(r.seconds for r in again)
        print(
            f"  full scans after the first  median {median:.2f} s over {len(again)} "
            f"({loans / median:,.0f} loans/s)"
        )


async def rescan(url: str, *, as_of: date, repeat_full: int) -> None:
    """Full scans of the book a previous run left, in a process that did not build it."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            active = await conn.scalar(
                select(func.count()).select_from(Loan).where(Loan.status == LoanStatus.ACTIVE)
            )
        print(f"scan       the book in the database, {active:,} active loans")
        again = [await scan(engine, as_of=as_of, full=True) for _ in range(repeat_full)]
        for n, report in enumerate(again, start=1):
            report_scan(f"full, run {n}", report)
        median = statistics.median(r.seconds for r in again)
        print(f"  full scans  median {median:.2f} s over {len(again)}")
    finally:
        await engine.dispose()


async def bench(
    url: str,
    *,
    loans: int,
    seed: int,
    as_of: date,
    connections: int,
    repeat_full: int,
    scans: bool,
    reuse: bool,
) -> None:
    try:  # before the database is touched
        compile_rules()
        book = LoanBook(seed=seed, as_of=as_of, stamp=utcnow())
        for table, columns in {**book.catalog(), **book.batch(0, 2)}.items():
            check_columns(table, columns)
    except ValueError as error:
        raise SystemExit(f"the generator no longer fits the schema: {error}") from error
    if reuse:
        await rescan(url, as_of=as_of, repeat_full=repeat_full)
        return
    engine = await fresh(url)
    try:
        built = await build(engine, loans=loans, seed=seed, as_of=as_of, connections=connections)
        report_build(built, dialect=engine.dialect.name, loans=loans, seed=seed, as_of=as_of)
        if scans:
            await bench_scans(
                engine, loans=loans, as_of=as_of, touched=built.touched, repeat_full=repeat_full
            )
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, help=f"default {PG_LOANS:,} on PostgreSQL")
    parser.add_argument("--repeat", type=int, help="full scans after the incremental one")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--as-of", type=date.fromisoformat, help="the scan date; default today")
    parser.add_argument("--database-url", help="default: a fresh temporary SQLite file")
    parser.add_argument("--connections", type=int, default=2, help="COPY connections on PostgreSQL")
    parser.add_argument("--build-only", action="store_true", help="build the book, no scan")
    parser.add_argument(
        "--reuse-book", action="store_true", help="only full scans of the book already there"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run for CI (SQLite)")
    args = parser.parse_args()
    if args.quick:
        if args.database_url or args.reuse_book:
            parser.error("--quick runs on a new SQLite file only")
        args.loans = QUICK_LOANS
    if args.reuse_book and not args.database_url:
        parser.error("--reuse-book needs the --database-url of a book a previous run built")
    today = utcnow().date()
    as_of = args.as_of or today
    if as_of > today:
        parser.error("--as-of cannot be in the future: the scan reads what was written")
    postgres = bool(args.database_url and args.database_url.startswith("postgresql"))
    loans = args.loans or (PG_LOANS if postgres else SQLITE_LOANS)
    repeat_full = args.repeat if args.repeat is not None else (1 if loans >= 500_000 else 2)

    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'risk_scan.db'}"
        asyncio.run(
            bench(
                url,
                loans=loans,
                seed=args.seed,
                as_of=as_of,
                connections=max(args.connections, 1),
                repeat_full=repeat_full,
                scans=not args.build_only,
                reuse=args.reuse_book,
            )
        )


if __name__ == "__main__":
    main()
