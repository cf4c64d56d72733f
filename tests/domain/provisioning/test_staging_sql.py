"""Staging in SQL (PostgreSQL's path) against the rules in Python (``staging.staged``,
the path SQLite takes and the oracle): over a varied book, every loan's stage, reason,
PDs, LGD, EAD and ECL the same to the last digit, and the same figures per stage.

The book mixes every product type, secured and not; days past due on each side of the
thresholds; borrowers never assessed, assessed once, and reassessed at less than, just
under, exactly and over twice their first PD, with PDs whose decimals sit on a rounding
half; forborne and accelerated loans; maturities past, within a month, within a year and
years away; unpaid interest and fees due. On SQLite both runs take the Python path."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.contracts.models import LoanTermination, TerminationKind
from domain.lending.models import Installment, Loan
from domain.products.models import Product, ProductType
from domain.provisioning.models import LoanStage
from domain.provisioning.service import Staging, stage_book
from domain.risk.models import RiskAssessment
from tests import factories as f
from tests.domain.ledger.books import lent

AS_OF = date(2026, 6, 30)
LOANS = 48
# PDs on a rounding half at the sixth decimal (half to even and half up part ways), tiny
# ones printed with an exponent, and round ones.
PDS = (0.0123455, 0.0123465, 0.25, 0.5, 1e-05, 0.0000005, 0.0000015, 0.999999, 0.02, 0.04)


def _assessment(loan: Loan, pd: float, at: datetime, *, origination: bool) -> RiskAssessment:
    return RiskAssessment(
        application_id=loan.application_id if origination else None,
        enterprise_id=loan.enterprise_id,
        probability_of_default=pd,
        score=600,
        grade="B",
        reasons=[],
        model_version="test",
        assessed_at=at,
        shadow=False,
    )


async def _book(s: AsyncSession, rng: random.Random) -> None:
    bank = await f.institution(s)
    types = list(ProductType)
    for n in range(LOANS):
        disbursed = AS_OF - timedelta(days=rng.choice((20, 200, 400, 700)))
        loan, _ = await lent(s, bank, on=disbursed, amount=f"{rng.randint(10, 900)}000.00")
        product = await s.get_one(Product, loan.product_id)
        product.type = types[n % len(types)]
        product.collateral_required = n % 3 == 0
        # Every tenth loan current and unrated but forborne: the forborne rule's own case.
        plain_forborne = n % 10 == 5
        first = None if plain_forborne else rng.choice((None, *PDS))
        if first is not None:
            s.add(_assessment(loan, first, datetime(2025, 1, 1, tzinfo=UTC), origination=True))
            factor = rng.choice((None, 0.5, 1.999999, 2.0, 3.0))
            if factor is not None:
                now = min(first * factor, 1.0)
                s.add(_assessment(loan, now, datetime(2026, 5, 1, tzinfo=UTC), origination=False))
        if n % 11 == 0:  # reassessed after the close date: not in force at it
            s.add(_assessment(loan, 0.9, datetime(2026, 7, 2, tzinfo=UTC), origination=False))
        if n % 7 == 0:
            s.add(
                LoanTermination(
                    application_id=loan.application_id,
                    loan_id=loan.id,
                    institution_id=bank.id,
                    kind=TerminationKind.ACCELERATION,
                    on=AS_OF - timedelta(days=rng.choice((-3, 0, 10))),
                )
            )
        maturity = AS_OF + timedelta(days=rng.choice((-40, 0, 12, 200, 364, 365, 366, 1500)))
        await s.execute(
            update(Loan)
            .where(Loan.id == loan.id)
            .values(
                days_past_due=0
                if plain_forborne
                else rng.choice((0, 1, 29, 30, 31, 89, 90, 91, 400)),
                forborne=n % 5 == 0,
                maturity_on=maturity,
                outstanding_principal=Decimal(rng.randint(0, 90_000_000)).scaleb(-2),
            )
        )
        # Some instalments due by the close date left unpaid (interest and fees).
        await s.execute(
            update(Installment)
            .where(Installment.loan_id == loan.id, Installment.sequence <= rng.randint(0, 4))
            .values(
                settled_on=None,
                fee_due=Decimal(rng.randint(0, 5000)).scaleb(-2),
                interest_paid=Decimal("0.00"),
            )
        )
    await s.flush()


async def _rows(sessions: async_sessionmaker[AsyncSession]) -> dict[Any, tuple[Any, ...]]:
    async with sessions() as s:
        found = (await s.scalars(select(LoanStage).where(LoanStage.as_of == AS_OF))).all()
        return {
            row.loan_id: (
                row.institution_id,
                row.stage,
                row.reason,
                row.days_past_due,
                row.pd_origination,
                row.pd_12m,
                row.pd_lifetime,
                row.lgd,
                row.ead,
                row.ecl,
            )
            for row in found
        }


def _figures(found: Staging) -> tuple[int, dict[int, int], Decimal]:
    return found.loans, dict(found.stages), found.ecl


async def test_staging_in_sql_matches_the_rules_in_python_to_the_cent(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given a varied book
    async with sessions() as s, s.begin():
        await _book(s, random.Random(20))

    # when it is staged by the rules in Python (the oracle), then by the default path
    oracle = await stage_book(sessions, as_of=AS_OF, in_sql=False)
    expected = await _rows(sessions)
    async with sessions() as s, s.begin():
        await s.execute(delete(LoanStage).where(LoanStage.as_of == AS_OF))
    found = await stage_book(sessions, as_of=AS_OF)
    got = await _rows(sessions)

    # then every loan's row and the figures per stage are the same, loan by loan
    assert len(expected) == LOANS
    assert {r[1] for r in expected.values()} == {1, 2, 3}
    assert {r[2] for r in expected.values()} >= {
        "current",
        "dpd_30",
        "dpd_90",
        "pd_increase",
        "forborne",
        "accelerated",
    }
    for loan_id, row in expected.items():
        assert got[loan_id] == row, loan_id
    assert got.keys() == expected.keys()
    assert _figures(found) == _figures(oracle)
