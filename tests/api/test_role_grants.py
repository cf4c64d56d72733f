"""Role grants under four eyes: a grant waits for a second admin of the same scope, a
revocation applies at once, a rejection leaves nothing (domain.identity.role_grants)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.identity.models import Membership, Role, RoleGrantChange
from domain.settings import Settings
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient

GRANT = """
mutation($input: RoleChangeInput!) {
  grantRole(input: $input) {
    __typename
    ... on RoleChanged { roles { role } }
    ... on RoleGrantChange { id status role user { id } createdBy { id } decidedBy { id } }
    ... on Conflict { code }
  }
}
"""
REVOKE = """
mutation($input: RoleChangeInput!) {
  revokeRole(input: $input) { __typename ... on RoleChanged { roles { role } } }
}
"""
DECIDE = """
mutation($id: ID!, $approve: Boolean!) {
  approveRoleGrant(input: { id: $id, approve: $approve }) {
    __typename
    ... on RoleGrantChange { status decidedBy { id } }
    ... on Conflict { code }
    ... on InvalidInput { code field }
  }
}
"""
LIST = "query($p: Boolean!) { roleGrantChanges(pendingOnly: $p) { id status role } }"
NODE = "query($id: ID!) { node(id: $id) { __typename ... on RoleGrantChange { status } } }"
ME = "{ me { roles { role } } }"


def _codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


async def _roles(db: AsyncEngine, user_id: Any) -> set[Role]:
    async with session_factory(db)() as s:
        rows = await s.scalars(select(Membership.role).where(Membership.user_id == user_id))
        return set(rows.all())


async def test_a_grant_waits_for_a_second_admin_of_the_same_institution(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: a bank with two admins and an officer; another bank's admin
    async with session_factory(db)() as s, s.begin():
        bank, other = await f.institution(s), await f.institution(s)
        maker = await f.user(s, roles=[(Role.INSTITUTION_ADMIN, bank.id)])
        checker = await f.user(s, roles=[(Role.INSTITUTION_ADMIN, bank.id)])
        foreign = await f.user(s, roles=[(Role.INSTITUTION_ADMIN, other.id)])
        officer = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        tokens = [await f.access_token(s, settings, u) for u in (maker, checker, foreign, officer)]
    as_maker, as_checker, as_foreign, as_officer = (gql.as_(t) for t in tokens)
    role = {
        "userId": f.global_id("User", officer.id),
        "institutionId": f.global_id("Institution", bank.id),
    }

    # when: the maker grants the officer the institution admin role
    proposed = (await as_maker.data(GRANT, {"input": {**role, "role": "INSTITUTION_ADMIN"}}))[
        "grantRole"
    ]

    # then: it waits; the officer holds nothing new, even on the next request
    assert (proposed["__typename"], proposed["status"]) == ("RoleGrantChange", "PENDING")
    assert proposed["createdBy"] == {"id": f.global_id("User", maker.id)}
    assert proposed["user"] == {"id": f.global_id("User", officer.id)}
    assert await _roles(db, officer.id) == {Role.LOAN_OFFICER}
    assert (await as_officer.data(ME))["me"]["roles"] == [{"role": "LOAN_OFFICER"}]
    again = await as_maker.data(GRANT, {"input": {**role, "role": "INSTITUTION_ADMIN"}})
    assert again["grantRole"]["__typename"] == "Conflict"  # the same grant waits already

    # when: the maker approves their own; the other bank's admin and the officer try
    own = await as_maker.post(DECIDE, {"id": proposed["id"], "approve": True})
    foreign_try = await as_foreign.post(DECIDE, {"id": proposed["id"], "approve": True})
    officer_try = await as_officer.post(DECIDE, {"id": proposed["id"], "approve": True})

    # then: all refused; the other bank's admin does not even see it
    assert _codes(own) == ["FORBIDDEN"]  # the maker is never the checker
    assert _codes(foreign_try) == ["NOT_FOUND"]
    assert _codes(officer_try) == ["FORBIDDEN"]
    assert (await as_foreign.data(LIST, {"p": True}))["roleGrantChanges"] == []
    assert _codes(await as_foreign.post(NODE, {"id": proposed["id"]})) == ["NOT_FOUND"]
    listed = (await as_checker.data(LIST, {"p": True}))["roleGrantChanges"]
    assert [c["id"] for c in listed] == [proposed["id"]]
    assert await _roles(db, officer.id) == {Role.LOAN_OFFICER}

    # when: the second admin approves
    approved = (await as_checker.data(DECIDE, {"id": proposed["id"], "approve": True}))[
        "approveRoleGrant"
    ]

    # then: the officer holds the role from the next request; a second decision conflicts
    assert approved == {
        "__typename": "RoleGrantChange",
        "status": "ACTIVE",
        "decidedBy": {"id": f.global_id("User", checker.id)},
    }
    assert await _roles(db, officer.id) == {Role.LOAN_OFFICER, Role.INSTITUTION_ADMIN}
    twice = await as_checker.data(DECIDE, {"id": proposed["id"], "approve": False})
    assert twice["approveRoleGrant"]["__typename"] == "Conflict"
    assert (await as_checker.data(NODE, {"id": proposed["id"]}))["node"]["status"] == "ACTIVE"

    # when: the maker revokes it again: narrowing applies at once, with no second admin
    revoked = (await as_maker.data(REVOKE, {"input": {**role, "role": "INSTITUTION_ADMIN"}}))[
        "revokeRole"
    ]
    assert revoked == {"__typename": "RoleChanged", "roles": [{"role": "LOAN_OFFICER"}]}
    assert await _roles(db, officer.id) == {Role.LOAN_OFFICER}


async def test_a_rejected_grant_leaves_nothing_and_platform_roles_need_a_platform_admin(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: two platform admins, a bank's admin and a person without roles
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        maker = await f.user(s, roles=[(Role.PLATFORM_ADMIN, None)])
        checker = await f.user(s, roles=[(Role.PLATFORM_ADMIN, None)])
        bank_admin = await f.user(s, roles=[(Role.INSTITUTION_ADMIN, bank.id)])
        person = await f.user(s, roles=[(Role.AUDITOR, None)])
        tokens = [await f.access_token(s, settings, u) for u in (maker, checker, bank_admin)]
    as_maker, as_checker, as_bank_admin = (gql.as_(t) for t in tokens)
    person_id = f.global_id("User", person.id)

    # when: a platform role is proposed; the bank's admin tries to approve it
    proposed = (
        await as_maker.data(GRANT, {"input": {"userId": person_id, "role": "PRIVACY_OFFICER"}})
    )["grantRole"]
    by_bank_admin = await as_bank_admin.post(DECIDE, {"id": proposed["id"], "approve": True})

    # then: the bank's admin neither sees nor decides it
    assert proposed["status"] == "PENDING"
    assert _codes(by_bank_admin) == ["NOT_FOUND"]

    # when: the second platform admin rejects it
    rejected = (await as_checker.data(DECIDE, {"id": proposed["id"], "approve": False}))[
        "approveRoleGrant"
    ]

    # then: nothing is held; the rejection stays on record, and cannot be approved later
    assert rejected["status"] == "REJECTED"
    assert await _roles(db, person.id) == {Role.AUDITOR}
    late = await as_checker.data(DECIDE, {"id": proposed["id"], "approve": True})
    assert late["approveRoleGrant"]["__typename"] == "Conflict"
    assert await _roles(db, person.id) == {Role.AUDITOR}
    async with session_factory(db)() as s:
        statuses = (await s.scalars(select(RoleGrantChange.status))).all()
        memberships = await s.scalar(
            select(func.count()).where(Membership.role == Role.PRIVACY_OFFICER)
        )
    assert list(statuses) == ["rejected"]
    assert memberships == 0
