"""Verification of enterprises end to end through the live app, walked as each role:
the owner submits, the officer asks for more, the owner adds, the officer approves; a
claimant disputes a held credit code; levels decide what an owner may apply for."""

from __future__ import annotations

import json
import random
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.enterprises.models import Enterprise
from domain.enterprises.uscc import generate_uscc
from domain.identity.authorization import Authorizer
from domain.identity.models import Role
from domain.models import AuditEntry, VerificationCase, VerificationDocument, VerificationEvent
from domain.settings import Settings
from domain.verification import levels
from domain.verification.models import VerificationLevel
from kernel.db import session_factory
from tests import factories as f
from tests.api import test_lending_lifecycle as lifecycle
from tests.api.conftest import GraphQLClient

# The smallest files of each kind that a signature check takes for what they are.
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n" + b"%" * 80 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 100
TEXT = b"this is plainly text pretending to be a scanned business licence " * 3

CASE = """
  __typename
  ... on VerificationCase {
    id kind status levelGranted version
    enterprise { name verificationLevel }
    documents { kind mediaType sizeBytes sha256 content }
    history { fromStatus toStatus byOfficer note }
  }
  ... on InvalidInput { code message field }
  ... on Conflict { code message }
"""
SUBMIT = (
    "mutation($input: SubmitVerificationInput!) { submitVerification(input: $input) {"
    + CASE
    + "} }"
)
ADD = (
    "mutation($input: AddVerificationDocumentsInput!) { addVerificationDocuments(input: $input) {"
    + CASE
    + "} }"
)
DISPUTE = (
    "mutation($input: DisputeOwnershipInput!) { disputeOwnership(input: $input) {" + CASE + "} }"
)
REVIEW = (
    "mutation($input: ReviewVerificationInput!) { reviewVerification(input: $input) {"
    + CASE
    + "} }"
)
QUEUE = """
query($statuses: [VerificationStatus!]) {
  verificationCases(first: 20, filter: { statuses: $statuses }) {
    totalCount
    edges { node { id kind status version } }
  }
}
"""
MINE = "{ enterprises(first: 10) { edges { node { name verificationLevel } } } }"


async def upload(
    http: httpx.AsyncClient,
    token: str,
    query: str,
    variables: dict[str, Any],
    files: list[tuple[str, bytes, str]],
    *,
    whole: bool = False,
) -> dict[str, Any]:
    """A GraphQL multipart request with ``files`` as ``input.documents.N.file``: its data
    (or, ``whole``, the body with its errors)."""
    response = await http.post(
        "/graphql",
        data={
            "operations": json.dumps({"query": query, "variables": variables}),
            "map": json.dumps(
                {str(n): [f"variables.input.documents.{n}.file"] for n in range(len(files))}
            ),
        },
        files={str(n): file for n, file in enumerate(files)},
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    if whole:
        return body
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


def _documents(*kinds: str) -> list[dict[str, Any]]:
    return [{"kind": kind, "file": None} for kind in kinds]


def _licence_only(people: dict[str, Any]) -> dict[str, Any]:
    documents = _documents("BUSINESS_LICENCE")
    return {"input": {"enterpriseId": people["enterprise_id"], "documents": documents}}


async def _people(db: AsyncEngine, settings: Settings) -> dict[str, Any]:
    async with session_factory(db)() as s, s.begin():
        owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
        claimant = await f.user(s, roles=[(Role.SME_OWNER, None)])
        officer = await f.user(s, roles=[(Role.VERIFICATION_OFFICER, None)])
        enterprise = await f.enterprise(
            s, owner_id=owner.id, name="Held Works", level=VerificationLevel.UNVERIFIED
        )
        # A code whose check character holds, as a claimant would type it.
        enterprise.unified_social_credit_code = generate_uscc(
            random.Random(22), division_code="330106"
        )
        return {
            "owner": await f.access_token(s, settings, owner),
            "claimant": await f.access_token(s, settings, claimant),
            "officer": await f.access_token(s, settings, officer),
            "enterprise": enterprise,
            "enterprise_id": f.global_id("Enterprise", enterprise.id),
        }


async def _count(db: AsyncEngine, model: Any) -> int:
    async with session_factory(db)() as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar_one())


async def test_the_flow_as_owner_and_officer_from_submission_to_verified(
    gql: GraphQLClient, http: httpx.AsyncClient, db: AsyncEngine, settings: Settings
) -> None:
    people = await _people(db, settings)
    owner, officer = gql.as_(people["owner"]), gql.as_(people["officer"])

    # owner: submits the business licence, with a note
    variables = {
        "input": {
            "enterpriseId": people["enterprise_id"],
            "documents": _documents("BUSINESS_LICENCE"),
            "note": "licence renewed in March",
        }
    }
    submitted = (
        await upload(http, people["owner"], SUBMIT, variables, [("licence.pdf", PDF, "x/y")])
    )["submitVerification"]
    assert submitted["status"] == "SUBMITTED", submitted
    assert submitted["documents"][0]["mediaType"] == "application/pdf"
    assert submitted["documents"][0]["sizeBytes"] == len(PDF)
    case_id = submitted["id"]

    # officer: sees it in the queue, reads the document, asks for more with reasons
    queue = (await officer.data(QUEUE, {"statuses": ["SUBMITTED"]}))["verificationCases"]
    assert [e["node"]["id"] for e in queue["edges"]] == [case_id]
    more = (
        await officer.data(
            REVIEW,
            {
                "input": {
                    "caseId": case_id,
                    "decision": "REQUEST_MORE_INFO",
                    "reasons": "send the legal representative's identity card and a board minute",
                    "expectedVersion": queue["edges"][0]["node"]["version"],
                }
            },
        )
    )["reviewVerification"]
    assert more["status"] == "MORE_INFO_REQUESTED"
    assert more["enterprise"] == {"name": "Held Works", "verificationLevel": "UNVERIFIED"}
    assert more["documents"][0]["content"] is not None  # the officer reads the scan

    # owner: reads the state and the officer's reasons, adds the documents asked for
    added = (
        await upload(
            http,
            people["owner"],
            ADD,
            {
                "input": {
                    "caseId": case_id,
                    "documents": _documents("LEGAL_REPRESENTATIVE_ID", "PROOF_OF_CONTROL"),
                }
            },
            [("id.png", PNG, "image/png"), ("minute.pdf", PDF, "application/pdf")],
        )
    )["addVerificationDocuments"]
    assert added["status"] == "SUBMITTED"
    assert [(h["fromStatus"], h["toStatus"], h["byOfficer"]) for h in added["history"]] == [
        (None, "SUBMITTED", False),
        ("SUBMITTED", "MORE_INFO_REQUESTED", True),
        ("MORE_INFO_REQUESTED", "SUBMITTED", False),
    ]
    assert added["history"][1]["note"].startswith("send the legal representative")

    # officer: a stale version is a conflict; then approves as VERIFIED
    stale = (
        await officer.data(
            REVIEW,
            {
                "input": {
                    "caseId": case_id,
                    "decision": "APPROVE",
                    "level": "VERIFIED",
                    "reasons": "all in order",
                    "expectedVersion": more["version"],
                }
            },
        )
    )["reviewVerification"]
    assert stale["__typename"] == "Conflict"
    approved = (
        await officer.data(
            REVIEW,
            {
                "input": {
                    "caseId": case_id,
                    "decision": "APPROVE",
                    "level": "VERIFIED",
                    "reasons": "licence, identity and control match",
                    "expectedVersion": added["version"],
                }
            },
        )
    )["reviewVerification"]
    assert (approved["status"], approved["levelGranted"]) == ("APPROVED", "VERIFIED")

    # owner: the enterprise is verified
    mine = (await owner.data(MINE))["enterprises"]["edges"]
    assert mine == [{"node": {"name": "Held Works", "verificationLevel": "VERIFIED"}}]

    # and: documents and notes are sealed at rest; every step is audited
    async with session_factory(db)() as s:
        contents = (await s.scalars(select(VerificationDocument.content))).all()
        notes = (await s.scalars(select(VerificationEvent.note))).all()
        actions = (await s.scalars(select(AuditEntry.action))).all()
    assert all(b"%PDF" not in c.encode() and "JVBER" not in c for c in contents)
    assert not any(n and "legal representative" in n for n in notes)
    assert {
        "verification.ownership_submitted",
        "verification.request_more_info",
        "verification.documents_added",
        "verification.approve",
    } <= set(actions)


async def test_documents_are_checked_by_content_and_a_refusal_writes_nothing(
    http: httpx.AsyncClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    people = await _people(db, settings)
    variables = {
        "input": {
            "enterpriseId": people["enterprise_id"],
            "documents": _documents("BUSINESS_LICENCE", "PROOF_OF_CONTROL"),
        }
    }

    # when: a text file named and typed as a PDF, then a file over the size limit
    disguised = await upload(
        http,
        people["owner"],
        SUBMIT,
        variables,
        [("licence.pdf", PDF, "application/pdf"), ("control.pdf", TEXT, "application/pdf")],
    )
    too_big = await upload(
        http,
        people["owner"],
        SUBMIT,
        variables,
        [("licence.pdf", PDF + b"0" * (5 * 1024 * 1024), "application/pdf"), ("c.pdf", PDF, "x/y")],
    )

    # then: refused, naming the file; no case, no document, no event
    assert disguised["submitVerification"]["field"] == "input.documents.1.file"
    assert "PDF, JPEG or PNG" in disguised["submitVerification"]["message"]
    assert too_big["submitVerification"]["field"] == "input.documents.0.file"
    assert [await _count(db, m) for m in (VerificationCase, VerificationDocument)] == [0, 0]


async def test_a_level_needs_its_documents_and_a_case_is_reviewed_once(
    gql: GraphQLClient, http: httpx.AsyncClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: a case with the licence only
    people = await _people(db, settings)
    officer = gql.as_(people["officer"])
    submitted = (
        await upload(
            http,
            people["owner"],
            SUBMIT,
            {
                "input": {
                    "enterpriseId": people["enterprise_id"],
                    "documents": _documents("BUSINESS_LICENCE"),
                }
            },
            [("licence.pdf", PDF, "application/pdf")],
        )
    )["submitVerification"]
    review = {"caseId": submitted["id"], "decision": "APPROVE", "reasons": "licence matches"}

    # when
    verified = await officer.data(REVIEW, {"input": {**review, "level": "VERIFIED"}})
    no_reason = await officer.data(REVIEW, {"input": {**review, "level": "BASIC", "reasons": ""}})
    basic = await officer.data(REVIEW, {"input": {**review, "level": "BASIC"}})
    again = await officer.data(REVIEW, {"input": {**review, "level": "BASIC"}})
    by_owner = await gql.as_(people["owner"]).post(REVIEW, {"input": {**review, "level": "BASIC"}})

    # then
    refused = verified["reviewVerification"]
    assert (refused["field"], "legal_representative_id" in refused["message"]) == (
        "input.level",
        True,
    )
    assert no_reason["reviewVerification"]["field"] == "input.reasons"
    assert basic["reviewVerification"]["levelGranted"] == "BASIC"
    assert basic["reviewVerification"]["enterprise"]["verificationLevel"] == "BASIC"
    assert again["reviewVerification"]["__typename"] == "Conflict"
    assert by_owner["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_an_ownership_dispute_is_resolved_by_the_officer(
    gql: GraphQLClient, http: httpx.AsyncClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: the code is held by the owner; the claimant says the company is theirs
    people = await _people(db, settings)
    code = people["enterprise"].unified_social_credit_code
    variables = {
        "input": {
            "unifiedSocialCreditCode": code,
            "documents": _documents(
                "BUSINESS_LICENCE", "LEGAL_REPRESENTATIVE_ID", "PROOF_OF_CONTROL"
            ),
            "note": "I am the legal representative; the holder is a former employee",
        }
    }
    files = [("l.pdf", PDF, "a/b"), ("id.png", PNG, "a/b"), ("c.pdf", PDF, "a/b")]

    # claimant: disputes; cannot see the enterprise itself yet
    claimed = (await upload(http, people["claimant"], DISPUTE, variables, files))[
        "disputeOwnership"
    ]
    assert claimed.get("kind"), claimed
    assert (claimed["kind"], claimed["status"], claimed["enterprise"]) == (
        "DISPUTE",
        "SUBMITTED",
        None,
    )
    twice = (await upload(http, people["claimant"], DISPUTE, variables, files))["disputeOwnership"]
    assert twice["__typename"] == "Conflict"

    # holder: sees the dispute against its enterprise, but not the claimant's papers or note
    holder = gql.as_(people["owner"])
    seen = (await holder.data(QUEUE, {"statuses": None}))["verificationCases"]
    assert [e["node"]["kind"] for e in seen["edges"]] == ["DISPUTE"]
    node = await holder.data(
        """
        query($id: ID!) {
          node(id: $id) { ... on VerificationCase { documents { content } history { note } } }
        }
        """,
        {"id": claimed["id"]},
    )
    shown = node["node"]["documents"][0]["content"]
    assert shown is None or "JVBER" not in shown  # masked: not the file (base64 of %PDF)
    assert "former employee" not in (node["node"]["history"][0]["note"] or "")

    # officer: upholds the claim
    upheld = (
        await gql.as_(people["officer"]).data(
            REVIEW,
            {
                "input": {
                    "caseId": claimed["id"],
                    "decision": "APPROVE",
                    "level": "VERIFIED",
                    "reasons": "registry and identity documents name the claimant",
                }
            },
        )
    )["reviewVerification"]

    # then: the enterprise changed hands, verified; the holder no longer sees it
    assert upheld["status"] == "APPROVED"
    assert (await holder.data(MINE))["enterprises"]["edges"] == []
    theirs = (await gql.as_(people["claimant"]).data(MINE))["enterprises"]["edges"]
    assert theirs == [{"node": {"name": "Held Works", "verificationLevel": "VERIFIED"}}]
    async with session_factory(db)() as s:
        transferred = await s.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.action == "enterprise.ownership_transferred")
        )
    assert transferred == 1


async def test_cases_are_seen_by_their_people_and_officers_only(
    gql: GraphQLClient, http: httpx.AsyncClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: the owner's case, and a stranger who owns something else
    people = await _people(db, settings)
    submitted = (
        await upload(
            http,
            people["owner"],
            SUBMIT,
            {
                "input": {
                    "enterpriseId": people["enterprise_id"],
                    "documents": _documents("BUSINESS_LICENCE"),
                }
            },
            [("licence.pdf", PDF, "application/pdf")],
        )
    )["submitVerification"]
    stranger = gql.as_(people["claimant"])

    # when
    listed = (await stranger.data(QUEUE, {"statuses": None}))["verificationCases"]
    fetched = await stranger.post(
        "query($id: ID!) { node(id: $id) { id } }", {"id": submitted["id"]}
    )
    foreign = await upload(
        http,
        people["claimant"],
        SUBMIT,
        _licence_only(people),
        [("licence.pdf", PDF, "application/pdf")],
        whole=True,
    )

    # then
    assert listed == {"totalCount": 0, "edges": []}
    assert fetched["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert foreign["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_levels_decide_the_amount_an_owner_may_apply_for_as_the_policy_says(
    db: AsyncEngine,
) -> None:
    # given: the default policy, as the app loads it
    authorizer = Authorizer()
    async with session_factory(db)() as s:
        await authorizer.sync(s)
    unverified, basic, verified = LEVELS = (
        VerificationLevel.UNVERIFIED,
        VerificationLevel.BASIC,
        VerificationLevel.VERIFIED,
    )
    assert len(LEVELS) == 3

    # then: each level's ceiling and signing come from the policy's rules
    assert levels.largest_application(authorizer, unverified) == Decimal("100000")
    assert levels.largest_application(authorizer, basic) == Decimal("1000000")
    assert levels.largest_application(authorizer, verified) is None
    assert levels.may_apply(authorizer, unverified, Decimal("100000.00"))
    assert not levels.may_apply(authorizer, unverified, Decimal("100000.01"))
    assert levels.may_apply(authorizer, basic, Decimal("999999.99"))
    assert not levels.may_apply(authorizer, basic, Decimal("1000000.01"))
    assert levels.may_apply(authorizer, verified, Decimal("50000000"))
    assert [levels.may(authorizer, x, levels.SIGN_CONTRACT) for x in LEVELS] == [False, False, True]
    assert [levels.may(authorizer, x, levels.PRE_APPROVED_OFFERS) for x in LEVELS] == [
        False,
        False,
        True,
    ]
    assert Enterprise.verification_level.default.arg is unverified  # type: ignore[attr-defined]


async def test_an_unverified_owner_applies_only_up_to_the_policy_limit_and_cannot_sign(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings, admin_gql: GraphQLClient
) -> None:
    # given: an unverified enterprise that consented to a bank with a product
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        product = await f.product(s, institution_id=bank.id, max_amount="2000000.00")
        owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
        enterprise = await f.enterprise(s, owner_id=owner.id, level=VerificationLevel.UNVERIFIED)
        officer = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        checker = await f.user(s, roles=[(Role.PLATFORM_ADMIN, None)])
        tokens = [await f.access_token(s, settings, u) for u in (owner, officer, checker)]
    owner_gql, officer_gql, checker_gql = (gql.as_(t) for t in tokens)
    enterprise_id = f.global_id("Enterprise", enterprise.id)
    await owner_gql.data(
        lifecycle.GRANT,
        {
            "input": {
                "subjectId": enterprise_id,
                "purpose": "credit_assessment",
                "recipientInstitutionId": f.global_id("Institution", bank.id),
                "textVersion": "credit-2026-01",
            }
        },
    )

    def asking(amount: str) -> dict[str, Any]:
        return {
            "enterpriseId": enterprise_id,
            "productId": f.global_id("Product", product.id),
            "amount": amount,
            "termMonths": 12,
            "repaymentMethod": "ANNUITY",
            "purpose": "stock for the spring season",
        }

    # when: above the unverified limit, then within it
    above = await lifecycle.act(owner_gql, lifecycle.SUBMIT, **asking("100000.01"))
    within = await lifecycle.act(owner_gql, lifecycle.SUBMIT, **asking("100000.00"))

    # then
    assert above["__typename"] == "NotEligible"
    assert any("at most 100,000.00" in r for r in above["reasons"]), above
    assert within["__typename"] == "Application", within

    # when: approved, the unverified owner tries to sign
    app_id = within["id"]
    await lifecycle.act(officer_gql, lifecycle.START, applicationId=app_id)
    approved = await lifecycle.act(
        officer_gql, lifecycle.DECIDE, applicationId=app_id, decision="APPROVE", reasons="fine"
    )
    terms = approved["contract"]["termsHash"]
    refused = await lifecycle.act(owner_gql, lifecycle.SIGN, applicationId=app_id, termsHash=terms)

    # then: refused until the policy says otherwise, which platform admins may change
    # (a widening change: one proposes, a second approves)
    assert refused["__typename"] == "NotEligible", refused
    added = await admin_gql.data(
        """
        mutation { addPolicyRule(input: { role: "verification:unverified",
          object: "Capability.signContract", action: WRITE }) {
            __typename ... on PolicyChange { id } } }
        """
    )
    assert added["addPolicyRule"]["__typename"] == "PolicyChange"
    approved = await checker_gql.data(
        "mutation($id: ID!) { approvePolicyChange(input: { id: $id, approve: true })"
        " { __typename } }",
        {"id": added["addPolicyRule"]["id"]},
    )
    assert approved["approvePolicyChange"]["__typename"] == "PolicyChange"
    signed = await lifecycle.act(owner_gql, lifecycle.SIGN, applicationId=app_id, termsHash=terms)
    assert signed["__typename"] == "ContractSigned", signed
