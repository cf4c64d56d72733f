"""Platform admins change the policy through the API; every worker applies it at once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.app import create_app
from domain.identity.authorization import DEFAULT_POLICY_PATH, parse_policy
from domain.models import AuditEntry, PolicyRule, Role
from domain.settings import Settings
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient

ADD = """
mutation($input: AddPolicyRuleInput!) {
  addPolicyRule(input: $input) {
    __typename
    ... on AuthorizationRule { id subject domain object action effect }
    ... on InvalidInput { code message }
  }
}
"""
REMOVE = """
mutation($id: ID!) {
  removePolicyRule(input: { id: $id }) {
    __typename ... on AuthorizationRule { id } ... on PolicyChange { id status }
  }
}
"""
APPROVE = """
mutation($id: ID!) {
  approvePolicyChange(input: { id: $id }) { __typename ... on PolicyChange { status } }
}
"""
PHONES = "{ enterprises { edges { node { contactPhone } } } }"


@pytest.fixture
async def second_worker(settings: Settings, db: AsyncEngine) -> AsyncIterator[GraphQLClient]:
    """Another process's app: its own authorizer, the same database."""
    transport = httpx.ASGITransport(app=create_app(settings, engine=db))
    async with httpx.AsyncClient(transport=transport, base_url="http://worker-2") as client:
        yield GraphQLClient(client)


async def test_the_migrated_policy_is_the_default_policy(db: AsyncEngine) -> None:
    # given
    expected = sorted((*r, "", "", "")[:6] for r in parse_policy(DEFAULT_POLICY_PATH.read_text()))

    # when
    async with session_factory(db)() as s:
        rows = (await s.scalars(select(PolicyRule))).all()

    # then
    assert sorted((r.ptype, r.v0, r.v1, r.v2, r.v3, r.v4) for r in rows) == expected


async def test_a_deny_added_by_an_admin_applies_at_once_on_every_worker_and_is_audited(
    gql: GraphQLClient, second_worker: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: an officer who reads phone numbers on both workers
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        product = await f.product(s, institution_id=bank.id)
        # an active loan with the bank: the lawful basis for its officers to see the phone
        await f.loan(
            s,
            application_row=await f.application(
                s, enterprise_id=(await f.enterprise(s)).id, product_row=product
            ),
        )
        officer = await f.access_token(
            s, settings, await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        )
        admin, checker = [
            await f.access_token(s, settings, await f.user(s, roles=[(Role.PLATFORM_ADMIN, None)]))
            for _ in range(2)
        ]
    before = await second_worker.as_(officer).data(PHONES)

    # when: worker 1 takes the change; worker 2 is asked next
    added = (
        await gql.as_(admin).data(
            ADD,
            {
                "input": {
                    "role": "loan_officer",
                    "domain": bank.code,
                    "object": "Enterprise.contactPhone",
                    "action": "READ",
                    "effect": "DENY",
                }
            },
        )
    )["addPolicyRule"]
    after = await second_worker.as_(officer).post(PHONES)
    # removing a deny widens access again: a second admin approves it
    removed = await gql.as_(admin).data(REMOVE, {"id": added["id"]})
    still_denied = await second_worker.as_(officer).post(PHONES)
    approved = await gql.as_(checker).data(APPROVE, {"id": removed["removePolicyRule"]["id"]})
    restored = await second_worker.as_(officer).data(PHONES)

    # then
    assert before["enterprises"]["edges"][0]["node"]["contactPhone"] == "13812345678"
    assert added["__typename"] == "AuthorizationRule"
    assert (added["domain"], added["effect"]) == (bank.code, "deny")
    assert after["data"]["enterprises"]["edges"][0]["node"]["contactPhone"] is None
    assert after["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert removed["removePolicyRule"]["__typename"] == "PolicyChange"
    assert still_denied["data"]["enterprises"]["edges"][0]["node"]["contactPhone"] is None
    assert approved["approvePolicyChange"]["status"] == "ACTIVE"
    assert restored == before
    async with session_factory(db)() as s:
        actions = (
            await s.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.action.like("policy.%"))
                .order_by(AuditEntry.id)
            )
        ).all()
    assert actions == [
        "policy.rule_added",
        "policy.change_proposed",
        "policy.change_proposed",
        "policy.rule_removed",
        "policy.change_approved",
    ]


async def test_only_platform_admins_change_the_policy_and_bad_rules_are_named(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        inst_admin = await f.access_token(
            s, settings, await f.user(s, roles=[(Role.INSTITUTION_ADMIN, bank.id)])
        )
        admin = await f.access_token(
            s, settings, await f.user(s, roles=[(Role.PLATFORM_ADMIN, None)])
        )
    rule = {"role": "loan_officer", "object": "Enterprise.name", "action": "READ"}

    # when
    not_admin = await gql.as_(inst_admin).post(ADD, {"input": rule})
    bad = (
        await gql.as_(admin).data(
            ADD,
            {"input": {"role": "janitor", "domain": "NOPE", "object": "a b", "action": "READ"}},
        )
    )["addPolicyRule"]
    listing = await gql.as_(admin).data("{ authorizationRules { subject object action } }")

    # then
    assert not_admin["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert bad["__typename"] == "InvalidInput"
    assert "unknown role 'janitor'" in bad["message"]
    assert "unknown institution code 'NOPE'" in bad["message"]
    assert "Type.field" in bad["message"]
    assert {"subject": "sme_owner", "object": "Mutation.createEnterprise", "action": "write"} in (
        listing["authorizationRules"]
    )


async def test_rules_name_the_specialised_connection_types(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: a deny on one connection type's field only
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        officer = await f.access_token(
            s, settings, await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        )
        admin = await f.access_token(
            s, settings, await f.user(s, roles=[(Role.PLATFORM_ADMIN, None)])
        )
    rule = {
        "role": "loan_officer",
        "object": "ApplicationConnection.totalCount",
        "action": "READ",
        "effect": "DENY",
    }
    assert (await gql.as_(admin).data(ADD, {"input": rule}))["addPolicyRule"]["object"] == (
        "ApplicationConnection.totalCount"
    )

    # when
    denied = await gql.as_(officer).post("{ applications { totalCount } }")
    other = await gql.as_(officer).post("{ enterprises { totalCount } }")

    # then
    assert [(e["path"], e["extensions"]["code"]) for e in denied["errors"]] == [
        (["applications", "totalCount"], "FORBIDDEN")
    ]
    assert other == {"data": {"enterprises": {"totalCount": 0}}, "extensions": other["extensions"]}
