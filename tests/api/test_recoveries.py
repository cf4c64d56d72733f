"""Recoveries on a written-off loan through GraphQL: recorded once per key, never more
than was lost, refused on a loan still performing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from api.relay import decode_global_id
from domain.identity.models import Role
from domain.ledger import service as ledger
from domain.ledger.chart import AccountCode
from domain.lending.schedule import add_months
from domain.settings import Settings
from kernel.base import utcnow
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient

WRITE_OFF = """
mutation($input: WriteOffLoanInput!) { writeOffLoan(input: $input) { __typename } }
"""
RECOVER = """
mutation($input: RecordRecoveryInput!) {
  recordRecovery(input: $input) {
    __typename
    ... on RecoveryRecorded { replayed recovery { amount receivedOn } loan { status } }
    ... on Overpayment { code payoffAmount }
    ... on InvalidInput { code message field }
    ... on UserError { code message }
  }
}
"""
REPAY = """
mutation($input: RecordRepaymentInput!) {
  recordRepayment(input: $input) { __typename ... on UserError { code message } }
}
"""
LOAN = """
query($id: ID!) {
  node(id: $id) { ... on Loan { status payoffAmount recoveries { amount receivedOn } } }
}
"""


async def _world(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> tuple[str, str, dict[str, GraphQLClient]]:
    today = utcnow().date()
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        other = await f.institution(s)
        product = await f.product(s, institution_id=bank.id)
        owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
        enterprise = await f.enterprise(s, owner_id=owner.id)
        loans = []
        for _ in range(2):
            application = await f.application(s, enterprise_id=enterprise.id, product_row=product)
            loans.append(
                await f.booked_loan(
                    s,
                    application_row=application,
                    disbursed_on=add_months(today, -2) - timedelta(days=3),
                )
            )
        people = {
            "owner": owner,
            "officer": await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)]),
            "risk": await f.user(s, roles=[(Role.RISK_OFFICER, bank.id)]),
            "stranger": await f.user(s, roles=[(Role.LOAN_OFFICER, other.id)]),
        }
        clients = {k: gql.as_(await f.access_token(s, settings, u)) for k, u in people.items()}
    lost, performing = (f.global_id("Loan", loan.id) for loan in loans)
    return lost, performing, clients


async def act(client: GraphQLClient, document: str, **values: Any) -> dict[str, Any]:
    data = await client.data(document, {"input": values})
    result: dict[str, Any] = next(iter(data.values()))
    return result


async def test_recoveries_after_a_write_off(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: a loan two instalments behind, written off today for all it owes
    loan_id, _, people = await _world(gql, db, settings)
    owed = Decimal((await people["risk"].data(LOAN, {"id": loan_id}))["node"]["payoffAmount"])
    written = await act(
        people["risk"], WRITE_OFF, loanId=loan_id, reason="the business closed in March"
    )

    # when: a repayment (refused as before), two recoveries, a retry, then too much
    repaid = await act(people["officer"], REPAY, loanId=loan_id, idempotencyKey="r", amount="10")
    first = await act(people["officer"], RECOVER, loanId=loan_id, idempotencyKey="a", amount="5000")
    again = await act(people["officer"], RECOVER, loanId=loan_id, idempotencyKey="a", amount="5000")
    second = await act(
        people["officer"], RECOVER, loanId=loan_id, idempotencyKey="b", amount="1.50"
    )
    too_much = await act(
        people["officer"],
        RECOVER,
        loanId=loan_id,
        idempotencyKey="c",
        amount=str(owed - Decimal("5001.49")),
    )
    seen = (await people["owner"].data(LOAN, {"id": loan_id}))["node"]

    # then: recorded once each, never beyond what was lost; the loan stays written off
    assert written["__typename"] == "Loan"
    assert repaid["code"] == "BAD_USER_INPUT"
    assert first["__typename"] == "RecoveryRecorded"
    assert first["replayed"] is False
    assert again["replayed"] is True
    assert again["recovery"] == first["recovery"]
    assert first["loan"]["status"] == "WRITTEN_OFF"
    assert second["recovery"]["amount"] == "1.50"
    assert too_much["__typename"] == "Overpayment"
    assert Decimal(too_much["payoffAmount"]) == owed - Decimal("5001.50")
    assert [r["amount"] for r in seen["recoveries"]] == ["5000.00", "1.50"]
    # booked once each in the recovery's transaction: cash in, recoveries income
    pk = decode_global_id(loan_id, expected="Loan")[1]
    async with session_factory(db)() as s:
        lines = (await ledger.loan_balances(s, [pk]))[pk]
    assert lines[AccountCode.RECOVERIES] == Decimal("-5001.50")


async def test_a_recovery_needs_a_written_off_loan_of_ones_own_book(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    _, performing, people = await _world(gql, db, settings)
    refused = await act(
        people["officer"], RECOVER, loanId=performing, idempotencyKey="a", amount="10"
    )
    by_owner = await people["owner"].post(
        RECOVER, {"input": {"loanId": performing, "idempotencyKey": "a", "amount": "10"}}
    )
    by_stranger = await people["stranger"].post(
        RECOVER, {"input": {"loanId": performing, "idempotencyKey": "a", "amount": "10"}}
    )
    assert refused["__typename"] == "InvalidInput"
    assert refused["field"] == "input.loanId"
    assert by_owner["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert by_stranger["errors"][0]["extensions"]["code"] == "NOT_FOUND"
