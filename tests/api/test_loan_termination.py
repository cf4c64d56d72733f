"""Ending a contract early through GraphQL: cancellation before the payout, early
settlement at the quoted payoff, acceleration on default; who may do each."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.applications.models import ApplicationStatus
from domain.applications.service import contract_for
from domain.audit.models import AuditEntry
from domain.contracts.models import LoanTermination
from domain.identity.models import Role
from domain.lending.schedule import add_months
from domain.settings import Settings
from kernel.base import utcnow
from kernel.db import session_factory
from privacy.masking import mask
from tests import factories as f
from tests.api.conftest import GraphQLClient

CANCEL = """
mutation($input: CancelContractInput!) {
  cancelContract(input: $input) {
    __typename
    ... on ContractCancelled { application { status } termination { kind reason } }
    ... on InvalidTransition { currentStatus targetStatus }
    ... on UserError { code message }
  }
}
"""
DISBURSE = """
mutation($input: DisburseLoanInput!) {
  disburseLoan(input: $input) { __typename ... on UserError { code message } }
}
"""
QUOTE = """
query($id: ID!, $asOf: Date) {
  node(id: $id) {
    ... on Loan {
      status payoffAmount(asOf: $asOf)
      payoffQuote(asOf: $asOf) { asOf principal interestDue fees totalAmount }
      terminations { kind terminatedOn amount }
      schedule { sequence dueOn principalDue interestDue principalPaid settledOn }
      daysPastDue maturityOn
    }
  }
}
"""
SETTLE = """
mutation($input: SettleLoanInput!) {
  settleLoan(input: $input) {
    __typename
    ... on LoanSettled {
      loan { status outstandingPrincipal }
      repayment { amount principalPart interestPart }
      termination { kind amount terminatedOn }
    }
    ... on InvalidInput { code message field }
    ... on UserError { code message }
  }
}
"""
ACCELERATE = """
mutation($input: AccelerateLoanInput!) {
  accelerateLoan(input: $input) {
    __typename
    ... on LoanAccelerated { loan { maturityOn termMonths } termination { kind amount } }
    ... on InvalidInput { code message field }
    ... on UserError { code message }
  }
}
"""


@dataclass
class World:
    owner: GraphQLClient
    officer: GraphQLClient
    risk: GraphQLClient
    stranger: GraphQLClient
    signed_id: str  # an application with a signed contract, not paid out
    approved_id: str  # approved, not signed
    in_arrears: str  # a loan with one instalment overdue
    current: str  # a loan paid out today: nothing due yet


@pytest.fixture
async def world(gql: GraphQLClient, db: AsyncEngine, settings: Settings) -> World:
    today = utcnow().date()
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        other = await f.institution(s)
        product = await f.product(s, institution_id=bank.id)
        owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
        enterprise = await f.enterprise(s, owner_id=owner.id)

        async def application(status: ApplicationStatus) -> Any:
            row = await f.application(s, enterprise_id=enterprise.id, product_row=product)
            row.status = status
            row.approved_rate = Decimal("0.060000")
            contract = contract_for(row, product, bank, generated_at=f.FIXED_NOW)
            if status is ApplicationStatus.CONTRACT_SIGNED:
                contract.accepted_at = f.FIXED_NOW
                contract.accepted_by = owner.id
            s.add(contract)
            await s.flush()
            return row

        signed = await application(ApplicationStatus.CONTRACT_SIGNED)
        approved = await application(ApplicationStatus.APPROVED)
        late = await f.booked_loan(
            s,
            application_row=await application(ApplicationStatus.DISBURSED),
            disbursed_on=add_months(today, -1) - timedelta(days=3),
        )
        fresh = await f.booked_loan(
            s, application_row=await application(ApplicationStatus.DISBURSED), disbursed_on=today
        )
        people = [
            owner,
            await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)]),
            await f.user(s, roles=[(Role.RISK_OFFICER, bank.id)]),
            await f.user(s, roles=[(Role.LOAN_OFFICER, other.id)]),
        ]
        tokens = [await f.access_token(s, settings, u) for u in people]
    return World(
        *(gql.as_(t) for t in tokens),
        signed_id=f.global_id("Application", signed.id),
        approved_id=f.global_id("Application", approved.id),
        in_arrears=f.global_id("Loan", late.id),
        current=f.global_id("Loan", fresh.id),
    )


async def act(client: GraphQLClient, document: str, **values: Any) -> dict[str, Any]:
    data = await client.data(document, {"input": values})
    result: dict[str, Any] = next(iter(data.values()))
    return result


async def test_a_signed_contract_is_cancelled_before_the_payout(world: World) -> None:
    # when: the borrower cancels; then the officer tries to pay out
    cancelled = await act(
        world.owner, CANCEL, applicationId=world.signed_id, reason="we found cheaper funding"
    )
    paid = await act(world.officer, DISBURSE, applicationId=world.signed_id)
    unsigned = await act(
        world.officer, CANCEL, applicationId=world.approved_id, reason="the offer lapsed"
    )

    # then: withdrawn, with the cancellation on record; nothing is paid out
    assert cancelled["__typename"] == "ContractCancelled", cancelled
    assert cancelled["application"]["status"] == "WITHDRAWN"
    assert cancelled["termination"] == {
        "kind": "CANCELLATION",
        "reason": "we found cheaper funding",
    }
    assert paid["code"] == "INVALID_TRANSITION"
    # an unsigned approval is withdrawn by its applicant, not cancelled
    assert unsigned["__typename"] == "InvalidTransition"
    assert unsigned["currentStatus"] == "APPROVED"


async def test_an_early_settlement_takes_the_quoted_payoff_and_closes(world: World) -> None:
    # given: the quote for today - the overdue instalment and all principal
    loan = (await world.owner.data(QUOTE, {"id": world.in_arrears}))["node"]
    payoff = loan["payoffQuote"]
    overdue = loan["schedule"][0]

    # when: a stale amount, then the quoted one
    stale = await act(
        world.officer,
        SETTLE,
        loanId=world.in_arrears,
        quotedAmount=str(Decimal(payoff["totalAmount"]) - Decimal("0.01")),
        idempotencyKey="settle-1",
    )
    settled = await act(
        world.officer,
        SETTLE,
        loanId=world.in_arrears,
        quotedAmount=payoff["totalAmount"],
        idempotencyKey="settle-2",
    )
    after = (await world.owner.data(QUOTE, {"id": world.in_arrears}))["node"]

    # then: the quote adds up to the payoff; the loan closes on it, recorded as settled
    assert payoff["principal"] == "200000.00"
    assert payoff["interestDue"] == overdue["interestDue"]
    assert payoff["fees"] == "0.00"
    assert payoff["totalAmount"] == loan["payoffAmount"]
    assert stale["__typename"] == "InvalidInput"
    assert stale["field"] == "input.quotedAmount"
    assert settled["__typename"] == "LoanSettled", settled
    assert settled["loan"] == {"status": "CLOSED", "outstandingPrincipal": "0.00"}
    assert settled["repayment"]["amount"] == payoff["totalAmount"]
    assert settled["termination"]["kind"] == "EARLY_SETTLEMENT"
    assert after["terminations"] == [
        {
            "kind": "EARLY_SETTLEMENT",
            "terminatedOn": payoff["asOf"],
            "amount": payoff["totalAmount"],
        }
    ]


async def test_acceleration_calls_the_whole_balance_due(world: World) -> None:
    # given: a loan with its first instalment overdue
    before = (await world.risk.data(QUOTE, {"id": world.in_arrears}))["node"]
    today = utcnow().date().isoformat()

    # when: the loan officer tries, then the risk officer accelerates
    by_officer = await world.officer.post(
        ACCELERATE, {"input": {"loanId": world.in_arrears, "reason": "no payment, no answer"}}
    )
    called = await act(
        world.risk, ACCELERATE, loanId=world.in_arrears, reason="no payment, no answer"
    )
    after = (await world.risk.data(QUOTE, {"id": world.in_arrears}))["node"]

    # then: the overdue instalment stays; the rest is one instalment due today, its
    # principal the whole balance and no interest not yet earned
    assert by_officer["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert called["__typename"] == "LoanAccelerated", called
    schedule = after["schedule"]
    assert len(schedule) == 2
    assert schedule[0] == before["schedule"][0]
    assert schedule[1]["dueOn"] == today
    assert schedule[1]["interestDue"] == "0.00"
    assert sum(Decimal(x["principalDue"]) for x in schedule) == Decimal("200000.00")
    assert after["maturityOn"] == today
    assert called["loan"]["termMonths"] == 2
    assert called["termination"]["amount"] == after["payoffAmount"]
    assert Decimal(after["payoffAmount"]) < Decimal(before["payoffAmount"]) + Decimal("0.01")


async def test_only_a_loan_in_default_is_accelerated(world: World) -> None:
    refused = await act(world.risk, ACCELERATE, loanId=world.current, reason="looks shaky to me")
    assert refused["__typename"] == "InvalidInput"
    assert refused["field"] == "input.loanId"


async def test_other_institutions_see_nothing_to_end(world: World) -> None:
    settle = await world.stranger.post(
        SETTLE,
        {"input": {"loanId": world.in_arrears, "quotedAmount": "1.00", "idempotencyKey": "x"}},
    )
    cancel = await world.stranger.post(
        CANCEL, {"input": {"applicationId": world.signed_id, "reason": "not mine to cancel"}}
    )
    assert settle["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert cancel["errors"][0]["extensions"]["code"] == "NOT_FOUND"


REASONS = """
query($id: ID!) { node(id: $id) { ... on Loan { terminations { kind reason } } } }
"""


async def test_an_acceleration_s_reason_is_sealed_at_rest_and_masked_for_other_readers(
    world: World, db: AsyncEngine, gql: GraphQLClient, settings: Settings
) -> None:
    # given: an auditor (reads terminations, reveals no personal data)
    reason = "owner Zhang Wei says the shop burned down"
    async with session_factory(db)() as s, s.begin():
        auditor = await f.user(s, roles=[(Role.AUDITOR, None)])
        auditor_token = await f.access_token(s, settings, auditor)

    # when: the risk officer accelerates the loan, and each reads its termination
    called = await act(world.risk, ACCELERATE, loanId=world.in_arrears, reason=reason)
    seen = {
        name: (await client.data(REASONS, {"id": world.in_arrears}))["node"]["terminations"]
        for name, client in (
            ("risk", world.risk),
            ("owner", world.owner),
            ("auditor", gql.as_(auditor_token)),
        )
    }

    # then: the column holds ciphertext only; the borrower and the credit staff read the
    # reason, the auditor its masked hint
    assert called["__typename"] == "LoanAccelerated", called
    async with session_factory(db)() as s:
        stored = (await s.scalars(select(LoanTermination.reason))).one()
        logged = (
            await s.scalars(select(AuditEntry).where(AuditEntry.action == "loan.accelerated"))
        ).one()
    assert stored is not None
    assert stored.startswith("v1.")
    assert "Zhang" not in stored
    assert "Zhang" not in str(logged.detail)
    assert seen["risk"] == seen["owner"] == [{"kind": "ACCELERATION", "reason": reason}]
    assert seen["auditor"] == [{"kind": "ACCELERATION", "reason": mask(reason, "reason")}]
