"""A small constructed portfolio whose every figure is worked out by hand (see each note).

Period: 2026-01-01 .. 2026-06-30, so its stocks are the month-end snapshot of 2026-06-30
and the expected loss's baseline is the snapshot of 2025-12-31.

Institution A (risk officer's view):

- applications submitted in the period (first decision after submission):
  app1 approved after 48 h, signed, disbursed; app2 rejected after 24 h; app3 (a
  factoring product) rejected after 96 h, appealed, approved; app4 waits for more
  information; app5 withdrawn. Outside: one submitted in December, one draft.
- loans (principal; snapshots: month end bucket outstanding):
  L1 E1 term 100,000 disbursed 2026-01-15   05-31 current 90,000    06-30 current 80,000
  L2 E2 term 200,000 disbursed 2025-11-10   12-31 current 190,000   05-31 1-30 160,000
                                            06-30 31-60 160,000
  L3 E3 factoring 300,000 disb. 2026-02-20  05-31 61-90 300,000     06-30 90+ 300,000
  L4 E1 factoring 60,000 disb. 2025-10-05   12-31 31-60 60,000      05-31 90+ 50,000
                                            written off 2026-06-15
  L6 E5 term 60,000 disbursed 2026-01-20    01..03 current/1-30/31-60, written off 2026-04-10
  L7 E2 term 10,000 disbursed 2025-06-01    05-31 current 10,000, closed 2026-06-10
- enterprises: E1 manufacturing/Zhejiang, E2 manufacturing/Jiangsu, E3 retail/Zhejiang,
  E5 retail/Jiangsu. PDs in force: E1 0.02 (2025-06-01) then 0.05 (2026-03-01); E2 0.10
  (2025-11-01; a shadow 0.90 in June is ignored); E3 and E5 never assessed.

Institution B: app7 approved after 10 h; L5 E4 400,000 disbursed 2026-03-01,
05-31 current 380,000, 06-30 current 370,000.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from domain.analytics import repository as analytics
from domain.analytics.models import LoanBucketSnapshot
from domain.analytics.service import PortfolioFilter
from domain.applications import states
from domain.applications.models import Application, ApplicationStatus, Transition
from domain.enterprises.models import Enterprise
from domain.identity.models import Institution
from domain.lending.models import DelinquencyBucket, Loan, LoanStatus
from domain.products.models import Product, ProductType
from domain.risk import ratings
from domain.risk.models import RiskAssessment
from tests import factories as f

S = ApplicationStatus
B = DelinquencyBucket
START, END = date(2026, 1, 1), date(2026, 6, 30)
PERIOD = PortfolioFilter(start=START, end=END)


def at(day: date, hour: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


@dataclass
class Book:
    a: Institution
    b: Institution
    firms: dict[str, Enterprise] = field(default_factory=dict)
    loans: dict[str, Loan] = field(default_factory=dict)
    products: dict[str, Product] = field(default_factory=dict)


async def _timeline(
    s: AsyncSession,
    product: Product,
    firm: Enterprise,
    moves: list[tuple[ApplicationStatus, datetime]],
) -> Application:
    """An application and its time line: submitted at the first move."""
    app = await f.application(s, enterprise_id=firm.id, product_row=product)
    app.submitted_at = moves[0][1]
    app.status = moves[-1][0]
    previous: ApplicationStatus | None = S.DRAFT
    s.add(
        Transition(
            application_id=app.id,
            from_status=None,
            to_status=S.DRAFT,
            at=moves[0][1] - timedelta(hours=1),
        )
    )
    for status, when in moves:
        s.add(Transition(application_id=app.id, from_status=previous, to_status=status, at=when))
        previous = status
    # What the service's moves keep beside the time line.
    app.reached = states.reached([S.DRAFT, *(status for status, _ in moves)])
    app.first_decided_at = min(
        (when for status, when in moves if status in states.DECISIONS), default=None
    )
    await s.flush()
    return app


async def _loan(
    s: AsyncSession,
    product: Product,
    firm: Enterprise,
    principal: str,
    disbursed_on: date,
    snapshots: list[tuple[date, DelinquencyBucket, str]],
    *,
    status: LoanStatus = LoanStatus.ACTIVE,
    written_off_on: date | None = None,
    live: tuple[DelinquencyBucket, str] = (B.CURRENT, "0.00"),
) -> Loan:
    """A loan (its application submitted long before the period), its month ends, and
    ``live``: its bucket and outstanding in the loans table now."""
    app = await f.application(
        s, enterprise_id=firm.id, product_row=product, status=S.DISBURSED, amount=principal
    )
    app.submitted_at = at(date(2024, 1, 1))
    loan = await f.loan(s, application_row=app)
    loan.disbursed_on = disbursed_on
    loan.status = status
    loan.written_off_on = written_off_on
    loan.delinquency_bucket, outstanding = live
    loan.outstanding_principal = Decimal(outstanding)
    for month_end, bucket, balance in snapshots:
        s.add(
            LoanBucketSnapshot(
                loan_id=loan.id,
                month_end=month_end,
                institution_id=loan.institution_id,
                delinquency_bucket=bucket,
                days_past_due={B.CURRENT: 0, B.DPD_1_30: 10, B.DPD_31_60: 40}.get(bucket, 95),
                outstanding_principal=Decimal(balance),
            )
        )
    await s.flush()
    return loan


async def _pd(
    s: AsyncSession, firm: Enterprise, pd: float, day: date, *, shadow: bool = False
) -> None:
    """An assessment made on ``day``, with what follows from it (the PD in force)."""
    assessment = RiskAssessment(
        enterprise_id=firm.id,
        probability_of_default=pd,
        score=600,
        grade="BBB",
        reasons=[],
        model_version="test-1",
        assessed_at=at(day, 9),
        shadow=shadow,
    )
    s.add(assessment)
    await s.flush()
    await ratings.record(s, assessment)


async def _firm(s: AsyncSession, industry: str, region: str) -> Enterprise:
    firm = await f.enterprise(s)
    firm.industry, firm.region = industry, region
    await s.flush()
    return firm


async def build(s: AsyncSession) -> Book:
    book = Book(a=await f.institution(s), b=await f.institution(s))
    term_a = await f.product(s, institution_id=book.a.id)
    factoring_a = await f.product(s, institution_id=book.a.id, type_=ProductType.FACTORING)
    term_b = await f.product(s, institution_id=book.b.id)
    book.products = {"term_a": term_a, "factoring_a": factoring_a, "term_b": term_b}
    e1 = await _firm(s, "manufacturing", "Zhejiang")
    e2 = await _firm(s, "manufacturing", "Jiangsu")
    e3 = await _firm(s, "retail", "Zhejiang")
    e4 = await _firm(s, "energy", "Beijing")
    e5 = await _firm(s, "retail", "Jiangsu")
    book.firms = {"E1": e1, "E2": e2, "E3": e3, "E4": e4, "E5": e5}

    # ---- applications
    day = date(2026, 2, 1)
    await _timeline(
        s,
        term_a,
        e1,
        [
            (S.SUBMITTED, at(day, 10)),
            (S.UNDER_REVIEW, at(day, 12)),
            (S.APPROVED, at(date(2026, 2, 3), 10)),
            (S.CONTRACT_SIGNED, at(date(2026, 2, 4))),
            (S.DISBURSED, at(date(2026, 2, 5))),
        ],
    )
    await _timeline(
        s,
        term_a,
        e2,
        [
            (S.SUBMITTED, at(date(2026, 3, 1))),
            (S.UNDER_REVIEW, at(date(2026, 3, 1), 1)),
            (S.REJECTED, at(date(2026, 3, 2))),
        ],
    )
    await _timeline(
        s,
        factoring_a,
        e3,
        [
            (S.SUBMITTED, at(date(2026, 4, 1))),
            (S.UNDER_REVIEW, at(date(2026, 4, 2))),
            (S.REJECTED, at(date(2026, 4, 5))),
            (S.APPEALED, at(date(2026, 4, 6))),
            (S.UNDER_REVIEW, at(date(2026, 4, 7))),
            (S.APPROVED, at(date(2026, 4, 10))),
        ],
    )
    await _timeline(
        s,
        term_a,
        e5,
        [
            (S.SUBMITTED, at(date(2026, 5, 1))),
            (S.UNDER_REVIEW, at(date(2026, 5, 2))),
            (S.MORE_INFO_REQUESTED, at(date(2026, 5, 3))),
        ],
    )
    await _timeline(
        s, term_a, e5, [(S.SUBMITTED, at(date(2026, 5, 10))), (S.WITHDRAWN, at(date(2026, 5, 11)))]
    )
    await _timeline(
        s,
        term_a,
        e1,
        [(S.SUBMITTED, at(date(2025, 12, 15))), (S.APPROVED, at(date(2025, 12, 16)))],
    )
    await f.application(s, enterprise_id=e1.id, product_row=term_a, status=S.DRAFT)
    await _timeline(
        s,
        term_b,
        e4,
        [(S.SUBMITTED, at(date(2026, 3, 3))), (S.APPROVED, at(date(2026, 3, 3), 10))],
    )

    # ---- loans and their month ends
    dec, may, jun = date(2025, 12, 31), date(2026, 5, 31), date(2026, 6, 30)
    book.loans["L1"] = await _loan(
        s,
        term_a,
        e1,
        "100000.00",
        date(2026, 1, 15),
        [(may, B.CURRENT, "90000.00"), (jun, B.CURRENT, "80000.00")],
        live=(B.CURRENT, "75000.00"),
    )
    book.loans["L2"] = await _loan(
        s,
        term_a,
        e2,
        "200000.00",
        date(2025, 11, 10),
        [
            (date(2025, 11, 30), B.CURRENT, "200000.00"),
            (dec, B.CURRENT, "190000.00"),
            (may, B.DPD_1_30, "160000.00"),
            (jun, B.DPD_31_60, "160000.00"),
        ],
        live=(B.DPD_61_90, "155000.00"),
    )
    book.loans["L3"] = await _loan(
        s,
        factoring_a,
        e3,
        "300000.00",
        date(2026, 2, 20),
        [(may, B.DPD_61_90, "300000.00"), (jun, B.DPD_90_PLUS, "300000.00")],
        live=(B.DPD_90_PLUS, "300000.00"),
    )
    book.loans["L4"] = await _loan(
        s,
        factoring_a,
        e1,
        "60000.00",
        date(2025, 10, 5),
        [(dec, B.DPD_31_60, "60000.00"), (may, B.DPD_90_PLUS, "50000.00")],
        status=LoanStatus.WRITTEN_OFF,
        written_off_on=date(2026, 6, 15),
        live=(B.DPD_90_PLUS, "50000.00"),
    )
    book.loans["L6"] = await _loan(
        s,
        term_a,
        e5,
        "60000.00",
        date(2026, 1, 20),
        [
            (date(2026, 1, 31), B.CURRENT, "60000.00"),
            (date(2026, 2, 28), B.DPD_1_30, "60000.00"),
            (date(2026, 3, 31), B.DPD_31_60, "60000.00"),
        ],
        status=LoanStatus.WRITTEN_OFF,
        written_off_on=date(2026, 4, 10),
        live=(B.DPD_61_90, "60000.00"),
    )
    book.loans["L7"] = await _loan(
        s,
        term_a,
        e2,
        "10000.00",
        date(2025, 6, 1),
        [(may, B.CURRENT, "10000.00")],
        status=LoanStatus.CLOSED,
    )
    book.loans["L5"] = await _loan(
        s,
        term_b,
        e4,
        "400000.00",
        date(2026, 3, 1),
        [(may, B.CURRENT, "380000.00"), (jun, B.CURRENT, "370000.00")],
        live=(B.CURRENT, "360000.00"),
    )

    # ---- PDs
    await _pd(s, e1, 0.02, date(2025, 6, 1))
    await _pd(s, e1, 0.05, date(2026, 3, 1))
    await _pd(s, e2, 0.10, date(2025, 11, 1))
    await _pd(s, e2, 0.90, date(2026, 6, 1), shadow=True)
    # The month ends carry the PDs then in force and where their loans went, as the
    # month-end job takes them.
    await analytics.complete_snapshots(s)
    return book


async def grow(s: AsyncSession, book: Book, n: int) -> None:
    """``n`` more borrowers at A, each with an application decided in the period, a loan
    paid out in it, its month ends and a PD: more of every row the figures read."""
    for i in range(n):
        firm = await _firm(s, ("retail", "energy", "agriculture")[i % 3], "Hubei")
        submitted = at(date(2026, 2, 1 + i % 27))
        await _timeline(
            s,
            book.products["term_a"],
            firm,
            [(S.SUBMITTED, submitted), (S.APPROVED, submitted + timedelta(hours=5 + i))],
        )
        await _loan(
            s,
            book.products["term_a"],
            firm,
            "50000.00",
            date(2026, 2, 1 + i % 27),
            [
                (date(2026, 5, 31), B.CURRENT, "40000.00"),
                (date(2026, 6, 30), (B.CURRENT, B.DPD_1_30, B.DPD_90_PLUS)[i % 3], "30000.00"),
            ],
            live=(B.CURRENT, "30000.00"),
        )
        await _pd(s, firm, 0.01 * (1 + i % 5), date(2026, 1, 10))
    await analytics.complete_snapshots(s)
