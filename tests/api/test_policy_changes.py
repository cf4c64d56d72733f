"""Four eyes on the authorization policy: a widening waits for a second platform admin."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from domain.models import Role
from domain.settings import Settings
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient

ADD = """
mutation($input: AddPolicyRuleInput!) {
  addPolicyRule(input: $input) {
    __typename
    ... on PolicyChange { id status widens kind createdBy { id } }
    ... on AuthorizationRule { id }
    ... on InvalidInput { message }
  }
}
"""
DECIDE = """
mutation($id: ID!, $approve: Boolean!) {
  approvePolicyChange(input: { id: $id, approve: $approve }) {
    __typename ... on PolicyChange { status decidedBy { id } } ... on InvalidInput { message }
  }
}
"""
ROLLBACK = """
mutation($id: ID!) {
  rollbackPolicyChange(input: { id: $id }) {
    __typename ... on PolicyChange { status } ... on InvalidInput { message }
  }
}
"""
REMOVE = """
mutation($id: ID!) {
  removePolicyRule(input: { id: $id }) {
    __typename ... on PolicyChange { id status widens kind createdBy { id } }
  }
}
"""
ACCOUNTS = "{ enterprises { edges { node { bankAccountNumber } } } }"
# Risk officers are denied bank account numbers by default: removing the deny, or
# adding an allow, widens what they see.
WIDEN = {
    "role": "risk_officer",
    "object": "Enterprise.bankAccountNumber",
    "action": "READ",
    "effect": "ALLOW",
}


async def _world(db: AsyncEngine, settings: Settings) -> dict[str, Any]:
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        product = await f.product(s, institution_id=bank.id)
        enterprise = await f.enterprise(s)
        await f.application(s, enterprise_id=enterprise.id, product_row=product)
        admins = [await f.user(s, roles=[(Role.PLATFORM_ADMIN, None)]) for _ in range(2)]
        risk = await f.user(s, roles=[(Role.RISK_OFFICER, bank.id)])
        privacy = await f.user(s, roles=[(Role.PRIVACY_OFFICER, None)])
        return {
            "makers": [await f.access_token(s, settings, a) for a in admins],
            "maker_id": f.global_id("User", admins[0].id),
            "checker_id": f.global_id("User", admins[1].id),
            "risk": await f.access_token(s, settings, risk),
            "privacy": await f.access_token(s, settings, privacy),
        }


def _codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


async def test_removing_a_deny_applies_only_once_a_second_admin_approves_and_rolls_back(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    world = await _world(db, settings)
    maker, checker = (gql.as_(t) for t in world["makers"])
    risk = gql.as_(world["risk"])

    rules = (await maker.data("{ authorizationRules { id subject object effect } }"))[
        "authorizationRules"
    ]
    [deny] = [
        r["id"]
        for r in rules
        if (r["subject"], r["object"], r["effect"])
        == ("risk_officer", "Enterprise.bankAccountNumber", "deny")
    ]

    # when
    proposed = (await maker.data(REMOVE, {"id": deny}))["removePolicyRule"]
    while_pending = await risk.post(ACCOUNTS)
    own = await maker.post(DECIDE, {"id": proposed["id"], "approve": True})
    privacy = gql.as_(world["privacy"])
    not_admin = await privacy.post(DECIDE, {"id": proposed["id"], "approve": True})
    approved = (await checker.data(DECIDE, {"id": proposed["id"], "approve": True}))[
        "approvePolicyChange"
    ]
    again = (await checker.data(DECIDE, {"id": proposed["id"], "approve": True}))[
        "approvePolicyChange"
    ]
    granted = await risk.data(ACCOUNTS)
    rolled_back = (await maker.data(ROLLBACK, {"id": proposed["id"]}))["rollbackPolicyChange"]
    after = await risk.post(ACCOUNTS)
    listed = await checker.data("{ policyChanges { id status } }")

    # then
    assert proposed == {
        "__typename": "PolicyChange",
        "id": proposed["id"],
        "status": "PENDING",
        "widens": True,
        "kind": "remove",
        "createdBy": {"id": world["maker_id"]},
    }
    assert _codes(while_pending) == ["FORBIDDEN"]
    assert _codes(own) == ["FORBIDDEN"]  # the maker is never the checker
    assert _codes(not_admin) == ["FORBIDDEN"]
    assert approved == {
        "__typename": "PolicyChange",
        "status": "ACTIVE",
        "decidedBy": {"id": world["checker_id"]},
    }
    assert again["__typename"] == "InvalidInput"  # decided once
    # read now allowed; reveal is not, so the value is masked
    assert granted["enterprises"]["edges"][0]["node"]["bankAccountNumber"] == "***************3445"
    assert rolled_back == {"__typename": "PolicyChange", "status": "ROLLED_BACK"}
    assert _codes(after) == ["FORBIDDEN"]
    assert listed["policyChanges"] == [{"id": proposed["id"], "status": "ROLLED_BACK"}]


async def test_a_rejected_widening_never_applies_and_a_narrowing_applies_at_once(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    world = await _world(db, settings)
    maker, checker = (gql.as_(t) for t in world["makers"])
    deny = {**WIDEN, "object": "Enterprise.name", "effect": "DENY"}

    # when
    proposed = (await maker.data(ADD, {"input": WIDEN}))["addPolicyRule"]
    rejected = (await checker.data(DECIDE, {"id": proposed["id"], "approve": False}))[
        "approvePolicyChange"
    ]
    still_denied = await gql.as_(world["risk"]).post(ACCOUNTS)
    narrowed = (await maker.data(ADD, {"input": deny}))["addPolicyRule"]
    names = await gql.as_(world["risk"]).post("{ enterprises { edges { node { name } } } }")
    changes = (await checker.data("{ policyChanges { id status widens } }"))["policyChanges"]
    undo = (await maker.data(ROLLBACK, {"id": changes[0]["id"]}))["rollbackPolicyChange"]

    # then
    assert rejected["status"] == "REJECTED"
    assert _codes(still_denied) == ["FORBIDDEN"]
    assert narrowed["__typename"] == "AuthorizationRule"  # applied at once
    assert _codes(names) == ["FORBIDDEN"]
    assert [(c["status"], c["widens"]) for c in changes] == [
        ("ACTIVE", False),
        ("REJECTED", True),
    ]
    # undoing a narrowing widens: it must be proposed as a new change
    assert undo["__typename"] == "InvalidInput"
    assert "propose it as a new change" in undo["message"]
