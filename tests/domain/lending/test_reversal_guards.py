"""A payment stands once something was built on it, and a retry of a reversed settlement
is refused by its key, on both databases (the API's legal costs and sale: in
tests/api/test_workout_cases.py); legal costs keep the time they were charged."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.contracts import termination
from domain.lending import repository as lending_repo
from domain.lending import reversal
from domain.lending import service as lending
from domain.lending.models import LoanStatus
from domain.lending.service import line_of
from domain.workout import cases, claims
from domain.workout.models import WorkoutStrategy
from kernel.base import utcnow
from kernel.errors import InvalidInput
from tests.domain.ledger.books import Booked, disbursed_loan


async def test_a_payment_stands_once_the_loan_was_accelerated_on_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given: a payment, then the whole balance called due
    today = utcnow().date()
    async with sessions() as s, s.begin():
        booked = await disbursed_loan(s, on=today - timedelta(days=70))
        await lending.record_repayment(
            s,
            booked.officer,
            booked.loan_id,
            idempotency_key="k1",
            amount=Decimal("100.00"),
            paid_on=today - timedelta(days=10),
        )
    async with sessions() as s, s.begin():
        await termination.accelerate(
            s, booked.officer, booked.loan_id, reason="two instalments missed, no answer"
        )

    # when: the payment is reversed; then: refused at its key, the acceleration stands
    with pytest.raises(InvalidInput, match="the loan was accelerated") as refused:
        async with sessions() as s, s.begin():
            await reversal.reverse_repayment(
                s, booked.officer, booked.loan_id, idempotency_key="k1", reason="it bounced"
            )
    assert refused.value.field == "idempotencyKey"


async def test_a_reversed_settlement_retried_under_its_key_is_refused(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given: a loan settled early at its payoff, and that payment reversed
    today = utcnow().date()
    async with sessions() as s, s.begin():
        booked = await disbursed_loan(s, on=today - timedelta(days=40))
        rows = await lending_repo.installments_of(s, booked.loan_id)
        payoff = termination.quote([line_of(r) for r in rows], as_of=today).total
        settled = await termination.settle_early(
            s, booked.officer, booked.loan_id, quoted_amount=payoff, idempotency_key="payoff"
        )
    assert settled.loan.status is LoanStatus.CLOSED
    async with sessions() as s, s.begin():
        _, loan = await reversal.reverse_repayment(
            s, booked.officer, booked.loan_id, idempotency_key="payoff", reason="it bounced"
        )
    assert loan.status is LoanStatus.ACTIVE

    # when: the settlement is sent again under the same key, at the same payoff
    with pytest.raises(InvalidInput, match="was reversed") as refused:
        async with sessions() as s, s.begin():
            await termination.settle_early(
                s, booked.officer, booked.loan_id, quoted_amount=payoff, idempotency_key="payoff"
            )

    # then: refused at its key (it was an internal error), not a replay of a dead payment
    assert refused.value.field == "idempotencyKey"


async def test_legal_costs_keep_their_time_and_a_payment_before_them_stands(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given: a payment, legal costs charged to the loan, then a second payment
    today = utcnow().date()
    async with sessions() as s, s.begin():
        booked = await disbursed_loan(s, on=today - timedelta(days=70))
        await pay(s, booked, "k1", paid_on=today - timedelta(days=10))
    async with sessions() as s, s.begin():
        case = await cases.open_case(
            s, booked.officer, loan_id=booked.loan_id, strategy=WorkoutStrategy.LEGAL_ACTION
        )
        case = await claims.record_legal_action(
            s,
            booked.officer,
            case_id=case.id,
            filed_on=today,
            court="Pudong New Area People's Court",
            reference="(2026) Hu 0115 Min Chu 78",
            costs=Decimal("350.00"),
            expected_version=case.version,
        )
        charged_at = case.legal_costs_charged_at
    async with sessions() as s, s.begin():
        await pay(s, booked, "k2", paid_on=today)

    # when: the later payment is reversed, then the earlier one
    async with sessions() as s, s.begin():
        await reversal.reverse_repayment(
            s, booked.officer, booked.loan_id, idempotency_key="k2", reason="it bounced"
        )
    with pytest.raises(InvalidInput, match="legal costs were charged") as refused:
        async with sessions() as s, s.begin():
            await reversal.reverse_repayment(
                s, booked.officer, booked.loan_id, idempotency_key="k1", reason="it bounced"
            )

    # then: the charge has a time of its own; the payment after it was undone, the one
    # the costs were allocated against stands
    assert charged_at is not None
    assert refused.value.field == "idempotencyKey"


async def pay(s: AsyncSession, booked: Booked, key: str, *, paid_on: date) -> None:
    await lending.record_repayment(
        s,
        booked.officer,
        booked.loan_id,
        idempotency_key=key,
        amount=Decimal("100.00"),
        paid_on=paid_on,
    )
