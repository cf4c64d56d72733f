"""How personal values reach a viewer: consent, contract, masking policy, break-glass."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.models import AccessLogEntry, Role
from domain.settings import Settings
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient

PHONE = "{ enterprises { edges { node { contactPhone } } } }"
GRANT = """
mutation($input: GrantConsentInput!) {
  grantConsent(input: $input) { __typename ... on InvalidInput { message } }
}
"""
WITHDRAW = """
mutation($input: WithdrawConsentInput!) {
  withdrawConsent(input: $input) { __typename ... on InvalidInput { message } }
}
"""
SET_POLICY = """
mutation($input: SetMaskingPolicyInput!) {
  setMaskingPolicy(input: $input) {
    __typename ... on MaskingPolicy { status } ... on InvalidInput { message }
  }
}
"""
EXPLAIN = """
query($subject: ID!, $purpose: String) {
  explainFieldAccess(type: "Enterprise", field: "contactPhone", subjectId: $subject,
                     purpose: $purpose) {
    outcome purpose readRule revealRule maskingStrategy lawfulBasis breakGlass
  }
}
"""


async def _applied(db: AsyncEngine, settings: Settings) -> dict[str, Any]:
    """An owner's enterprise that applied to a bank (no loan yet), and the people around it."""
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        product = await f.product(s, institution_id=bank.id)
        owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
        enterprise = await f.enterprise(s, owner_id=owner.id)
        await f.application(s, enterprise_id=enterprise.id, product_row=product)
        officer = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        privacy = [await f.user(s, roles=[(Role.PRIVACY_OFFICER, None)]) for _ in range(2)]
        return {
            "bank": f.global_id("Institution", bank.id),
            "enterprise": f.global_id("Enterprise", enterprise.id),
            "enterprise_id": enterprise.id,
            "owner": await f.access_token(s, settings, owner),
            "officer": await f.access_token(s, settings, officer),
            "privacy": [await f.access_token(s, settings, p) for p in privacy],
        }


def _phone(body: dict[str, Any]) -> str:
    assert "errors" not in body, body["errors"]
    value: str = body["data"]["enterprises"]["edges"][0]["node"]["contactPhone"]
    return value


async def _reveals(db: AsyncEngine) -> list[tuple[str, str]]:
    async with session_factory(db)() as s:
        rows = (await s.execute(select(AccessLogEntry.object, AccessLogEntry.purpose))).all()
    return [(o, p) for o, p in rows]


async def test_staff_see_a_value_only_while_the_subject_consents_to_them(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: the officer may reveal phones by policy, but the applicant has not consented
    world = await _applied(db, settings)
    officer, owner = gql.as_(world["officer"]), gql.as_(world["owner"])
    consent = {
        "subjectId": world["enterprise"],
        "purpose": "credit_assessment",
        "recipientInstitutionId": world["bank"],
    }

    # when
    before = _phone(await officer.post(PHONE))
    granted = await owner.data(GRANT, {"input": {**consent, "textVersion": "2026-11"}})
    during = _phone(await officer.post(PHONE))
    other_purpose = _phone(
        (
            await officer.http.post(
                "/graphql",
                json={"query": PHONE},
                headers={
                    "authorization": f"Bearer {world['officer']}",
                    "x-purpose": "marketing",
                },
            )
        ).json()
    )
    withdrawn = await owner.data(WITHDRAW, {"input": consent})
    after = _phone(await officer.post(PHONE))

    # then
    assert before == "138****5678"
    assert granted["grantConsent"]["__typename"] == "Consent"
    assert during == "13812345678"
    assert other_purpose == "138****5678"  # consent is purpose-bound
    assert withdrawn["withdrawConsent"]["__typename"] == "Consent"
    assert after == "138****5678"
    assert await _reveals(db) == [("Enterprise.contactPhone", "credit_assessment")]


async def test_an_unknown_purpose_is_refused_before_anything_runs(
    http: httpx.AsyncClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    world = await _applied(db, settings)

    # when
    response = await http.post(
        "/graphql",
        json={"query": PHONE},
        headers={"authorization": f"Bearer {world['officer']}", "x-purpose": "curiosity"},
    )

    # then
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_masking_policy_decides_the_form_and_a_hash_is_not_a_reveal(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: consent, then a privacy officer narrows officers' phones to a keyed hash
    world = await _applied(db, settings)
    officer, owner = gql.as_(world["officer"]), gql.as_(world["owner"])
    await owner.data(
        GRANT,
        {
            "input": {
                "subjectId": world["enterprise"],
                "purpose": "credit_assessment",
                "recipientInstitutionId": world["bank"],
                "textVersion": "2026-11",
            }
        },
    )
    policy = await gql.as_(world["privacy"][0]).data(
        SET_POLICY,
        {
            "input": {
                "object": "Enterprise.contactPhone",
                "role": "LOAN_OFFICER",
                "strategy": "HASH",
            }
        },
    )

    # when
    shown = _phone(await officer.post(PHONE))
    again = _phone(await officer.post(PHONE))
    owner_sees = _phone(await owner.post(PHONE))

    # then
    assert policy["setMaskingPolicy"] == {"__typename": "MaskingPolicy", "status": "ACTIVE"}
    assert re.fullmatch(r"[0-9a-f]{16}", shown)
    assert again == shown  # linkable, not readable
    assert owner_sees == "13812345678"  # the policy is the officers', not the owner's
    assert ("Enterprise.contactPhone", "credit_assessment") not in await _reveals(db)


async def test_break_glass_reveals_a_withheld_value_and_waits_for_review(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: privacy officers' view of phones narrowed to nothing
    world = await _applied(db, settings)
    first, second = (gql.as_(t) for t in world["privacy"])
    await first.data(
        SET_POLICY,
        {
            "input": {
                "object": "Enterprise.contactPhone",
                "role": "PRIVACY_OFFICER",
                "strategy": "NULL",
            }
        },
    )
    withheld = (await first.data(PHONE))["enterprises"]["edges"][0]["node"]["contactPhone"]
    glass = """
    mutation($input: BreakGlassInput!) {
      breakGlass(input: $input) {
        __typename ... on BreakGlassGrant { id reason subjectId }
        ... on InvalidInput { message field }
      }
    }
    """

    # when
    short = await first.data(glass, {"input": {"subjectId": world["enterprise"], "reason": "x"}})
    granted = await first.data(
        glass,
        {
            "input": {
                "subjectId": world["enterprise"],
                "reason": "Fraud team needs to call the applicant about a stolen identity",
                "minutes": 30,
            }
        },
    )
    revealed = _phone(await first.post(PHONE))
    still_withheld = (await second.data(PHONE))["enterprises"]["edges"][0]["node"]
    reviews = await second.data("{ breakGlassReviews { id reason } }")
    acknowledge = """
    mutation($id: ID!) {
      acknowledgeBreakGlass(input: { id: $id }) { __typename }
    }
    """
    own_review = await first.post(acknowledge, {"id": granted["breakGlass"]["id"]})
    reviewed = await second.data(acknowledge, {"id": granted["breakGlass"]["id"]})
    left = await second.data("{ breakGlassReviews { id } }")

    # then
    assert withheld is None
    assert short["breakGlass"]["__typename"] == "InvalidInput"
    assert granted["breakGlass"]["__typename"] == "BreakGlassGrant"
    assert short["breakGlass"]["field"] == "input.reason"
    assert granted["breakGlass"]["subjectId"] == world["enterprise"]  # the global id given
    assert revealed == "13812345678"
    assert still_withheld == {"contactPhone": None}  # the grant is the first officer's only
    assert [r["id"] for r in reviews["breakGlassReviews"]] == [granted["breakGlass"]["id"]]
    assert own_review["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert reviewed == {"acknowledgeBreakGlass": {"__typename": "BreakGlassGrant"}}
    assert left == {"breakGlassReviews": []}


async def test_explain_names_the_rule_the_policy_and_the_basis(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    world = await _applied(db, settings)
    officer, owner = gql.as_(world["officer"]), gql.as_(world["owner"])

    # when
    without = (await officer.data(EXPLAIN, {"subject": world["enterprise"]}))["explainFieldAccess"]
    await owner.data(
        GRANT,
        {
            "input": {
                "subjectId": world["enterprise"],
                "purpose": "credit_assessment",
                "recipientInstitutionId": world["bank"],
                "textVersion": "2026-11",
            }
        },
    )
    with_consent = (await officer.data(EXPLAIN, {"subject": world["enterprise"]}))[
        "explainFieldAccess"
    ]
    for_marketing = (
        await officer.data(EXPLAIN, {"subject": world["enterprise"], "purpose": "marketing"})
    )["explainFieldAccess"]
    owner_view = (await owner.data(EXPLAIN, {"subject": world["enterprise"]}))["explainFieldAccess"]

    # then
    assert without["outcome"] == "MASKED"
    assert without["lawfulBasis"] is None
    assert without["readRule"] == "p, loan_officer, *, Enterprise.*, read, allow"
    assert without["revealRule"] == "p, loan_officer, *, Enterprise.contactPhone, reveal, allow"
    assert with_consent["outcome"] == "REVEALED"
    assert with_consent["lawfulBasis"] == "consent to credit_assessment for your institution"
    assert for_marketing["outcome"] == "MASKED"
    assert owner_view["outcome"] == "REVEALED"
    assert owner_view["lawfulBasis"] == "the subject's own data"


async def test_staff_find_an_applicant_by_id_number_without_decrypting(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: the officer's applicant, and another enterprise with another id number
    world = await _applied(db, settings)
    query = """
    query($number: String!) {
      enterprises(filter: { legalRepresentativeIdNumber: $number }) {
        totalCount edges { node { id } }
      }
    }
    """
    officer = gql.as_(world["officer"])

    # when
    found = await officer.data(query, {"number": " 110101199003071234 "})
    none = await officer.data(query, {"number": "110101199003079999"})

    # then
    assert [e["node"]["id"] for e in found["enterprises"]["edges"]] == [world["enterprise"]]
    assert found["enterprises"]["totalCount"] == 1
    assert none["enterprises"]["totalCount"] == 0
