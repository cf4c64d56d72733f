"""Amending a signed loan contract through GraphQL: proposed by the institution, signed
by the borrower, every version readable; refusals and the roles that may act."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.applications.service import contract_for
from domain.contracts.models import ContractVersion
from domain.identity.models import Institution, Role
from domain.ledger import service as ledger
from domain.ledger.chart import AccountCode
from domain.lending.models import Installment, Loan
from domain.lending.schedule import add_months
from domain.products.models import Product
from domain.settings import Settings
from kernel.base import utcnow
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient

PROPOSE = """
mutation($input: ProposeLoanAmendmentInput!) {
  proposeLoanAmendment(input: $input) {
    __typename
    ... on LoanAmendment {
      id status kinds effectiveOn annualRate extraMonths holidayMonths holidayInterest
      topUpAmount forborne termsHash contractVersion
      schedule { sequence dueOn principalDue interestDue feeDue }
    }
    ... on InvalidInput { code message field }
    ... on UserError { code message }
  }
}
"""
ACCEPT = """
mutation($input: AcceptLoanAmendmentInput!) {
  acceptLoanAmendment(input: $input) {
    __typename
    ... on LoanAmendmentAccepted {
      amendment { status acceptedAt }
      contractVersion { number termsHash effectiveOn }
      loan {
        annualRate principal outstandingPrincipal termMonths maturityOn
        schedule { sequence dueOn principalDue interestDue feeDue principalPaid }
      }
    }
    ... on UserError { code message }
  }
}
"""
VERSIONS = """
query($id: ID!) {
  node(id: $id) {
    ... on Loan {
      amendments { status termsHash }
      contractVersions {
        number effectiveOn termsHash signedAt
        schedule { sequence dueOn principalDue }
        amendment { id status }
      }
    }
  }
}
"""


@dataclass
class World:
    loan_id: str
    loan: Loan
    lines: list[Installment]
    owner: GraphQLClient
    officer: GraphQLClient
    risk: GraphQLClient
    admin: GraphQLClient
    stranger: GraphQLClient  # a loan officer of another institution
    other_owner: GraphQLClient
    contract_hash: str


@pytest.fixture
async def world(gql: GraphQLClient, db: AsyncEngine, settings: Settings) -> World:
    today = utcnow().date()
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        other = await f.institution(s)
        product = await f.product(s, institution_id=bank.id)
        owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
        enterprise = await f.enterprise(s, owner_id=owner.id)
        application = await f.application(s, enterprise_id=enterprise.id, product_row=product)
        application.approved_rate = Decimal("0.060000")
        contract = await _signed_contract(s, application, product, bank)
        loan = await f.booked_loan(
            s, application_row=application, disbursed_on=add_months(today, -1) - timedelta(days=3)
        )
        people = [
            owner,
            await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)]),
            await f.user(s, roles=[(Role.RISK_OFFICER, bank.id)]),
            await f.user(s, roles=[(Role.INSTITUTION_ADMIN, bank.id)]),
            await f.user(s, roles=[(Role.LOAN_OFFICER, other.id)]),
            await f.user(s, roles=[(Role.SME_OWNER, None)]),
        ]
        tokens = [await f.access_token(s, settings, u) for u in people]
        lines = list(
            (
                await s.scalars(
                    select(Installment)
                    .where(Installment.loan_id == loan.id)
                    .order_by(Installment.sequence)
                )
            ).all()
        )
    return World(
        f.global_id("Loan", loan.id),
        loan,
        lines,
        *(gql.as_(t) for t in tokens),
        contract_hash=contract,
    )


async def _signed_contract(s: Any, application: Any, product: Product, bank: Institution) -> str:
    row = contract_for(application, product, bank, generated_at=f.FIXED_NOW)
    row.accepted_at = f.FIXED_NOW
    s.add(row)
    await s.flush()
    return row.terms_hash


async def act(client: GraphQLClient, document: str, **values: Any) -> dict[str, Any]:
    data = await client.data(document, {"input": values})
    result: dict[str, Any] = next(iter(data.values()))
    return result


def _next_due(world: World) -> date:
    today = utcnow().date()
    return next(line.due_on for line in world.lines if line.due_on >= today)


async def test_a_restructuring_is_proposed_signed_and_booked(world: World, db: AsyncEngine) -> None:
    # given: a 12-month loan of 200,000.00 at 6 %, its first instalment overdue
    effective = _next_due(world)

    # when: the officer offers a rate cut, 6 more months and a 2-month holiday with its
    # interest capitalised; the borrower signs the terms' hash
    proposed = await act(
        world.officer,
        PROPOSE,
        loanId=world.loan_id,
        effectiveOn=effective.isoformat(),
        reason="sales fell after the flood; restructure to keep the business going",
        annualRate="0.045",
        extraMonths=6,
        paymentHoliday={"months": 2, "interest": "CAPITALISED"},
        forborne=True,
    )
    signed = await act(
        world.owner, ACCEPT, amendmentId=proposed["id"], termsHash=proposed["termsHash"]
    )
    versions = (await world.officer.data(VERSIONS, {"id": world.loan_id}))["node"]

    # then: the terms list the whole new schedule; signing books exactly that schedule
    assert proposed["__typename"] == "LoanAmendment", proposed
    assert proposed["status"] == "PROPOSED"
    assert proposed["kinds"] == ["rate_change", "term_extension", "payment_holiday"]
    assert proposed["forborne"] is True
    assert proposed["contractVersion"] == 2
    assert signed["__typename"] == "LoanAmendmentAccepted", signed
    loan = signed["loan"]
    booked = [
        (x["sequence"], x["dueOn"], x["principalDue"], x["interestDue"], x["feeDue"])
        for x in loan["schedule"]
    ]
    offered = [
        (x["sequence"], x["dueOn"], x["principalDue"], x["interestDue"], x["feeDue"])
        for x in proposed["schedule"]
    ]
    assert booked == offered
    assert loan["annualRate"] == "0.045000"
    assert loan["termMonths"] == 12 + 6 + 2
    assert loan["schedule"][0]["dueOn"] == world.lines[0].due_on.isoformat()  # arrears kept
    assert [x["principalDue"] for x in loan["schedule"][1:3]] == ["0.00", "0.00"]
    capitalised = Decimal(loan["principal"]) - Decimal("200000.00")
    assert capitalised > 0
    assert sum(Decimal(x["principalDue"]) for x in loan["schedule"]) == Decimal(loan["principal"])
    assert Decimal(loan["outstandingPrincipal"]) == Decimal(loan["principal"])
    assert signed["contractVersion"]["number"] == 2
    assert signed["contractVersion"]["termsHash"] == proposed["termsHash"]

    # then: both versions stay readable, the original as signed at origination
    first, second = versions["contractVersions"]
    assert (first["number"], first["termsHash"], first["amendment"]) == (
        1,
        world.contract_hash,
        None,
    )
    assert len(first["schedule"]) == 12
    assert second["amendment"] == {"id": proposed["id"], "status": "ACCEPTED"}
    assert second["effectiveOn"] == effective.isoformat()
    assert versions["amendments"] == [{"status": "ACCEPTED", "termsHash": proposed["termsHash"]}]
    async with session_factory(db)() as s:
        stored = await s.scalar(
            select(func.count())
            .select_from(ContractVersion)
            .where(ContractVersion.loan_id == world.loan.id)
        )
    assert stored == 2
    # the capitalised interest is loans receivable, unearned (suspense) until it accrues
    async with session_factory(db)() as s:
        books = (await ledger.loan_balances(s, [world.loan.id]))[world.loan.id]
    assert books == {
        AccountCode.LOANS_RECEIVABLE: capitalised,
        AccountCode.SUSPENSE: -capitalised,
    }


async def test_a_payment_after_the_proposal_makes_its_terms_stale(world: World) -> None:
    # given: a term extension offered
    proposed = await act(
        world.risk,
        PROPOSE,
        loanId=world.loan_id,
        effectiveOn=_next_due(world).isoformat(),
        reason="lower the instalment for the slow season",
        extraMonths=12,
    )
    # when: a payment lands before the borrower signs
    paid = await world.officer.data(
        """mutation($input: RecordRepaymentInput!) {
             recordRepayment(input: $input) { __typename }
           }""",
        {"input": {"loanId": world.loan_id, "idempotencyKey": "k1", "amount": "100.00"}},
    )
    signed = await act(
        world.owner, ACCEPT, amendmentId=proposed["id"], termsHash=proposed["termsHash"]
    )
    # then: the terms were computed from a schedule that moved: refused, nothing booked
    assert paid["recordRepayment"]["__typename"] == "RepaymentRecorded"
    assert signed["__typename"] == "TermsChanged"
    assert signed["code"] == "TERMS_CHANGED"
    versions = (await world.owner.data(VERSIONS, {"id": world.loan_id}))["node"]
    assert [v["number"] for v in versions["contractVersions"]] == [1]


async def test_a_wrong_hash_and_a_newer_proposal_are_refused(world: World, db: AsyncEngine) -> None:
    effective = _next_due(world).isoformat()
    first = await act(
        world.officer,
        PROPOSE,
        loanId=world.loan_id,
        effectiveOn=effective,
        reason="borrower asked for a top-up",
        topUpAmount="50000.00",
    )
    second = await act(
        world.admin,
        PROPOSE,
        loanId=world.loan_id,
        effectiveOn=effective,
        reason="borrower asked for a smaller top-up",
        topUpAmount="20000.00",
    )
    wrong = await act(world.owner, ACCEPT, amendmentId=second["id"], termsHash="0" * 64)
    replaced = await act(world.owner, ACCEPT, amendmentId=first["id"], termsHash=first["termsHash"])
    signed = await act(world.owner, ACCEPT, amendmentId=second["id"], termsHash=second["termsHash"])
    assert wrong["code"] == "TERMS_CHANGED"
    assert replaced["__typename"] == "InvalidInput"
    assert "withdrawn" in replaced["message"]
    assert signed["__typename"] == "LoanAmendmentAccepted"
    assert signed["loan"]["principal"] == "220000.00"
    # the top-up is paid out in the signing's transaction: loans receivable against cash
    async with session_factory(db)() as s:
        books = (await ledger.loan_balances(s, [world.loan.id]))[world.loan.id]
    assert books == {
        AccountCode.LOANS_RECEIVABLE: Decimal("20000.00"),
        AccountCode.CASH: Decimal("-20000.00"),
    }


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({}, "input.annualRate"),
        ({"annualRate": "1.5"}, "input.annualRate"),
        ({"extraMonths": 3, "effectiveOn": "2020-01-01"}, "input.effectiveOn"),
        ({"extraMonths": 3, "reason": "short"}, "input.reason"),
        ({"newInstalment": "1.00"}, "input.newInstalment"),
    ],
)
async def test_bad_proposals_name_their_field(
    world: World, values: dict[str, Any], field: str
) -> None:
    given = {
        "loanId": world.loan_id,
        "effectiveOn": _next_due(world).isoformat(),
        "reason": "a reason long enough",
        **values,
    }
    refused = await act(world.officer, PROPOSE, **given)
    assert refused["__typename"] == "InvalidInput", refused
    assert refused["field"] == field


async def test_who_may_propose_and_sign(world: World) -> None:
    # given: a valid proposal
    values = {
        "loanId": world.loan_id,
        "effectiveOn": _next_due(world).isoformat(),
        "reason": "a reason long enough",
        "extraMonths": 3,
    }
    proposed = await act(world.officer, PROPOSE, **values)
    accept = {"input": {"amendmentId": proposed["id"], "termsHash": proposed["termsHash"]}}

    # when: the wrong people try
    by_owner = await world.owner.post(PROPOSE, {"input": values})
    by_stranger = await world.stranger.post(PROPOSE, {"input": values})
    by_officer = await world.officer.post(ACCEPT, accept)
    by_other_owner = await world.other_owner.post(ACCEPT, accept)
    seen_by_stranger = await world.stranger.post(
        "query($id: ID!) { node(id: $id) { id } }", {"id": proposed["id"]}
    )

    # then: forbidden by policy, or not found outside the viewer's book
    assert by_owner["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert by_stranger["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert by_officer["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert by_other_owner["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert seen_by_stranger["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_an_unamended_loan_shows_its_signed_contract_as_version_one(
    world: World,
) -> None:
    versions = (await world.owner.data(VERSIONS, {"id": world.loan_id}))["node"]
    (only,) = versions["contractVersions"]
    assert only["number"] == 1
    assert only["termsHash"] == world.contract_hash
    assert only["signedAt"] is not None
    assert versions["amendments"] == []
