"""Repayments on a loan in arrears, ageing, and writing off."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.identity.models import Role
from domain.lending.models import DelinquencyBucket, Installment, Loan, LoanStatus
from domain.lending.schedule import add_months
from domain.lending.service import age_loans
from domain.settings import Settings
from kernel.base import utcnow
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient

REPAY = """
mutation($input: RecordRepaymentInput!) {
  recordRepayment(input: $input) {
    __typename
    ... on RepaymentRecorded {
      repayment { amount feePart interestPart principalPart prepaidPrincipal }
      loan { status daysPastDue delinquencyBucket outstandingPrincipal }
    }
    ... on UserError { code message }
  }
}
"""
WRITE_OFF = """
mutation($input: WriteOffLoanInput!) {
  writeOffLoan(input: $input) {
    __typename
    ... on Loan { status writtenOffOn writeOffReason }
    ... on UserError { code message }
  }
}
"""
VERSION = "query($id: ID!) { node(id: $id) { ... on Loan { version } } }"
LOAN = """
query($id: ID!) {
  node(id: $id) {
    ... on Loan {
      status daysPastDue delinquencyBucket agedOn payoffAmount
      schedule {
        sequence dueOn principalDue interestDue feeDue principalPaid interestPaid feePaid settledOn
      }
      repayments { amount paidOn }
    }
  }
}
"""


async def _loan_in_arrears(
    db: AsyncEngine, settings: Settings, *, months_ago: int
) -> tuple[Loan, dict[str, GraphQLClient], list[Installment]]:
    today = utcnow().date()
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        product = await f.product(s, institution_id=bank.id)
        owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
        enterprise = await f.enterprise(s, owner_id=owner.id)
        application = await f.application(s, enterprise_id=enterprise.id, product_row=product)
        loan = await f.booked_loan(
            s,
            application_row=application,
            disbursed_on=add_months(today, -months_ago) - timedelta(days=3),
            fee="500.00",
        )
        people = {
            "officer": await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)]),
            "admin": await f.user(s, roles=[(Role.INSTITUTION_ADMIN, bank.id)]),
            "risk": await f.user(s, roles=[(Role.RISK_OFFICER, bank.id)]),
            "owner": owner,
        }
        tokens = {k: await f.access_token(s, settings, u) for k, u in people.items()}
        lines = list(
            (
                await s.scalars(
                    select(Installment)
                    .where(Installment.loan_id == loan.id)
                    .order_by(Installment.sequence)
                )
            ).all()
        )
    return loan, tokens, lines  # type: ignore[return-value]


async def test_a_late_payment_settles_the_oldest_instalment_first(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: two instalments overdue (the first with the 500.00 fee)
    loan, tokens, lines = await _loan_in_arrears(db, settings, months_ago=2)
    officer = gql.as_(tokens["officer"])
    first, second = lines[0], lines[1]
    owed_first = first.fee_due + first.interest_due + first.principal_due
    loan_id = f.global_id("Loan", loan.id)

    # when: the first instalment in full and part of the second's interest
    amount = owed_first + Decimal("10.00")
    body = await officer.data(
        REPAY, {"input": {"loanId": loan_id, "idempotencyKey": "late-1", "amount": str(amount)}}
    )
    after = (await officer.data(LOAN, {"id": loan_id}))["node"]

    # then: fee, then interest, then principal, oldest first
    result = body["recordRepayment"]
    assert result["repayment"] == {
        "amount": str(amount),
        "feePart": "500.00",
        "interestPart": str(first.interest_due + Decimal("10.00")),
        "principalPart": str(first.principal_due),
        "prepaidPrincipal": "0.00",
    }
    assert result["loan"]["status"] == "ACTIVE"
    assert result["loan"]["daysPastDue"] == (utcnow().date() - second.due_on).days
    assert result["loan"]["delinquencyBucket"] == "DPD_1_30"
    assert result["loan"]["outstandingPrincipal"] == str(loan.principal - first.principal_due)
    settled, partly = after["schedule"][0], after["schedule"][1]
    assert settled["settledOn"] == utcnow().date().isoformat()
    assert partly["interestPaid"] == "10.00"
    assert partly["principalPaid"] == "0.00"
    assert partly["settledOn"] is None


async def test_ageing_moves_loans_into_their_buckets(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: a loan four months behind, last aged the day it was paid out
    loan, tokens, lines = await _loan_in_arrears(db, settings, months_ago=4)
    today = utcnow().date()

    # when
    async with session_factory(db)() as s, s.begin():
        first = await age_loans(s, as_of=today)
    async with session_factory(db)() as s, s.begin():
        again = await age_loans(s, as_of=today)
    after = (await gql.as_(tokens["owner"]).data(LOAN, {"id": f.global_id("Loan", loan.id)}))[
        "node"
    ]

    # then: days past due count from the oldest unpaid instalment; a rerun changes nothing
    expected = (today - lines[0].due_on).days
    assert expected > 90
    assert after["daysPastDue"] == expected
    assert after["delinquencyBucket"] == "DPD_90_PLUS"
    assert after["agedOn"] == today.isoformat()
    assert (first.loans, first.changed) == (1, 1)
    assert (again.loans, again.changed) == (1, 0)
    assert first.buckets[DelinquencyBucket.DPD_90_PLUS] == 1


async def test_only_a_decision_with_a_reason_writes_a_loan_off(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    loan, tokens, _ = await _loan_in_arrears(db, settings, months_ago=4)
    loan_id = f.global_id("Loan", loan.id)
    admin, officer = gql.as_(tokens["admin"]), gql.as_(tokens["officer"])
    risk = gql.as_(tokens["risk"])
    reason = "Borrower insolvent; court ruling 2026-11-03, no recoverable collateral."

    # when
    by_officer = await officer.post(WRITE_OFF, {"input": {"loanId": loan_id, "reason": reason}})
    no_reason = await admin.data(WRITE_OFF, {"input": {"loanId": loan_id, "reason": "bad"}})
    tomorrow = (utcnow().date() + timedelta(days=1)).isoformat()
    future = await admin.data(
        WRITE_OFF, {"input": {"loanId": loan_id, "reason": reason, "writtenOffOn": tomorrow}}
    )
    written = await risk.data(WRITE_OFF, {"input": {"loanId": loan_id, "reason": reason}})
    twice = await admin.data(WRITE_OFF, {"input": {"loanId": loan_id, "reason": reason}})
    repay = await officer.data(
        REPAY, {"input": {"loanId": loan_id, "idempotencyKey": "k1", "amount": "100.00"}}
    )

    # then
    assert by_officer["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert no_reason["writeOffLoan"]["code"] == "BAD_USER_INPUT"
    assert "writtenOffOn" in future["writeOffLoan"]["message"]
    assert written["writeOffLoan"] == {
        "__typename": "Loan",
        "status": "WRITTEN_OFF",
        "writtenOffOn": utcnow().date().isoformat(),
        "writeOffReason": reason,
    }
    assert twice["writeOffLoan"]["code"] == "BAD_USER_INPUT"
    assert repay["recordRepayment"]["code"] == "BAD_USER_INPUT"
    async with session_factory(db)() as s:
        row = await s.get_one(Loan, loan.id)
    assert row.status is LoanStatus.WRITTEN_OFF


async def test_the_owner_cannot_record_repayments_and_bad_amounts_are_refused(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    loan, tokens, _ = await _loan_in_arrears(db, settings, months_ago=1)
    loan_id = f.global_id("Loan", loan.id)

    def pay(amount: str, **more: Any) -> dict[str, Any]:
        return {"input": {"loanId": loan_id, "idempotencyKey": amount, "amount": amount, **more}}

    # when
    owner = await gql.as_(tokens["owner"]).post(REPAY, pay("100.00"))
    officer = gql.as_(tokens["officer"])
    negative = await officer.data(REPAY, pay("-5.00"))
    fraction = await officer.data(REPAY, pay("1.001"))
    future = await officer.data(
        REPAY, pay("10.00", paidOn=(utcnow().date() + timedelta(days=2)).isoformat())
    )
    await officer.data(REPAY, pay("10.00"))  # brings days past due up to date
    before = (await officer.data(VERSION, {"id": loan_id}))["node"]["version"]
    fee_only = await officer.data(REPAY, pay("11.00"))
    after = (await officer.data(VERSION, {"id": loan_id}))["node"]["version"]
    earlier = await officer.data(
        REPAY, pay("20.00", paidOn=(utcnow().date() - timedelta(days=1)).isoformat())
    )

    # then
    assert owner["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    for refused in (negative, fraction, future, earlier):
        assert refused["recordRepayment"]["code"] == "BAD_USER_INPUT", refused
    assert "not before the latest repayment" in earlier["recordRepayment"]["message"]
    # 11.00 more of the 500.00 fee changes no loan column, yet the loan's version moves:
    # a payment racing it on the same loan collides instead of overwriting it
    assert fee_only["recordRepayment"]["repayment"]["feePart"] == "11.00"
    assert after == before + 1
