"""Onboarding and suspending institutions, managing staff, passwords and sessions,
end to end through the live app."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.identity import people, security
from domain.identity.models import (
    AuthSession,
    Institution,
    OneTimeToken,
    OutboxMessage,
    Role,
    ServiceAccount,
    TokenPurpose,
    User,
)
from domain.models import AuditEntry
from domain.settings import Settings
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient

PASSWORD = "a long enough passphrase"
NEW_PASSWORD = "another quite long passphrase"

CREATE = """
mutation($input: CreateInstitutionInput!) {
  createInstitution(input: $input) {
    __typename
    ... on Institution {
      id code name kind region
      profile { licenceNumber regions fourEyesThreshold contactName contactEmail contactPhone
                suspended suspendedAt suspensionReason }
    }
    ... on InvalidInput { code message field }
    ... on Conflict { code message }
  }
}
"""
CONFIGURE = """
mutation($input: ConfigureInstitutionInput!) {
  configureInstitution(input: $input) {
    __typename
    ... on Institution { name profile { regions fourEyesThreshold licenceNumber } }
    ... on InvalidInput { code field }
  }
}
"""
SUSPEND = """
mutation($id: ID!, $reason: String!) {
  suspendInstitution(input: { institutionId: $id, reason: $reason }) {
    __typename
    ... on Institution { profile { suspended suspensionReason } }
    ... on Conflict { code }
    ... on InvalidInput { code field }
  }
}
"""
REACTIVATE = """
mutation($id: ID!) {
  reactivateInstitution(input: { institutionId: $id }) {
    __typename
    ... on Institution { profile { suspended } }
    ... on Conflict { code }
  }
}
"""
CATALOG = "{ products(first: 50) { totalCount edges { node { id } } } }"
PROFILE = "query($id: ID!) { node(id: $id) { ... on Institution { code profile { suspended } } } }"
STAFF = """
query($id: ID!) {
  institutionStaff(institutionId: $id, first: 10) {
    totalCount
    edges { node { userId email status roles { role institutionCode } } }
  }
}
"""
DISABLE = """
mutation($id: ID!) {
  disableUser(input: { userId: $id, reason: "left the bank" }) {
    __typename
    ... on AccountStatusChanged { status }
    ... on Conflict { code }
    ... on InvalidInput { code field }
  }
}
"""
ENABLE = """
mutation($id: ID!) {
  enableUser(input: { userId: $id }) {
    __typename
    ... on AccountStatusChanged { status }
    ... on Conflict { code }
  }
}
"""
GRANT = """
mutation($input: RoleChangeInput!) {
  grantRole(input: $input) {
    __typename
    ... on RoleChanged { roles { role institutionCode } }
    ... on RoleGrantChange { id status }
    ... on Conflict { code }
    ... on InvalidInput { code field }
  }
}
"""
REVOKE = GRANT.replace("grantRole", "revokeRole")
APPROVE_GRANT = """
mutation($id: ID!) {
  approveRoleGrant(input: { id: $id }) { __typename ... on RoleGrantChange { status } }
}
"""
REVOKE_SESSIONS = """
mutation($id: ID!) {
  revokeUserSessions(input: { userId: $id }) { __typename ... on SessionsEnded { count } }
}
"""
ME = "{ me { email roles { role institutionCode } } }"
CHANGE = """
mutation($current: String!, $new: String!) {
  changePassword(input: { currentPassword: $current, newPassword: $new }) {
    __typename
    ... on InvalidCredentials { code }
    ... on InvalidInput { code field }
  }
}
"""
REQUEST_RESET = """
mutation($email: String!) {
  requestPasswordReset(input: { email: $email }) {
    __typename
    ... on PasswordResetRequested { email }
  }
}
"""
RESET = """
mutation($token: String!, $new: String!) {
  resetPassword(input: { token: $token, newPassword: $new }) {
    __typename
    ... on PasswordChanged { changed }
    ... on InvalidToken { code }
    ... on InvalidInput { code field }
  }
}
"""
LOGIN = """
mutation($email: String!, $password: String!) {
  login(input: { email: $email, password: $password }) {
    __typename
    ... on LoginSuccess { accessToken }
  }
}
"""
SESSIONS = "{ mySessions { sessionId createdAt clientAddress current } }"
END = """
mutation($id: ID!) {
  endSession(input: { sessionId: $id }) {
    __typename
    ... on SessionsEnded { count }
    ... on Conflict { code }
  }
}
"""


def _new_institution(**overrides: Any) -> dict[str, Any]:
    return {
        "input": {
            "code": "NB001",
            "name": "New Bank",
            "kind": "BANK",
            "region": "Zhejiang",
            "regions": ["Zhejiang", "Jiangsu"],
            "licenceNumber": "B0001H233010001",
            "fourEyesThreshold": "300000",
            "contact": {"name": "Li Na", "email": "li.na@newbank.test", "phone": "13900001111"},
            **overrides,
        }
    }


async def _audit(db: AsyncEngine, action: str) -> list[AuditEntry]:
    async with session_factory(db)() as s:
        return list((await s.scalars(select(AuditEntry).where(AuditEntry.action == action))).all())


async def _status_of(http: httpx.AsyncClient, token: str) -> int:
    response = await http.post(
        "/graphql", json={"query": ME}, headers={"authorization": f"Bearer {token}"}
    )
    return response.status_code


async def test_a_platform_admin_onboards_and_configures_an_institution_with_audit(
    admin_gql: GraphQLClient, gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # when
    created = (await admin_gql.data(CREATE, _new_institution()))["createInstitution"]

    # then: the admin sees the set-up, the contact opened for platform oversight
    assert created["__typename"] == "Institution", created
    assert (created["code"], created["kind"]) == ("NB001", "BANK")
    assert created["profile"] == {
        "licenceNumber": "B0001H233010001",
        "regions": ["Jiangsu", "Zhejiang"],
        "fourEyesThreshold": "300000.00",
        "contactName": "Li Na",
        "contactEmail": "li.na@newbank.test",
        "contactPhone": "13900001111",
        "suspended": False,
        "suspendedAt": None,
        "suspensionReason": None,
    }
    async with session_factory(db)() as s:
        row = await s.scalar(select(Institution).where(Institution.code == "NB001"))
    assert row is not None
    assert "13900001111" not in str(row.contact_phone)  # sealed at rest
    assert "Li Na" not in str(row.contact_name)
    assert len(await _audit(db, "institution.created")) == 1

    # when: a second with the same code, one with bad values, and a change
    again = (await admin_gql.data(CREATE, _new_institution(name="Other")))["createInstitution"]
    bad = (await admin_gql.data(CREATE, _new_institution(code="x", regions=[""])))[
        "createInstitution"
    ]
    changed = (
        await admin_gql.data(
            CONFIGURE,
            {"input": {"institutionId": created["id"], "regions": ["Anhui"], "name": "New Bank 2"}},
        )
    )["configureInstitution"]

    # then
    assert again["__typename"] == "Conflict"
    assert (bad["__typename"], bad["field"]) == ("InvalidInput", "input.code")
    assert "regions" in bad["message"]
    assert changed == {
        "__typename": "Institution",
        "name": "New Bank 2",
        "profile": {
            "regions": ["Anhui"],
            "fourEyesThreshold": "300000.00",
            "licenceNumber": "B0001H233010001",
        },
    }
    [entry] = await _audit(db, "institution.configured")
    assert entry.detail["changed"] == ["name", "regions"]

    # and: anyone else sees the institution but not its set-up; only admins onboard
    public = await gql.data(PROFILE, {"id": created["id"]})
    assert public["node"] == {"code": "NB001", "profile": None}
    async with session_factory(db)() as s, s.begin():
        officer = await f.user(s, roles=[(Role.LOAN_OFFICER, row.id)])
        token = await f.access_token(s, settings, officer)
    refused = await gql.as_(token).post(CREATE, _new_institution(code="NB002"))
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_an_institution_admin_sees_its_profile_with_the_contact_masked(
    admin_gql: GraphQLClient, gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    created = (await admin_gql.data(CREATE, _new_institution()))["createInstitution"]
    async with session_factory(db)() as s, s.begin():
        bank = await s.scalar(select(Institution).where(Institution.code == "NB001"))
        assert bank is not None
        other = await f.institution(s)
        admin = await f.user(s, roles=[(Role.INSTITUTION_ADMIN, bank.id)])
        stranger = await f.user(s, roles=[(Role.INSTITUTION_ADMIN, other.id)])
        token = await f.access_token(s, settings, admin)
        stranger_token = await f.access_token(s, settings, stranger)
    query = """
    query($id: ID!) { node(id: $id) { ... on Institution { profile { contactPhone regions } } } }
    """

    # when
    own = await gql.as_(token).data(query, {"id": created["id"]})
    foreign = await gql.as_(stranger_token).data(query, {"id": created["id"]})

    # then
    assert own["node"]["profile"] == {
        "contactPhone": "139****1111",
        "regions": ["Jiangsu", "Zhejiang"],
    }
    assert foreign["node"]["profile"] is None


async def test_suspending_hides_products_and_locks_out_staff_and_systems_until_reactivated(
    admin_gql: GraphQLClient,
    gql: GraphQLClient,
    http: httpx.AsyncClient,
    db: AsyncEngine,
    settings: Settings,
) -> None:
    # given: a bank with a product, an officer signed in and a partner system with credentials
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        other = await f.institution(s)
        await f.product(s, institution_id=bank.id)
        kept = await f.product(s, institution_id=other.id)
        officer = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        token = await f.access_token(s, settings, officer)
        s.add(
            ServiceAccount(
                institution_id=bank.id,
                name="core",
                client_id="bank-core",
                secret_hash=security.hash_password("s" * 24),
                scopes=["loans:read"],
            )
        )
    bank_id = f.global_id("Institution", bank.id)
    credentials = {"grant_type": "client_credentials", "scope": "loans:read"}
    issued = await http.post("/oauth/token", data=credentials, auth=("bank-core", "s" * 24))
    service_token = issued.json()["access_token"]
    assert (await gql.data(CATALOG))["products"]["totalCount"] == 2
    assert await _status_of(http, token) == 200

    # when
    suspended = (await admin_gql.data(SUSPEND, {"id": bank_id, "reason": "licence under review"}))[
        "suspendInstitution"
    ]

    # then: its products are gone, its officer and system locked out, new tokens refused
    assert suspended["profile"] == {"suspended": True, "suspensionReason": "licence under review"}
    catalog = (await gql.data(CATALOG))["products"]
    assert catalog["totalCount"] == 1
    assert [e["node"]["id"] for e in catalog["edges"]] == [f.global_id("Product", kept.id)]
    assert await _status_of(http, token) == 401
    assert await _status_of(http, service_token) == 401
    again = await http.post("/oauth/token", data=credentials, auth=("bank-core", "s" * 24))
    assert again.status_code == 401
    twice = (await admin_gql.data(SUSPEND, {"id": bank_id, "reason": "again"}))[
        "suspendInstitution"
    ]
    assert twice["__typename"] == "Conflict"

    # when: reactivated
    back = (await admin_gql.data(REACTIVATE, {"id": bank_id}))["reactivateInstitution"]

    # then
    assert back["profile"] == {"suspended": False}
    assert (await gql.data(CATALOG))["products"]["totalCount"] == 2
    assert await _status_of(http, token) == 200
    assert await _status_of(http, service_token) == 200
    assert [
        len(await _audit(db, a)) for a in ("institution.suspended", "institution.reactivated")
    ] == [1, 1]


async def test_an_institution_admin_manages_its_staff_and_no_one_else(
    gql: GraphQLClient, http: httpx.AsyncClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: two banks, an admin of each, an officer of the first signed in
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        other = await f.institution(s)
        admin = await f.user(s, roles=[(Role.INSTITUTION_ADMIN, bank.id)])
        officer = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        foreign_admin = await f.user(s, roles=[(Role.INSTITUTION_ADMIN, other.id)])
        second_admin = await f.user(s, roles=[(Role.INSTITUTION_ADMIN, bank.id)])
        second_token = await f.access_token(s, settings, second_admin)
        token = await f.access_token(s, settings, admin)
        officer_token = await f.access_token(s, settings, officer)
        foreign_token = await f.access_token(s, settings, foreign_admin)
    mine, theirs = gql.as_(token), gql.as_(foreign_token)
    officer_id = f.global_id("User", officer.id)
    bank_id = f.global_id("Institution", bank.id)

    # when: each admin lists the first bank's staff
    listed = (await mine.data(STAFF, {"id": bank_id}))["institutionStaff"]
    foreign = (await theirs.data(STAFF, {"id": bank_id}))["institutionStaff"]

    # then
    assert listed["totalCount"] == 3  # two admins and the officer
    by_id = {e["node"]["userId"]: e["node"] for e in listed["edges"]}
    assert by_id[officer_id]["roles"] == [{"role": "LOAN_OFFICER", "institutionCode": bank.code}]
    assert by_id[officer_id]["email"] != f.email_of(officer)  # masked for a colleague
    assert foreign == {"totalCount": 0, "edges": []}

    # when: the other bank's admin tries to act on the officer
    refused = await theirs.post(DISABLE, {"id": officer_id})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    # when: the bank's admin disables the officer
    disabled = (await mine.data(DISABLE, {"id": officer_id}))["disableUser"]

    # then: at once locked out; a second disable is a conflict; re-enabled signs in again
    assert disabled == {"__typename": "AccountStatusChanged", "status": "DISABLED"}
    assert await _status_of(http, officer_token) == 401
    assert (await mine.data(DISABLE, {"id": officer_id}))["disableUser"]["__typename"] == "Conflict"
    enabled = (await mine.data(ENABLE, {"id": officer_id}))["enableUser"]
    assert enabled["status"] == "ACTIVE"
    async with session_factory(db)() as s, s.begin():
        officer_token = await f.access_token(s, settings, officer)
    assert await _status_of(http, officer_token) == 200

    # when: a role granted (a second admin approves it), then the old one revoked
    role = {"userId": officer_id, "institutionId": bank_id}
    granted = (await mine.data(GRANT, {"input": {**role, "role": "RISK_OFFICER"}}))["grantRole"]
    assert granted["status"] == "PENDING"
    approved = await gql.as_(second_token).data(APPROVE_GRANT, {"id": granted["id"]})
    assert approved["approveRoleGrant"]["status"] == "ACTIVE"
    revoked = (await mine.data(REVOKE, {"input": {**role, "role": "LOAN_OFFICER"}}))["revokeRole"]

    # then: the officer's own view changes from the next request
    assert revoked["roles"] == [{"role": "RISK_OFFICER", "institutionCode": bank.code}]
    me = (await gql.as_(officer_token).data(ME))["me"]
    assert me["roles"] == [{"role": "RISK_OFFICER", "institutionCode": bank.code}]

    # and: platform roles, one's own roles and roles not held are refused
    platform = await mine.post(GRANT, {"input": {"userId": officer_id, "role": "PLATFORM_ADMIN"}})
    assert platform["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    own = (
        await mine.data(
            REVOKE,
            {
                "input": {
                    "userId": f.global_id("User", admin.id),
                    "institutionId": bank_id,
                    "role": "INSTITUTION_ADMIN",
                }
            },
        )
    )["revokeRole"]
    assert (own["__typename"], own["field"]) == ("InvalidInput", "input.userId")
    missing = (await mine.data(REVOKE, {"input": {**role, "role": "LOAN_OFFICER"}}))["revokeRole"]
    assert missing["__typename"] == "Conflict"
    wrong = (await mine.data(GRANT, {"input": {**role, "role": "AUDITOR"}}))["grantRole"]
    assert (wrong["__typename"], wrong["field"]) == ("InvalidInput", "input.role")

    # when: every session of the officer is ended
    ended = (await mine.data(REVOKE_SESSIONS, {"id": officer_id}))["revokeUserSessions"]
    assert ended == {"__typename": "SessionsEnded", "count": 1}  # disabling ended the first
    assert await _status_of(http, officer_token) == 401
    actions = ("user.disabled", "user.enabled", "role.granted", "role.revoked", "sessions.revoked")
    assert [len(await _audit(db, a)) for a in actions] == [1, 1, 1, 1, 1]


async def _owner(db: AsyncEngine, settings: Settings) -> tuple[User, str, str]:
    async with session_factory(db)() as s, s.begin():
        owner = await f.user(s, password=PASSWORD, roles=[(Role.SME_OWNER, None)])
        first = await f.access_token(s, settings, owner)
        second = await f.access_token(s, settings, owner)
    return owner, first, second


async def test_changing_the_password_ends_the_other_sessions(
    gql: GraphQLClient, http: httpx.AsyncClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: an owner signed in twice
    owner, first, second = await _owner(db, settings)

    # when
    wrong = await gql.as_(first).data(CHANGE, {"current": "not it at all!!", "new": NEW_PASSWORD})
    weak = await gql.as_(first).data(CHANGE, {"current": PASSWORD, "new": "short"})
    changed = await gql.as_(first).data(CHANGE, {"current": PASSWORD, "new": NEW_PASSWORD})

    # then
    assert wrong["changePassword"] == {
        "__typename": "InvalidCredentials",
        "code": "INVALID_CREDENTIALS",
    }
    assert weak["changePassword"] == {
        "__typename": "InvalidInput",
        "code": "BAD_USER_INPUT",
        "field": "input.newPassword",
    }
    assert changed["changePassword"] == {"__typename": "PasswordChanged"}
    assert await _status_of(http, first) == 200
    assert await _status_of(http, second) == 401
    email = f.email_of(owner)
    old = await gql.data(LOGIN, {"email": email, "password": PASSWORD})
    new = await gql.data(LOGIN, {"email": email, "password": NEW_PASSWORD})
    assert old["login"]["__typename"] == "InvalidCredentials"
    assert new["login"]["__typename"] == "LoginSuccess"


async def _reset_token(db: AsyncEngine, user: User) -> str:
    async with session_factory(db)() as s:
        message = await s.scalar(
            select(OutboxMessage)
            .where(OutboxMessage.user_id == user.id, OutboxMessage.subject.contains("Reset"))
            .order_by(OutboxMessage.created_at.desc())
            .limit(1)
        )
        assert message is not None
        [(_, body)] = await people.read_mail(s, f.KEYS, [message])
    match = re.search(r"once\): (\S+)\.", body)
    assert match, body
    return match.group(1)


async def test_a_password_is_reset_through_the_outbox_once_and_every_session_ends(
    gql: GraphQLClient, http: httpx.AsyncClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    owner, first, _ = await _owner(db, settings)
    email = f.email_of(owner)

    # when: a reset is asked for a known and an unknown address
    known = await gql.data(REQUEST_RESET, {"email": email.upper()})
    unknown = await gql.data(REQUEST_RESET, {"email": "nobody@example.test"})

    # then: the same answer; one token, kept only as its digest
    assert known["requestPasswordReset"] == {"__typename": "PasswordResetRequested", "email": email}
    assert unknown["requestPasswordReset"]["__typename"] == "PasswordResetRequested"
    token = await _reset_token(db, owner)
    async with session_factory(db)() as s:
        [stored] = (
            await s.scalars(
                select(OneTimeToken).where(OneTimeToken.purpose == TokenPurpose.PASSWORD_RESET)
            )
        ).all()
    assert stored.token_hash == security.digest(token) != token

    # when: a weak password, then a good one, then the token again
    weak = (await gql.data(RESET, {"token": token, "new": "short"}))["resetPassword"]
    reset = (await gql.data(RESET, {"token": token, "new": NEW_PASSWORD}))["resetPassword"]
    replay = (await gql.data(RESET, {"token": token, "new": NEW_PASSWORD + "!"}))["resetPassword"]

    # then: the weak one spent nothing; the token works once; sessions ended
    assert (weak["__typename"], weak["field"]) == ("InvalidInput", "input.newPassword")
    assert reset == {"__typename": "PasswordChanged", "changed": True}
    assert replay == {"__typename": "InvalidToken", "code": "INVALID_TOKEN"}
    assert await _status_of(http, first) == 401
    login = await gql.data(LOGIN, {"email": email, "password": NEW_PASSWORD})
    assert login["login"]["__typename"] == "LoginSuccess"


async def test_a_user_lists_and_ends_its_own_sessions_only(
    gql: GraphQLClient, http: httpx.AsyncClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: an owner signed in twice, and someone else
    _, first, second = await _owner(db, settings)
    _, stranger, _ = await _owner(db, settings)

    # when
    listed = (await gql.as_(first).data(SESSIONS))["mySessions"]

    # then
    assert len(listed) == 2
    assert [s["current"] for s in listed].count(True) == 1
    other = next(s for s in listed if not s["current"])

    # when: a stranger tries to end it, then its holder does
    foreign = await gql.as_(stranger).post(END, {"id": other["sessionId"]})
    ended = (await gql.as_(first).data(END, {"id": other["sessionId"]}))["endSession"]

    # then
    assert foreign["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert ended == {"__typename": "SessionsEnded", "count": 1}
    assert await _status_of(http, second) == 401
    assert await _status_of(http, first) == 200
    assert len((await gql.as_(first).data(SESSIONS))["mySessions"]) == 1
    async with session_factory(db)() as s:
        reasons = (await s.scalars(select(AuthSession.revoked_reason))).all()
    assert sorted(r or "" for r in reasons) == ["", "", "", "ended_by_user"]
