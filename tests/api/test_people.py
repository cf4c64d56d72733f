"""People as relations: createdBy, actor, assignee and viewer are Users a frontend follows,
batched, under the User's own row rule and disclosure (never more than the viewer may see)."""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from domain.identity.models import Institution, Role, User
from domain.risk.models import RiskAlert
from domain.risk.scan import run_scan
from domain.settings import Settings
from kernel.base import utcnow
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient
from tests.api.test_early_warning import LATE_RULE, UPSERT, Book, book

__all__ = ["book"]  # the fixture, shared with the early-warning tests

T = TypeVar("T")

PERSON = "id displayName roles { role institutionCode }"
POLICIES = f"{{ maskingPolicies {{ object status createdBy {{ {PERSON} }} decidedBy {{ id }} }} }}"
SET_POLICY = """
mutation($object: String!) {
  setMaskingPolicy(input: { object: $object, role: LOAN_OFFICER, strategy: HASH }) {
    __typename
  }
}
"""
LOG = f"""
query($first: Int!) {{
  auditLog(first: $first, filter: {{ entityType: "MaskingPolicy" }}) {{
    edges {{ node {{ action actor {{ {PERSON} }} }} }}
  }}
}}
"""
ALERTS = f"""
{{
  riskAlerts(first: 10) {{
    edges {{ node {{
      id assignee {{ {PERSON} }}
      history {{ kind actor {{ id }} assignee {{ id displayName }} }}
    }} }}
  }}
}}
"""
ASSIGN = """
mutation($input: UpdateRiskAlertInput!) {
  updateRiskAlert(input: $input) {
    __typename
    ... on RiskAlert { assignee { id displayName } }
    ... on UserError { code message }
  }
}
"""


async def _get(session: AsyncSession, entity: type[T], pk: uuid.UUID) -> T:
    row = await session.get(entity, pk)
    assert row is not None
    return row


def _masked(name: str) -> str:
    return name[:1] + "*" * min(len(name) - 1, 6)


@pytest.fixture
async def oversight(db: AsyncEngine, settings: Settings) -> dict[str, Any]:
    """Three privacy officers, an auditor and a loan officer, with their tokens."""
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        people = {
            **{
                f"privacy{n}": await f.user(s, roles=[(Role.PRIVACY_OFFICER, None)])
                for n in (1, 2, 3)
            },
            "auditor": await f.user(s, roles=[(Role.AUDITOR, None)]),
            "officer": await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)]),
        }
        tokens = {k: await f.access_token(s, settings, u) for k, u in people.items()}
    return {"tokens": tokens, "people": people}


async def test_a_privacy_officer_reads_who_set_a_masking_policy(
    gql: GraphQLClient, oversight: dict[str, Any]
) -> None:
    # given: the first officer set a policy (a narrowing: active at once)
    tokens, people = oversight["tokens"], oversight["people"]
    setter = people["privacy1"]
    await gql.as_(tokens["privacy1"]).data(SET_POLICY, {"object": "Enterprise.contactPhone"})

    # when: another privacy officer lists the policies
    listed = (await gql.as_(tokens["privacy2"]).data(POLICIES))["maskingPolicies"]

    # then: who set it, by name and role (platform oversight is their lawful basis)
    assert listed == [
        {
            "object": "Enterprise.contactPhone",
            "status": "ACTIVE",
            "createdBy": {
                "id": f.global_id("User", setter.id),
                "displayName": f.display_name_for(f.email_of(setter)),
                "roles": [{"role": "PRIVACY_OFFICER", "institutionCode": None}],
            },
            "decidedBy": None,
        }
    ]


async def test_an_auditor_reads_who_did_it_in_one_batch_whatever_the_page(
    gql: GraphQLClient, oversight: dict[str, Any]
) -> None:
    # given: three officers each set a policy (three audit entries, three actors)
    tokens, people = oversight["tokens"], oversight["people"]
    for n, field in enumerate(("contactPhone", "contactEmail", "bankAccountNumber"), start=1):
        await gql.as_(tokens[f"privacy{n}"]).data(SET_POLICY, {"object": f"Enterprise.{field}"})
    auditor = gql.as_(tokens["auditor"])
    await auditor.post(LOG, {"first": 1})  # the policy loaded once, as every later request

    # when
    one = await auditor.post(LOG, {"first": 1})
    three = await auditor.post(LOG, {"first": 3})

    # then: each entry names its actor, a User with name and role
    actors = {
        e["node"]["actor"]["id"]: e["node"]["actor"] for e in three["data"]["auditLog"]["edges"]
    }
    assert set(actors) == {f.global_id("User", people[f"privacy{n}"].id) for n in (1, 2, 3)}
    for n in (1, 2, 3):
        row = people[f"privacy{n}"]
        actor = actors[f.global_id("User", row.id)]
        assert actor["displayName"] == f.display_name_for(f.email_of(row))
        assert actor["roles"] == [{"role": "PRIVACY_OFFICER", "institutionCode": None}]
    # and: the people are one batch, not one read per entry
    assert (
        one["extensions"]["debug"]["sqlStatements"]
        == (three["extensions"]["debug"]["sqlStatements"])
    )


async def test_a_loan_officer_learns_nobody_through_the_audit_log(
    gql: GraphQLClient, oversight: dict[str, Any]
) -> None:
    # given
    tokens = oversight["tokens"]
    await gql.as_(tokens["privacy1"]).data(SET_POLICY, {"object": "Enterprise.contactPhone"})

    # when
    seen = await gql.as_(tokens["officer"]).data(LOG, {"first": 10})

    # then
    assert seen["auditLog"]["edges"] == []


async def _alert_of_a(gql: GraphQLClient, db: AsyncEngine, book: Book) -> str:
    await gql.as_(book.tokens["platform"]).data(UPSERT, {"input": LATE_RULE})
    await run_scan(session_factory(db), as_of=utcnow().date())
    listed = await gql.as_(book.tokens["risk_a"]).data(ALERTS)
    (edge,) = listed["riskAlerts"]["edges"]
    return str(edge["node"]["id"])


async def test_a_risk_officer_assigns_an_alert_and_reads_the_assignee(
    gql: GraphQLClient, db: AsyncEngine, book: Book
) -> None:
    # given: bank A's alert
    alert_id = await _alert_of_a(gql, db, book)
    risk = gql.as_(book.tokens["risk_a"])
    me = f.global_id("User", book.ids["risk_a"])
    colleague = f.global_id("User", book.ids["officer_a2"])

    # when: assigned to themselves, then to a colleague
    to_me = await risk.data(
        ASSIGN, {"input": {"alertId": alert_id, "action": "ASSIGN", "assigneeId": me}}
    )
    to_colleague = await risk.data(
        ASSIGN, {"input": {"alertId": alert_id, "action": "ASSIGN", "assigneeId": colleague}}
    )
    listed = await risk.data(ALERTS)

    # then: their own name is theirs to see; a colleague's is masked as any User's name
    # without a lawful basis (staff have none for a colleague's personal data)
    async with session_factory(db)() as s:
        own_name = f.display_name_for(f.email_of(await _get(s, User, book.ids["risk_a"])))
        other_name = f.display_name_for(f.email_of(await _get(s, User, book.ids["officer_a2"])))
        code_a = (await _get(s, Institution, book.loans["a"].institution_id)).code
    assert to_me["updateRiskAlert"]["assignee"] == {"id": me, "displayName": own_name}
    assert to_colleague["updateRiskAlert"]["assignee"] == {
        "id": colleague,
        "displayName": _masked(other_name),
    }
    node = listed["riskAlerts"]["edges"][0]["node"]
    assert node["assignee"]["id"] == colleague
    assert node["assignee"]["roles"] == [{"role": "LOAN_OFFICER", "institutionCode": code_a}]
    assigns = [h for h in node["history"] if h["kind"] == "ASSIGN"]
    assert [(h["actor"], h["assignee"]["id"]) for h in assigns] == [
        ({"id": me}, me),
        ({"id": me}, colleague),
    ]


async def test_a_loan_officer_of_a_cannot_learn_a_user_of_b_through_a_relation(
    gql: GraphQLClient, db: AsyncEngine, book: Book
) -> None:
    # given: bank A's alert, assigned (as a stale row might be) to bank B's officer; and
    # a person who works for both banks
    alert_id = await _alert_of_a(gql, db, book)
    bank_a, bank_b = book.loans["a"].institution_id, book.loans["b"].institution_id
    async with session_factory(db)() as s, s.begin():
        both = await f.user(s, roles=[(Role.LOAN_OFFICER, bank_a), (Role.RISK_OFFICER, bank_b)])
        await s.execute(
            update(RiskAlert)
            .where(RiskAlert.loan_id == book.loans["a"].id)
            .values(assignee_id=book.ids["officer_b"])
        )
        code_a = (await _get(s, Institution, bank_a)).code
    officer = gql.as_(book.tokens["officer_a"])

    # when
    outsider = await officer.data(ALERTS)
    await gql.as_(book.tokens["risk_a"]).data(
        ASSIGN,
        {
            "input": {
                "alertId": alert_id,
                "action": "ASSIGN",
                "assigneeId": f.global_id("User", both.id),
            }
        },
    )
    shared = await officer.data(ALERTS)

    # then: bank B's officer is nobody to bank A's staff, not even by id
    assert outsider["riskAlerts"]["edges"][0]["node"]["assignee"] is None
    # and: of a person in both banks, bank A's staff learn only the role held in bank A
    assert shared["riskAlerts"]["edges"][0]["node"]["assignee"]["roles"] == [
        {"role": "LOAN_OFFICER", "institutionCode": code_a}
    ]
