"""A loan from the catalog to closed, through GraphQL alone, and the state machine's edges."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.relay import decode_pk
from domain.applications import states
from domain.applications.models import Application, Transition
from domain.audit.models import AuditEntry
from domain.identity.models import OutboxMessage, Role
from domain.lending.models import Repayment
from domain.settings import Settings
from kernel.base import utcnow
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient

APPLICATION = "id status version awaitingSecondApproval approvedRate appealReason"
REFUSAL = (
    "... on UserError { code message } ... on InvalidTransition { currentStatus targetStatus }"
)

SUBMIT = f"""
mutation($input: SubmitApplicationInput!) {{
  submitApplication(input: $input) {{
    __typename
    ... on Application {{ {APPLICATION} }}
    ... on ConsentRequired {{ purpose institutionId }}
    ... on NotEligible {{ reasons }}
    {REFUSAL}
  }}
}}
"""
GRANT = """
mutation($input: GrantConsentInput!) { grantConsent(input: $input) { __typename } }
"""
START = f"""
mutation($input: ApplicationActionInput!) {{
  startApplicationReview(input: $input) {{
    __typename ... on Application {{ {APPLICATION} }} {REFUSAL}
  }}
}}
"""
ASK = f"""
mutation($input: RequestApplicationInformationInput!) {{
  requestApplicationInformation(input: $input) {{
    __typename ... on Application {{ {APPLICATION} }} {REFUSAL}
  }}
}}
"""
ANSWER = f"""
mutation($input: ProvideApplicationInformationInput!) {{
  provideApplicationInformation(input: $input) {{
    __typename ... on Application {{ {APPLICATION} }} {REFUSAL}
  }}
}}
"""
DECIDE = f"""
mutation($input: DecideApplicationInput!) {{
  decideApplication(input: $input) {{
    __typename
    ... on Application {{ {APPLICATION} contract {{ termsHash terms }} }}
    ... on InvalidTransition {{ currentStatus targetStatus }}
    {REFUSAL}
  }}
}}
"""
APPEAL = f"""
mutation($input: AppealDecisionInput!) {{
  appealDecision(input: $input) {{
    __typename ... on Application {{ {APPLICATION} }} {REFUSAL}
  }}
}}
"""
WITHDRAW = f"""
mutation($input: WithdrawApplicationInput!) {{
  withdrawApplication(input: $input) {{
    __typename ... on Application {{ {APPLICATION} }} {REFUSAL}
  }}
}}
"""
SIGN = f"""
mutation($input: SignContractInput!) {{
  signContract(input: $input) {{
    __typename
    ... on ContractSigned {{ application {{ {APPLICATION} }} contract {{ acceptedAt }} }}
    {REFUSAL}
  }}
}}
"""
DISBURSE = f"""
mutation($input: DisburseLoanInput!) {{
  disburseLoan(input: $input) {{
    __typename
    ... on LoanDisbursed {{
      application {{ status }}
      loan {{
        id status principal outstandingPrincipal disbursedOn maturityOn
        schedule {{ sequence dueOn principalDue interestDue feeDue }}
      }}
    }}
    {REFUSAL}
  }}
}}
"""
REPAY = """
mutation($input: RecordRepaymentInput!) {
  recordRepayment(input: $input) {
    __typename
    ... on RepaymentRecorded {
      replayed
      repayment { amount principalPart interestPart feePart prepaidPrincipal }
      loan { status outstandingPrincipal closedOn daysPastDue payoffAmount }
    }
    ... on Overpayment { payoffAmount }
    ... on UserError { code message }
  }
}
"""
TIMELINE = """
query($id: ID!) {
  node(id: $id) {
    ... on Application {
      status
      timeline { fromStatus toStatus note }
      decisions { outcome reasons onAppeal awaitsSecond annualRate }
    }
  }
}
"""

VERSION = "query($id: ID!) { node(id: $id) { ... on Application { version } } }"


@dataclass
class World:
    owner: GraphQLClient
    officer: GraphQLClient
    second: GraphQLClient
    stranger: GraphQLClient  # a loan officer of another institution
    admin: GraphQLClient
    enterprise_id: str
    product_id: str
    institution_id: str


@pytest.fixture
async def world(gql: GraphQLClient, db: AsyncEngine, settings: Settings) -> World:
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)  # four eyes above 500,000.00
        other = await f.institution(s)
        product = await f.product(s, institution_id=bank.id, max_amount="2000000.00")
        owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
        enterprise = await f.enterprise(s, owner_id=owner.id)
        officer = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        second = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        stranger = await f.user(s, roles=[(Role.LOAN_OFFICER, other.id)])
        admin = await f.user(s, roles=[(Role.INSTITUTION_ADMIN, bank.id)])
        tokens = [
            await f.access_token(s, settings, u) for u in (owner, officer, second, stranger, admin)
        ]
    return World(
        *(gql.as_(t) for t in tokens),
        enterprise_id=f.global_id("Enterprise", enterprise.id),
        product_id=f.global_id("Product", product.id),
        institution_id=f.global_id("Institution", bank.id),
    )


def request(world: World, amount: str = "600000.00") -> dict[str, Any]:
    return {
        "enterpriseId": world.enterprise_id,
        "productId": world.product_id,
        "amount": amount,
        "termMonths": 12,
        "repaymentMethod": "ANNUITY",
        "purpose": "stock for the spring season",
    }


async def consent(world: World) -> None:
    result = await world.owner.data(
        GRANT,
        {
            "input": {
                "subjectId": world.enterprise_id,
                "purpose": "credit_assessment",
                "recipientInstitutionId": world.institution_id,
                "textVersion": "credit-2026-01",
            }
        },
    )
    assert result["grantConsent"]["__typename"] == "Consent"


async def act(client: GraphQLClient, document: str, **values: Any) -> dict[str, Any]:
    data = await client.data(document, {"input": values})
    result: dict[str, Any] = next(iter(data.values()))
    return result


async def submitted(world: World, amount: str = "600000.00") -> str:
    await consent(world)
    result = await act(world.owner, SUBMIT, **request(world, amount))
    assert result["__typename"] == "Application", result
    app_id: str = result["id"]
    return app_id


async def under_review(world: World, amount: str = "600000.00") -> str:
    app_id = await submitted(world, amount)
    result = await act(world.officer, START, applicationId=app_id)
    assert result["status"] == "UNDER_REVIEW"
    return app_id


async def test_a_loan_goes_from_catalog_to_closed_through_graphql(
    world: World, db: AsyncEngine
) -> None:
    # given: an application needs the enterprise's consent first
    refused = await act(world.owner, SUBMIT, **request(world))
    assert refused["__typename"] == "ConsentRequired"
    assert refused["purpose"] == "credit_assessment"
    assert refused["institutionId"] == world.institution_id
    app_id = await submitted(world)

    # when: review, a question and its answer, two approvals (600,000 > 500,000), signing
    early = await act(
        world.officer, DECIDE, applicationId=app_id, decision="APPROVE", reasons="looks fine"
    )
    reviewed = await act(world.officer, START, applicationId=app_id)
    asked = await act(
        world.officer, ASK, applicationId=app_id, question="Send the 2025 VAT returns, please."
    )
    answered = await act(
        world.owner, ANSWER, applicationId=app_id, answer="Uploaded to the data room today."
    )
    first = await act(
        world.officer,
        DECIDE,
        applicationId=app_id,
        decision="APPROVE",
        reasons="cash flow covers the instalment 2.1 times",
        annualRate="0.052000",
    )
    same_eyes = await act(
        world.officer, DECIDE, applicationId=app_id, decision="APPROVE", reasons="again"
    )
    approved = await act(
        world.second, DECIDE, applicationId=app_id, decision="APPROVE", reasons="agree, 4 eyes"
    )
    wrong_hash = await act(world.owner, SIGN, applicationId=app_id, termsHash="0" * 64)
    signed = await act(
        world.owner, SIGN, applicationId=app_id, termsHash=approved["contract"]["termsHash"]
    )
    paid_out = await act(world.officer, DISBURSE, applicationId=app_id)

    # then: every step answered as the state machine says
    assert early["__typename"] == "InvalidTransition"
    assert early["code"] == "INVALID_TRANSITION"
    assert (early["currentStatus"], early["targetStatus"]) == ("SUBMITTED", "APPROVED")
    assert reviewed["status"] == "UNDER_REVIEW"
    assert asked["status"] == "MORE_INFO_REQUESTED"
    assert answered["status"] == "UNDER_REVIEW"
    assert first["status"] == "UNDER_REVIEW"
    assert first["awaitingSecondApproval"] is True
    assert same_eyes["__typename"] == "FourEyesRequired"
    assert same_eyes["code"] == "FOUR_EYES"
    assert approved["status"] == "APPROVED"
    assert approved["approvedRate"] == "0.052000"
    terms = approved["contract"]["terms"]
    assert terms["principal"] == "600000.00"
    assert terms["annual_rate"] == "0.052000"
    assert wrong_hash["code"] == "TERMS_CHANGED"
    assert signed["application"]["status"] == "CONTRACT_SIGNED"
    assert signed["contract"]["acceptedAt"] is not None
    assert paid_out["application"]["status"] == "DISBURSED"
    loan = paid_out["loan"]
    schedule = loan["schedule"]
    assert len(schedule) == 12
    assert sum(Decimal(i["principalDue"]) for i in schedule) == Decimal("600000.00")
    assert [(i["principalDue"], i["interestDue"], i["feeDue"]) for i in schedule] == [
        (t["principal"], t["interest"], t["fee"]) for t in terms["instalments"]
    ]
    assert schedule[0]["feeDue"] == "3000.00"  # 0.5% origination fee

    # when: 100,000 paid ahead twice under one key (a retry), then the payoff
    key = str(uuid.uuid4())
    today = utcnow().date().isoformat()
    ahead = {"loanId": loan["id"], "idempotencyKey": key, "amount": "100000.00", "paidOn": today}
    paid = await act(world.officer, REPAY, **ahead, earlyRepayment="SHORTER_TERM")
    again = await act(world.officer, REPAY, **ahead, earlyRepayment="SHORTER_TERM")
    reused = await act(world.officer, REPAY, **{**ahead, "amount": "99.00"})
    payoff = Decimal(paid["loan"]["payoffAmount"])
    too_much = await act(
        world.officer,
        REPAY,
        loanId=loan["id"],
        idempotencyKey="over",
        amount=str(payoff + Decimal("0.01")),
        paidOn=today,
    )
    closed = await act(
        world.officer,
        REPAY,
        loanId=loan["id"],
        idempotencyKey="payoff",
        amount=str(payoff),
        paidOn=today,
    )

    # then: recorded once; nothing was due, so all of it repaid principal early and the
    # term shortened; the payoff (principal only: no interest earned yet) closes the loan
    assert paid["replayed"] is False
    assert again["replayed"] is True
    assert again["repayment"] == paid["repayment"]
    assert reused["code"] == "CONFLICT"
    assert paid["repayment"] == {
        "amount": "100000.00",
        "principalPart": "100000.00",
        "interestPart": "0.00",
        "feePart": "0.00",
        "prepaidPrincipal": "100000.00",
    }
    assert paid["loan"]["outstandingPrincipal"] == "500000.00"
    assert payoff == Decimal("500000.00")
    assert too_much["__typename"] == "Overpayment"
    assert Decimal(too_much["payoffAmount"]) == payoff
    assert closed["loan"]["status"] == "CLOSED"
    assert closed["loan"]["outstandingPrincipal"] == "0.00"
    assert closed["loan"]["closedOn"] == today
    async with session_factory(db)() as s:
        repayments = await s.scalar(select(func.count()).select_from(Repayment))
        moves = await s.scalar(select(func.count()).select_from(Transition))
        audit = set((await s.scalars(select(AuditEntry.action))).all())
        mail = await s.scalar(select(func.count()).select_from(OutboxMessage))
    assert repayments == 2
    # drafted, submitted, review, info, review, approved, signed, disbursed
    assert moves == 8
    assert {
        "application.submitted",
        "application.first_approval",
        "application.approved",
        "application.contract_signed",
        "loan.disbursed",
        "loan.repayment",
    } <= audit
    assert mail == 7  # the applicant hears of every move after the draft
    history = (await world.owner.data(TIMELINE, {"id": app_id}))["node"]
    assert [t["toStatus"] for t in history["timeline"]] == [
        "DRAFT",
        "SUBMITTED",
        "UNDER_REVIEW",
        "MORE_INFO_REQUESTED",
        "UNDER_REVIEW",
        "APPROVED",
        "CONTRACT_SIGNED",
        "DISBURSED",
    ]
    assert [(d["outcome"], d["awaitsSecond"]) for d in history["decisions"]] == [
        ("REQUEST_INFO", False),
        ("APPROVE", True),
        ("APPROVE", False),
    ]


async def test_an_appeal_is_reviewed_once_by_an_officer_who_did_not_decide(
    world: World, db: AsyncEngine
) -> None:
    # given: a rejected application
    app_id = await under_review(world, amount="100000.00")
    rejected = await act(
        world.officer,
        DECIDE,
        applicationId=app_id,
        decision="REJECT",
        reasons="debt service cover below 1.2",
    )
    assert rejected["status"] == "REJECTED"

    # when
    short = await act(world.owner, APPEAL, applicationId=app_id, reason="")
    appealed = await act(
        world.owner, APPEAL, applicationId=app_id, reason="A new contract doubles revenue."
    )
    same_officer = await act(world.officer, START, applicationId=app_id)
    reviewed = await act(world.second, START, applicationId=app_id)
    same_decider = await act(
        world.officer, DECIDE, applicationId=app_id, decision="APPROVE", reasons="fine now"
    )
    final = await act(
        world.second, DECIDE, applicationId=app_id, decision="REJECT", reasons="still too thin"
    )
    twice = await act(world.owner, APPEAL, applicationId=app_id, reason="Please look again.")

    # then
    assert short["code"] == "BAD_USER_INPUT"
    assert appealed["status"] == "APPEALED"
    assert appealed["appealReason"] == "A new contract doubles revenue."
    assert same_officer["code"] == "FOUR_EYES"
    assert reviewed["status"] == "UNDER_REVIEW"
    assert same_decider["code"] == "FOUR_EYES"
    assert final["status"] == "REJECTED"
    assert twice["code"] == "INVALID_TRANSITION"
    history = (await world.owner.data(TIMELINE, {"id": app_id}))["node"]
    assert [d["onAppeal"] for d in history["decisions"]] == [False, True]

    # and: what the application keeps for the portfolio funnel matches its time line;
    # its first decision stays the first after the appeal's
    async with session_factory(db)() as s:
        row = await s.get_one(Application, decode_pk(app_id, "Application"))
        moves = (
            await s.execute(
                select(Transition.to_status, Transition.at)
                .where(Transition.application_id == row.id)
                .order_by(Transition.at)
            )
        ).all()
    assert row.reached == states.reached(status for status, _ in moves)
    decisions = [at for status, at in moves if status in states.DECISIONS]
    assert len(decisions) == 2
    assert row.first_decided_at == decisions[0]
    assert row.decided_at == decisions[1]


async def test_an_approval_below_the_threshold_needs_one_officer(world: World) -> None:
    # given
    app_id = await under_review(world, amount="500000.00")  # at, not above, the threshold

    # when
    approved = await act(
        world.officer, DECIDE, applicationId=app_id, decision="APPROVE", reasons="sound"
    )

    # then
    assert approved["status"] == "APPROVED"
    assert approved["awaitingSecondApproval"] is False
    assert approved["approvedRate"] == "0.045000"  # the product's lowest when not given


@pytest.mark.parametrize(
    ("steps", "status"),
    [
        ([], "SUBMITTED"),
        (["start"], "UNDER_REVIEW"),
        (["start", "ask"], "MORE_INFO_REQUESTED"),
        (["start", "approve"], "APPROVED"),
        (["start", "reject"], "REJECTED"),
        (["start", "reject", "appeal"], "APPEALED"),
    ],
)
async def test_the_applicant_withdraws_before_signing(
    world: World, steps: list[str], status: str
) -> None:
    # given
    app_id = await submitted(world, amount="100000.00")
    for step in steps:
        match step:
            case "start":
                await act(world.officer, START, applicationId=app_id)
            case "ask":
                await act(world.officer, ASK, applicationId=app_id, question="More, please.")
            case "approve" | "reject":
                await act(
                    world.officer,
                    DECIDE,
                    applicationId=app_id,
                    decision=step.upper(),
                    reasons="because",
                )
            case "appeal":
                await act(world.owner, APPEAL, applicationId=app_id, reason="Look again.")

    # when
    result = await act(world.owner, WITHDRAW, applicationId=app_id, reason="found cheaper")
    after = await act(world.owner, WITHDRAW, applicationId=app_id)

    # then
    assert result["status"] == "WITHDRAWN", (status, result)
    assert after["code"] == "INVALID_TRANSITION"


async def test_nothing_moves_after_the_contract_is_signed_but_the_payout(world: World) -> None:
    # given
    app_id = await under_review(world, amount="100000.00")
    approved = await act(
        world.officer, DECIDE, applicationId=app_id, decision="APPROVE", reasons="all good"
    )
    await act(world.owner, SIGN, applicationId=app_id, termsHash=approved["contract"]["termsHash"])

    # when
    withdraw = await act(world.owner, WITHDRAW, applicationId=app_id)
    decide = await act(
        world.second, DECIDE, applicationId=app_id, decision="REJECT", reasons="x" * 5
    )
    appeal = await act(world.owner, APPEAL, applicationId=app_id, reason="why not")
    review = await act(world.officer, START, applicationId=app_id)

    # then
    for refused in (withdraw, decide, appeal, review):
        assert refused["__typename"] == "InvalidTransition", refused
        assert refused["currentStatus"] == "CONTRACT_SIGNED"


async def test_a_stale_version_gets_conflict_and_changes_nothing(world: World) -> None:
    # given: two officers read the application at the same version
    app_id = await under_review(world, amount="100000.00")
    seen = (await world.owner.data(VERSION, {"id": app_id}))["node"]["version"]
    await act(
        world.officer,
        ASK,
        applicationId=app_id,
        question="Which bank statements?",
        expectedVersion=seen,
    )

    # when: the second acts on what it saw
    late = await act(
        world.second,
        DECIDE,
        applicationId=app_id,
        decision="REJECT",
        reasons="too risky",
        expectedVersion=seen,
    )

    # then
    assert late["__typename"] == "Conflict"
    assert late["code"] == "CONFLICT"
    history = (await world.owner.data(TIMELINE, {"id": app_id}))["node"]
    assert history["status"] == "MORE_INFO_REQUESTED"
    assert [d["outcome"] for d in history["decisions"]] == ["REQUEST_INFO"]


async def test_other_institutions_and_owners_cannot_move_an_application(world: World) -> None:
    # given
    app_id = await submitted(world, amount="100000.00")

    # when
    self_review = await act(world.owner, ANSWER, applicationId=app_id, answer="Review it now.")
    stranger = await world.stranger.post(START, {"input": {"applicationId": app_id}})
    owner_decides = await world.owner.post(
        DECIDE, {"input": {"applicationId": app_id, "decision": "APPROVE", "reasons": "mine"}}
    )
    officer_signs = await world.officer.post(
        SIGN, {"input": {"applicationId": app_id, "termsHash": "0" * 64}}
    )

    # then: an answer nobody asked for moves nothing; the stranger does not even see
    # the application; the others lack the permission
    assert self_review["__typename"] == "InvalidTransition"
    assert self_review["currentStatus"] == "SUBMITTED"
    assert stranger["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert owner_decides["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert officer_signs["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_an_ineligible_enterprise_is_told_why(world: World, db: AsyncEngine) -> None:
    # given: a product for Guangdong caterers only
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        product = await f.product(s, institution_id=bank.id)
        product.eligibility = {"industries": ["catering"], "regions": ["Guangdong"]}
    await consent(world)

    # when
    result = await act(
        world.owner,
        SUBMIT,
        **{**request(world, "100000.00"), "productId": f.global_id("Product", product.id)},
    )

    # then
    assert result["__typename"] == "NotEligible"
    assert result["reasons"] == [
        "industry manufacturing is not served (serves: catering)",
        "region Zhejiang is not served (serves: Guangdong)",
    ]


async def test_invalid_requests_are_refused_with_the_field(world: World) -> None:
    # given
    await consent(world)

    # when
    result = await act(
        world.owner, SUBMIT, **{**request(world, "100000.005"), "repaymentMethod": "INTEREST_ONLY"}
    )

    # then
    assert result["code"] == "BAD_USER_INPUT"
    assert "amount: at most 2 decimals" in result["message"]
    assert "repaymentMethod: the product offers annuity" in result["message"]
