"""Privacy officers version masking policies; a widening waits for a second officer."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.models import AuditEntry, Role
from domain.privacy.policies import MaskingRules, rules_version
from domain.settings import Settings
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient

POLICY = (
    "id object role purpose strategy params version status createdBy { id } decidedBy { id } "
    "decidedAt"
)
SET = f"""
mutation($input: SetMaskingPolicyInput!) {{
  setMaskingPolicy(input: $input) {{
    __typename
    ... on MaskingPolicy {{ {POLICY} }}
    ... on InvalidInput {{ code message field }}
  }}
}}
"""
DECIDE = f"""
mutation($id: ID!, $approve: Boolean!) {{
  approveMaskingPolicy(input: {{ id: $id, approve: $approve }}) {{
    __typename
    ... on MaskingPolicy {{ {POLICY} }}
    ... on InvalidInput {{ code message field }}
  }}
}}
"""
ROLLBACK = """
mutation($input: RollbackMaskingPolicyInput!) {
  rollbackMaskingPolicy(input: $input) {
    __typename
    ... on MaskingPolicyRolledBack { restored { version strategy status } }
    ... on InvalidInput { code message field }
  }
}
"""
LIST = "{ maskingPolicies { object role purpose strategy version status } }"
ID_NUMBER = "Enterprise.legalRepresentativeIdNumber"
PHONE = "Enterprise.contactPhone"


@pytest.fixture
async def officers(db: AsyncEngine, settings: Settings) -> dict[str, Any]:
    """Two privacy officers, a platform admin and a loan officer, with their tokens."""
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        first = await f.user(s, roles=[(Role.PRIVACY_OFFICER, None)])
        second = await f.user(s, roles=[(Role.PRIVACY_OFFICER, None)])
        admin = await f.user(s, roles=[(Role.PLATFORM_ADMIN, None)])
        loan_officer = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        return {
            "first_id": f.global_id("User", first.id),
            "second_id": f.global_id("User", second.id),
            "first": await f.access_token(s, settings, first),
            "second": await f.access_token(s, settings, second),
            "admin": await f.access_token(s, settings, admin),
            "loan_officer": await f.access_token(s, settings, loan_officer),
        }


async def _set(gql: GraphQLClient, token: str, **input: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await gql.as_(token).data(SET, {"input": input}))["setMaskingPolicy"]
    return result


async def _audit_actions(db: AsyncEngine) -> list[str]:
    async with session_factory(db)() as s:
        rows = await s.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.action.like("masking.%"))
            .order_by(AuditEntry.at, AuditEntry.id)
        )
        return list(rows.all())


async def test_a_widening_waits_for_a_second_privacy_officer(
    gql: GraphQLClient, db: AsyncEngine, officers: dict[str, Any]
) -> None:
    # given
    async with session_factory(db)() as s:
        counter_before = await rules_version(s)

    # when: one officer proposes revealing id numbers to loan officers, and approves it
    proposed = await _set(
        gql, officers["first"], object=ID_NUMBER, role="LOAN_OFFICER", strategy="REVEAL"
    )
    async with session_factory(db)() as s:
        while_pending = await MaskingRules.load(s)
    own = await gql.as_(officers["first"]).post(DECIDE, {"id": proposed["id"], "approve": True})
    approved = (
        await gql.as_(officers["second"]).data(DECIDE, {"id": proposed["id"], "approve": True})
    )["approveMaskingPolicy"]
    async with session_factory(db)() as s:
        applied = await MaskingRules.load(s)
        counter_after = await rules_version(s)

    # then
    assert proposed["__typename"] == "MaskingPolicy"
    assert (proposed["status"], proposed["version"], proposed["purpose"]) == ("PENDING", 1, "*")
    assert proposed["createdBy"] == {"id": officers["first_id"]}
    assert while_pending.strategy_for(ID_NUMBER, ["loan_officer"], "credit_assessment") is None
    assert own["data"] is None
    assert own["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert own["errors"][0]["message"] == "a second privacy officer must approve"
    assert (approved["status"], approved["decidedBy"]) == ("ACTIVE", {"id": officers["second_id"]})
    assert approved["decidedAt"] is not None
    strategy = applied.strategy_for(ID_NUMBER, ["loan_officer"], "credit_assessment")
    assert strategy is not None
    assert (strategy.name, strategy.version) == ("reveal", 1)
    assert counter_after == counter_before + 2
    assert await _audit_actions(db) == ["masking.policy_set", "masking.policy_approved"]


async def test_a_narrowing_applies_at_once_and_supersedes_the_active_version(
    gql: GraphQLClient, db: AsyncEngine, officers: dict[str, Any]
) -> None:
    # when
    hashed = await _set(gql, officers["first"], object=PHONE, role="LOAN_OFFICER", strategy="HASH")
    redacted = await _set(
        gql, officers["first"], object=PHONE, role="LOAN_OFFICER", strategy="REDACT"
    )
    for_marketing = await _set(
        gql,
        officers["first"],
        object=PHONE,
        role="LOAN_OFFICER",
        purpose="marketing",
        strategy="PARTIAL",
        params={"preset": "mobile"},
    )
    listing = (await gql.as_(officers["second"]).data(LIST))["maskingPolicies"]
    async with session_factory(db)() as s:
        applied = await MaskingRules.load(s)

    # then
    assert (hashed["status"], hashed["version"], hashed["decidedBy"]) == ("ACTIVE", 1, None)
    assert (redacted["status"], redacted["version"]) == ("ACTIVE", 2)
    assert (for_marketing["status"], for_marketing["version"]) == ("ACTIVE", 1)
    assert for_marketing["params"] == {"preset": "mobile"}
    assert [(p["purpose"], p["version"], p["status"]) for p in listing] == [
        ("*", 2, "ACTIVE"),
        ("*", 1, "SUPERSEDED"),
        ("marketing", 1, "ACTIVE"),
    ]
    marketing = applied.strategy_for(PHONE, ["loan_officer"], "marketing")
    other = applied.strategy_for(PHONE, ["loan_officer"], "loan_servicing")
    assert marketing is not None
    assert marketing.apply("13812345678", object=PHONE, keys=f.KEYS) == "138****5678"
    assert other is not None
    assert other.name == "redact"


async def test_rollback_restores_the_version_active_before_then_the_default(
    gql: GraphQLClient, db: AsyncEngine, officers: dict[str, Any]
) -> None:
    # given: v1 hash, v2 null (both narrowing)
    target = {"object": PHONE, "role": "RISK_OFFICER", "purpose": "*"}
    await _set(gql, officers["first"], strategy="HASH", **target)
    await _set(gql, officers["first"], strategy="NULL", **target)
    officer = gql.as_(officers["second"])

    # when
    first = (await officer.data(ROLLBACK, {"input": target}))["rollbackMaskingPolicy"]
    second = (await officer.data(ROLLBACK, {"input": target}))["rollbackMaskingPolicy"]
    nothing = await officer.post(ROLLBACK, {"input": target})
    listing = (await officer.data(LIST))["maskingPolicies"]
    async with session_factory(db)() as s:
        applied = await MaskingRules.load(s)

    # then
    assert first == {
        "__typename": "MaskingPolicyRolledBack",
        "restored": {"version": 1, "strategy": "HASH", "status": "ACTIVE"},
    }
    assert second == {"__typename": "MaskingPolicyRolledBack", "restored": None}
    assert nothing["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert [(p["version"], p["status"]) for p in listing] == [
        (2, "ROLLED_BACK"),
        (1, "ROLLED_BACK"),
    ]
    assert applied.strategy_for(PHONE, ["risk_officer"], "credit_assessment") is None
    assert (await _audit_actions(db))[-2:] == [
        "masking.policy_rolled_back",
        "masking.policy_rolled_back",
    ]


async def test_a_rejected_or_replaced_proposal_never_applies(
    gql: GraphQLClient, db: AsyncEngine, officers: dict[str, Any]
) -> None:
    # given: banding revenue shows more than the default (withheld), so it waits
    target = {"object": "Enterprise.annualRevenue", "role": "RISK_OFFICER"}
    banded = await _set(
        gql, officers["first"], strategy="BAND", params={"edges": ["0", "1000000"]}, **target
    )
    replaced = await _set(gql, officers["first"], strategy="REVEAL", **target)
    second = gql.as_(officers["second"])

    # when
    rejected = (await second.data(DECIDE, {"id": replaced["id"], "approve": False}))[
        "approveMaskingPolicy"
    ]
    stale = (await second.data(DECIDE, {"id": banded["id"], "approve": True}))[
        "approveMaskingPolicy"
    ]
    again = (await second.data(DECIDE, {"id": replaced["id"], "approve": True}))[
        "approveMaskingPolicy"
    ]
    async with session_factory(db)() as s:
        applied = await MaskingRules.load(s)

    # then
    assert (banded["status"], replaced["status"], replaced["version"]) == (
        "PENDING",
        "PENDING",
        2,
    )
    assert (rejected["status"], rejected["decidedBy"]) == (
        "REJECTED",
        {"id": officers["second_id"]},
    )
    assert stale["__typename"] == "InvalidInput"
    assert stale["code"] == "CONFLICT"
    assert "this one is rejected" in stale["message"]
    assert again["code"] == "CONFLICT"
    assert len(applied) == 0
    assert await _audit_actions(db) == [
        "masking.policy_set",
        "masking.policy_rejected",
        "masking.policy_set",
        "masking.policy_rejected",
    ]


@pytest.mark.parametrize(
    ("input", "problems", "field"),
    [
        (
            {"object": "Enterprise.name", "purpose": "gossip"},
            [
                "'Enterprise.name' is not a personal or sensitive field",
                "unknown purpose 'gossip'",
            ],
            "input.object",
        ),
        ({"purpose": "gossip"}, ["unknown purpose 'gossip'"], "input.purpose"),
        (
            {"strategy": "BAND", "params": {"edges": ["0"]}},
            ["needs a Date or Decimal field"],
            "input.strategy",
        ),
        ({"params": {"preset": "passport"}}, ["unknown preset 'passport'"], "input.params"),
        ({"params": {"keep_first": -2}}, ["keep_first must be a whole number"], "input.params"),
        ({"params": [1, 2]}, ["params must be a JSON object"], "input.params"),
        ({"params": "{oops"}, ["params must be a JSON object"], "input.params"),
        (
            {"object": "Enterprise.annualRevenue", "strategy": "HASH"},
            ["strategy 'hash' needs a String field, not Decimal"],
            "input.strategy",
        ),
        (
            {
                "object": "Enterprise.annualRevenue",
                "strategy": "BAND",
                "params": {"edges": ["9", "1"]},
            },
            ["ascending"],
            "input.params",
        ),
    ],
)
async def test_bad_policies_are_refused_with_the_problem_named(
    gql: GraphQLClient,
    officers: dict[str, Any],
    input: dict[str, Any],
    problems: list[str],
    field: str,
) -> None:
    # given
    policy = {"object": PHONE, "role": "LOAN_OFFICER", "strategy": "PARTIAL", **input}

    # when
    refused = await _set(gql, officers["first"], **policy)

    # then
    assert refused["__typename"] == "InvalidInput"
    assert refused["code"] == "BAD_USER_INPUT"
    assert refused["field"] == field
    for problem in problems:
        assert problem in refused["message"]
    assert (await gql.as_(officers["first"]).data(LIST))["maskingPolicies"] == []


@pytest.mark.parametrize(
    ("input", "name"),
    [
        ({"role": "janitor"}, "role"),
        ({"role": "loan_officer"}, "role"),
        ({"strategy": "shuffle"}, "strategy"),
    ],
)
async def test_roles_and_strategies_are_the_schemas_enums(
    gql: GraphQLClient, officers: dict[str, Any], input: dict[str, Any], name: str
) -> None:
    # given: the stored spelling or an unknown name, not the enum's
    policy = {"object": PHONE, "role": "LOAN_OFFICER", "strategy": "PARTIAL", **input}

    # when
    refused = await gql.as_(officers["first"]).post(SET, {"input": policy})

    # then: refused before it runs, at the variable's path
    assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert f"Variable '$input' has invalid value at .{name}:" in refused["errors"][0]["message"]


async def test_a_policy_is_a_node_by_its_global_id(
    gql: GraphQLClient, officers: dict[str, Any]
) -> None:
    # given
    policy = await _set(gql, officers["first"], object=PHONE, role="LOAN_OFFICER", strategy="HASH")
    query = "query($id: ID!) { node(id: $id) { __typename ... on MaskingPolicy { id version } } }"

    # when
    as_officer = await gql.as_(officers["first"]).data(query, {"id": policy["id"]})
    as_loan_officer = await gql.as_(officers["loan_officer"]).post(query, {"id": policy["id"]})

    # then: the id node(id:) takes; hidden from whoever may not list policies
    assert as_officer["node"] == {"__typename": "MaskingPolicy", "id": policy["id"], "version": 1}
    assert as_loan_officer["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_only_privacy_officers_change_policies_and_only_platform_roles_list_them(
    gql: GraphQLClient, officers: dict[str, Any]
) -> None:
    # given
    await _set(gql, officers["first"], object=PHONE, role="LOAN_OFFICER", strategy="HASH")
    policy = {"object": PHONE, "role": "LOAN_OFFICER", "strategy": "REVEAL"}
    target = {"object": PHONE, "role": "LOAN_OFFICER", "purpose": "*"}

    # when
    by_admin = await gql.as_(officers["admin"]).post(SET, {"input": policy})
    by_loan_officer = await gql.as_(officers["loan_officer"]).post(SET, {"input": policy})
    rollback_by_admin = await gql.as_(officers["admin"]).post(ROLLBACK, {"input": target})
    anonymous = await gql.post(SET, {"input": policy})
    admin_listing = (await gql.as_(officers["admin"]).data(LIST))["maskingPolicies"]
    officer_listing = (await gql.as_(officers["loan_officer"]).data(LIST))["maskingPolicies"]

    # then
    assert by_admin["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert by_loan_officer["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert rollback_by_admin["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert [(p["strategy"], p["status"]) for p in admin_listing] == [("HASH", "ACTIVE")]
    assert officer_listing == []
