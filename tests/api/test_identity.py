"""Accounts, sign-in, sessions and tokens, end to end through the live app."""

from __future__ import annotations

import random
import re
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pyotp
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.enterprises.uscc import generate_uscc
from domain.identity import people, security
from domain.models import AuditEntry, Membership, OutboxMessage, Role, User
from domain.settings import Settings
from kernel.base import utcnow
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient

PASSWORD = "a long enough passphrase"
USCC = generate_uscc(random.Random(7), division_code="330106")

REGISTER = """
mutation($input: RegisterInput!) {
  register(input: $input) {
    __typename
    ... on RegistrationPending { email }
    ... on InvalidInput { code message }
  }
}
"""
CONFIRM = """
mutation($token: String!) {
  confirmAccount(input: { token: $token }) {
    __typename
    ... on InvalidToken { code }
  }
}
"""
LOGIN = """
mutation($email: String!, $password: String!) {
  login(input: { email: $email, password: $password }) {
    __typename
    ... on LoginSuccess { accessToken refreshToken tokenType expiresIn recoveryCodes }
    ... on MfaRequired { mfaToken enrollment { secret otpauthUri } }
    ... on InvalidCredentials { code message }
    ... on LoginThrottled { code retryAfterSeconds }
  }
}
"""
VERIFY = """
mutation($input: VerifyMfaInput!) {
  verifyMfa(input: $input) {
    __typename
    ... on LoginSuccess { accessToken refreshToken recoveryCodes }
    ... on InvalidCredentials { code }
  }
}
"""
REFRESH = """
mutation($token: String!) {
  refreshToken(input: { refreshToken: $token }) {
    __typename
    ... on LoginSuccess { accessToken refreshToken }
    ... on InvalidToken { code }
  }
}
"""
ME = "{ me { email displayName status mfaEnabled roles { role institutionCode } } }"
CREATE_ENTERPRISE = """
mutation($input: CreateEnterpriseInput!) {
  createEnterprise(input: $input) {
    __typename
    ... on Enterprise { id name contactPhone }
    ... on InvalidInput { code message }
  }
}
"""


async def _outbox_token(db: AsyncEngine, recipient: str) -> str:
    """The token in the newest mail to ``recipient``, read as the mail sender would."""
    async with session_factory(db)() as s:
        user = await people.find_by_email(s, f.KEYS, recipient)
        assert user is not None, f"no account for {recipient}"
        message = await s.scalar(
            select(OutboxMessage)
            .where(OutboxMessage.user_id == user.id)
            .order_by(OutboxMessage.id.desc())
            .limit(1)
        )
        assert message is not None, f"no mail to {recipient}"
        [(to, body)] = await people.read_mail(s, f.KEYS, [message])
    assert to == recipient
    assert "@" not in message.recipient  # sealed at rest
    match = re.search(r": (\S+)$", body)
    assert match
    return match.group(1)


async def _audit(db: AsyncEngine, action: str) -> list[AuditEntry]:
    async with session_factory(db)() as s:
        return list((await s.scalars(select(AuditEntry).where(AuditEntry.action == action))).all())


def _payload(body: dict[str, Any], field: str) -> dict[str, Any]:
    assert "errors" not in body, body["errors"]
    result: dict[str, Any] = body["data"][field]
    return result


async def test_an_owner_registers_confirms_signs_in_and_sees_only_its_enterprise(
    gql: GraphQLClient, db: AsyncEngine
) -> None:
    # given: someone else's enterprise already exists
    async with session_factory(db)() as s, s.begin():
        await f.enterprise(s, name="Not mine")
    email = "founder@example.test"

    # when
    registered = _payload(
        await gql.post(
            REGISTER, {"input": {"email": email, "password": PASSWORD, "displayName": "Li"}}
        ),
        "register",
    )
    before = _payload(await gql.post(LOGIN, {"email": email, "password": PASSWORD}), "login")
    confirmed = _payload(
        await gql.post(CONFIRM, {"token": await _outbox_token(db, email)}), "confirmAccount"
    )
    login = _payload(await gql.post(LOGIN, {"email": email, "password": PASSWORD}), "login")
    owner = gql.as_(login["accessToken"])
    created = _payload(
        await owner.post(
            CREATE_ENTERPRISE,
            {
                "input": {
                    "name": "Hangzhou Tea Works",
                    "unifiedSocialCreditCode": USCC,
                    "industry": "manufacturing",
                    "region": "Zhejiang",
                    "foundedOn": "2019-04-01",
                    "employeeCount": 12,
                    "contactPhone": "13912345678",
                }
            },
        ),
        "createEnterprise",
    )
    listed = await owner.data("{ enterprises { totalCount edges { node { name } } } }")
    me = await owner.data(ME)

    # then
    assert registered == {"__typename": "RegistrationPending", "email": email}
    assert before["__typename"] == "InvalidCredentials"  # not confirmed yet
    assert confirmed == {"__typename": "AccountConfirmed"}
    assert login["__typename"] == "LoginSuccess"
    assert login["tokenType"] == "Bearer"
    assert created["__typename"] == "Enterprise", created
    assert created["contactPhone"] == "13912345678"  # the owner sees its own data whole
    assert listed["enterprises"]["totalCount"] == 1
    assert listed["enterprises"]["edges"][0]["node"]["name"] == "Hangzhou Tea Works"
    assert me["me"]["roles"] == [{"role": "SME_OWNER", "institutionCode": None}]
    assert [e.action for e in await _audit(db, "user.registered")] == ["user.registered"]
    assert len(await _audit(db, "enterprise.created")) == 1


async def test_a_confirmation_token_works_once(gql: GraphQLClient, db: AsyncEngine) -> None:
    # given
    email = "once@example.test"
    await gql.post(REGISTER, {"input": {"email": email, "password": PASSWORD, "displayName": "A"}})
    token = await _outbox_token(db, email)

    # when
    first = _payload(await gql.post(CONFIRM, {"token": token}), "confirmAccount")
    again = _payload(await gql.post(CONFIRM, {"token": token}), "confirmAccount")

    # then
    assert first["__typename"] == "AccountConfirmed"
    assert again == {"__typename": "InvalidToken", "code": "INVALID_TOKEN"}


async def test_registering_a_taken_address_answers_alike_and_warns_the_owner(
    gql: GraphQLClient, db: AsyncEngine
) -> None:
    # given
    async with session_factory(db)() as s, s.begin():
        await f.user(s, email="taken@example.test", password=PASSWORD)
    variables = {"input": {"email": "taken@example.test", "password": PASSWORD, "displayName": "B"}}

    # when
    answer = _payload(await gql.post(REGISTER, variables), "register")

    # then
    assert answer == {"__typename": "RegistrationPending", "email": "taken@example.test"}
    async with session_factory(db)() as s:
        users = await s.scalar(select(func.count()).select_from(User))
        subjects = (await s.scalars(select(OutboxMessage.subject))).all()
    assert users == 1
    assert subjects == ["Someone tried to register with your address"]


@pytest.mark.parametrize(
    ("password", "complaint"),
    [("short", "at least 12"), ("aaaaaaaaaaaaaaaa", "distinct"), ("my-weakling-2026", "email")],
)
async def test_weak_passwords_are_refused_with_the_reason(
    gql: GraphQLClient, db: AsyncEngine, password: str, complaint: str
) -> None:
    # when
    answer = _payload(
        await gql.post(
            REGISTER,
            {"input": {"email": "weakling@example.test", "password": password, "displayName": "C"}},
        ),
        "register",
    )

    # then
    assert answer["__typename"] == "InvalidInput"
    assert answer["code"] == "BAD_USER_INPUT"
    assert complaint in answer["message"]


async def test_unknown_account_and_wrong_password_answer_the_same_then_lock(
    gql: GraphQLClient, db: AsyncEngine
) -> None:
    # given
    async with session_factory(db)() as s, s.begin():
        await f.user(
            s, email="known@example.test", password=PASSWORD, roles=[(Role.SME_OWNER, None)]
        )

    # when
    unknown = _payload(
        await gql.post(LOGIN, {"email": "nobody@example.test", "password": PASSWORD}), "login"
    )
    wrong = [
        _payload(
            await gql.post(LOGIN, {"email": "known@example.test", "password": "x" * 12}), "login"
        )
        for _ in range(5)
    ]
    right_but_locked = _payload(
        await gql.post(LOGIN, {"email": "known@example.test", "password": PASSWORD}), "login"
    )
    unknown_locked = [
        _payload(
            await gql.post(LOGIN, {"email": "nobody@example.test", "password": "y" * 12}), "login"
        )
        for _ in range(5)
    ]

    # then
    assert unknown == wrong[0]
    assert unknown["__typename"] == "InvalidCredentials"
    assert right_but_locked["__typename"] == "LoginThrottled"
    assert right_but_locked["retryAfterSeconds"] > 0
    assert unknown_locked[-1]["__typename"] == "LoginThrottled"  # unknown addresses lock alike
    assert len(await _audit(db, "login.failed")) == 10


async def _staff_with_password(
    db: AsyncEngine, role: Role, institution_id: uuid.UUID | None, *, enrolled: bool
) -> tuple[str, str | None]:
    secret = pyotp.random_base32() if enrolled else None
    async with session_factory(db)() as s, s.begin():
        user = await f.user(s, password=PASSWORD, roles=[(role, institution_id)], mfa_secret=secret)
    return f.email_of(user), secret


async def test_staff_must_pass_a_second_factor_and_a_code_works_once(
    gql: GraphQLClient, db: AsyncEngine
) -> None:
    # given
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
    email, secret = await _staff_with_password(db, Role.LOAN_OFFICER, bank.id, enrolled=True)
    assert secret is not None

    # when
    challenge = _payload(await gql.post(LOGIN, {"email": email, "password": PASSWORD}), "login")
    code = pyotp.TOTP(secret).now()
    wrong_code = "000000" if code != "000000" else "111111"
    wrong = _payload(
        await gql.post(VERIFY, {"input": {"mfaToken": challenge["mfaToken"], "code": wrong_code}}),
        "verifyMfa",
    )
    passed = _payload(
        await gql.post(VERIFY, {"input": {"mfaToken": challenge["mfaToken"], "code": code}}),
        "verifyMfa",
    )
    replayed = _payload(
        await gql.post(VERIFY, {"input": {"mfaToken": challenge["mfaToken"], "code": code}}),
        "verifyMfa",
    )
    mfa_token_as_access = await gql.http.post(
        "/graphql",
        json={"query": ME},
        headers={"authorization": f"Bearer {challenge['mfaToken']}"},
    )

    # then
    assert challenge["__typename"] == "MfaRequired"
    assert challenge["enrollment"] is None  # already enrolled
    assert wrong["__typename"] == "InvalidCredentials"
    assert passed["__typename"] == "LoginSuccess"
    assert passed["recoveryCodes"] == []
    assert replayed["__typename"] == "InvalidCredentials"
    assert mfa_token_as_access.status_code == 401


async def test_a_totp_secret_is_kept_sealed_and_still_verifies(
    gql: GraphQLClient, db: AsyncEngine
) -> None:
    # given: an officer who has not enrolled yet
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
    email, _ = await _staff_with_password(db, Role.RISK_OFFICER, bank.id, enrolled=False)

    # when: the first sign-in hands out a secret to enrol
    challenge = _payload(await gql.post(LOGIN, {"email": email, "password": PASSWORD}), "login")
    secret = challenge["enrollment"]["secret"]
    async with session_factory(db)() as s:
        user = await people.find_by_email(s, f.KEYS, email)
        assert user is not None
        stored = user.mfa_secret
        opened = await people.mfa_secret(s, f.KEYS, user)
    signed_in = _payload(
        await gql.post(
            VERIFY,
            {"input": {"mfaToken": challenge["mfaToken"], "code": pyotp.TOTP(secret).now()}},
        ),
        "verifyMfa",
    )

    # then: a copy of the database holds no second factor, and the code still works
    assert stored is not None
    assert stored.startswith("v1.")
    assert secret not in stored
    assert opened == secret
    assert signed_in["__typename"] == "LoginSuccess"


async def test_an_invited_officer_enrols_totp_then_sees_only_its_institution(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: an institution admin, and applications routed to two institutions
    async with session_factory(db)() as s, s.begin():
        bank_a, bank_b = await f.institution(s), await f.institution(s)
        admin = await f.user(s, roles=[(Role.INSTITUTION_ADMIN, bank_a.id)])
        admin_token = await f.access_token(s, settings, admin)
        for bank in (bank_a, bank_b):
            product = await f.product(s, institution_id=bank.id)
            enterprise = await f.enterprise(s)
            await f.application(s, enterprise_id=enterprise.id, product_row=product)
    bank_a_id = f.global_id("Institution", bank_a.id)
    invite = """
    mutation($input: InviteStaffInput!) {
      inviteStaff(input: $input) { __typename ... on StaffInvited { email } }
    }
    """
    accept = """
    mutation($input: AcceptInvitationInput!) {
      acceptInvitation(input: $input) { __typename }
    }
    """

    # when
    invited = _payload(
        await gql.as_(admin_token).post(
            invite,
            {
                "input": {
                    "institutionId": bank_a_id,
                    "email": "new@bank.test",
                    "role": "LOAN_OFFICER",
                }
            },
        ),
        "inviteStaff",
    )
    other_bank = await gql.as_(admin_token).post(
        invite,
        {
            "input": {
                "institutionId": f.global_id("Institution", bank_b.id),
                "email": "spy@bank.test",
                "role": "LOAN_OFFICER",
            }
        },
    )
    token = await _outbox_token(db, "new@bank.test")
    accepted = _payload(
        await gql.post(accept, {"input": {"token": token, "password": PASSWORD}}),
        "acceptInvitation",
    )
    challenge = _payload(
        await gql.post(LOGIN, {"email": "new@bank.test", "password": PASSWORD}), "login"
    )
    secret = challenge["enrollment"]["secret"]
    signed_in = _payload(
        await gql.post(
            VERIFY,
            {"input": {"mfaToken": challenge["mfaToken"], "code": pyotp.TOTP(secret).now()}},
        ),
        "verifyMfa",
    )
    officer = gql.as_(signed_in["accessToken"])
    seen = await officer.data("{ applications { edges { node { institution { code } } } } }")
    me = await officer.data(ME)

    # then
    assert invited == {"__typename": "StaffInvited", "email": "new@bank.test"}
    assert other_bank["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert accepted == {"__typename": "InvitationAccepted"}
    assert challenge["enrollment"]["otpauthUri"].startswith("otpauth://totp/")
    assert len(signed_in["recoveryCodes"]) == 10
    assert [e["node"]["institution"]["code"] for e in seen["applications"]["edges"]] == [
        bank_a.code
    ]
    assert me["me"]["mfaEnabled"] is True
    assert me["me"]["roles"] == [{"role": "LOAN_OFFICER", "institutionCode": bank_a.code}]
    assert len(await _audit(db, "role.granted")) == 1
    assert len(await _audit(db, "mfa.enrolled")) == 1


async def test_a_recovery_code_stands_in_for_the_app_once(
    gql: GraphQLClient, db: AsyncEngine
) -> None:
    # given: an officer who enrolled and kept the recovery codes
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
    email, _ = await _staff_with_password(db, Role.RISK_OFFICER, bank.id, enrolled=False)
    first = _payload(await gql.post(LOGIN, {"email": email, "password": PASSWORD}), "login")
    enrolled = _payload(
        await gql.post(
            VERIFY,
            {
                "input": {
                    "mfaToken": first["mfaToken"],
                    "code": pyotp.TOTP(first["enrollment"]["secret"]).now(),
                }
            },
        ),
        "verifyMfa",
    )
    recovery = enrolled["recoveryCodes"][0]

    # when
    uses = []
    for _ in range(2):
        challenge = _payload(await gql.post(LOGIN, {"email": email, "password": PASSWORD}), "login")
        uses.append(
            _payload(
                await gql.post(
                    VERIFY,
                    {
                        "input": {
                            "mfaToken": challenge["mfaToken"],
                            "recoveryCode": recovery.lower(),
                        }
                    },
                ),
                "verifyMfa",
            )["__typename"]
        )

    # then
    assert uses == ["LoginSuccess", "InvalidCredentials"]


async def _signed_in_owner(gql: GraphQLClient, db: AsyncEngine) -> dict[str, Any]:
    async with session_factory(db)() as s, s.begin():
        user = await f.user(s, password=PASSWORD, roles=[(Role.SME_OWNER, None)])
    return _payload(
        await gql.post(LOGIN, {"email": f.email_of(user), "password": PASSWORD}), "login"
    )


async def test_refresh_rotates_and_a_replayed_token_ends_the_whole_session(
    gql: GraphQLClient, db: AsyncEngine
) -> None:
    # given
    login = await _signed_in_owner(gql, db)

    # when
    rotated = _payload(await gql.post(REFRESH, {"token": login["refreshToken"]}), "refreshToken")
    replayed = _payload(await gql.post(REFRESH, {"token": login["refreshToken"]}), "refreshToken")
    after_replay = _payload(
        await gql.post(REFRESH, {"token": rotated["refreshToken"]}), "refreshToken"
    )
    access = await gql.http.post(
        "/graphql",
        json={"query": ME},
        headers={"authorization": f"Bearer {rotated['accessToken']}"},
    )

    # then
    assert rotated["__typename"] == "LoginSuccess"
    assert rotated["refreshToken"] != login["refreshToken"]
    assert replayed == {"__typename": "InvalidToken", "code": "INVALID_TOKEN"}
    assert after_replay == {"__typename": "InvalidToken", "code": "INVALID_TOKEN"}
    assert access.status_code == 401  # the session the tokens belonged to is over
    assert len(await _audit(db, "token.refresh_reused")) == 1


async def test_logout_ends_the_access_and_the_refresh_token(
    gql: GraphQLClient, db: AsyncEngine, http: httpx.AsyncClient
) -> None:
    # given
    login = await _signed_in_owner(gql, db)
    owner = gql.as_(login["accessToken"])

    # when
    out = await owner.data("mutation { logout }")
    after = await http.post(
        "/graphql", json={"query": ME}, headers={"authorization": f"Bearer {login['accessToken']}"}
    )
    refreshed = _payload(await gql.post(REFRESH, {"token": login["refreshToken"]}), "refreshToken")

    # then
    assert out == {"logout": True}
    assert after.status_code == 401
    assert after.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert refreshed["__typename"] == "InvalidToken"


async def _owner_signed_in(
    db: AsyncEngine, settings: Settings
) -> tuple[User, str, uuid.UUID | None]:
    """An owner, a good access token of theirs, and its login session."""
    async with session_factory(db)() as s, s.begin():
        user = await f.user(s, roles=[(Role.SME_OWNER, None)])
        good = await f.access_token(s, settings, user)
    claims = security.read_token(
        settings.signing_key(),
        good,
        expected="access",
        now=utcnow(),
        max_lifetime=settings.access_token_ttl,
    )
    return user, good, claims.session_id


async def test_expired_tampered_and_foreign_tokens_are_refused(
    http: httpx.AsyncClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    user, good, sid = await _owner_signed_in(db, settings)
    expired = security.mint_token(
        settings.signing_key(),
        subject=str(user.id),
        type="access",
        now=utcnow() - timedelta(hours=1),
        ttl=60,
        session_id=sid,
    )
    header, payload, signature = good.split(".")
    swapped = "A" if payload[10] != "A" else "B"
    tampered = f"{header}.{payload[:10]}{swapped}{payload[11:]}.{signature}"
    foreign = security.mint_token(
        b"another-server-key-" + b"z" * 32,
        subject=str(user.id),
        type="access",
        now=utcnow(),
        ttl=600,
        session_id=sid,
    )

    # when
    answers = {
        name: await http.post(
            "/graphql", json={"query": ME}, headers={"authorization": f"Bearer {token}"}
        )
        for name, token in {
            "good": good,
            "expired": expired,
            "tampered": tampered,
            "foreign": foreign,
            "garbage": "not-a-token",
        }.items()
    }
    no_scheme = await http.post("/graphql", json={"query": ME}, headers={"authorization": good})

    # then
    assert answers.pop("good").status_code == 200
    for name, response in answers.items():
        assert response.status_code == 401, name
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert no_scheme.status_code == 401


async def test_a_token_is_held_to_the_lifetime_the_service_gives(
    http: httpx.AsyncClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: tokens signed with the real key for a live session, but minted to live ten
    # years, or dated an hour ahead
    user, _, sid = await _owner_signed_in(db, settings)

    def minted(*, now: datetime, ttl: int, operator: bool = False) -> str:
        return security.mint_token(
            settings.signing_key(),
            subject=str(user.id),
            type="access",
            now=now,
            ttl=ttl,
            session_id=sid,
            operator=operator,
        )

    tokens = {
        "ten years": minted(now=utcnow(), ttl=10 * 365 * 86_400),
        "a minute over": minted(now=utcnow(), ttl=settings.access_token_ttl + 60),
        "from the future": minted(now=utcnow() + timedelta(hours=1), ttl=600),
        "an operator's for two days": minted(now=utcnow(), ttl=2 * 86_400, operator=True),
    }

    # when
    answers = {
        name: await http.post(
            "/graphql", json={"query": ME}, headers={"authorization": f"Bearer {token}"}
        )
        for name, token in tokens.items()
    }
    operator = await http.post(
        "/graphql",
        json={"query": ME},
        headers={"authorization": f"Bearer {minted(now=utcnow(), ttl=86_400, operator=True)}"},
    )

    # then: each refused as not valid, whatever its exp says; an operator's day is fine
    for name, response in answers.items():
        assert response.status_code == 401, name
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert operator.status_code == 200
    assert operator.json()["data"]["me"] is not None


async def test_a_disabled_account_loses_access_at_once(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings, http: httpx.AsyncClient
) -> None:
    # given
    async with session_factory(db)() as s, s.begin():
        user = await f.user(s, roles=[(Role.SME_OWNER, None)])
        token = await f.access_token(s, settings, user)
    assert (await gql.as_(token).data(ME))["me"] is not None

    # when
    async with session_factory(db)() as s, s.begin():
        row = await s.get(User, user.id)
        assert row is not None
        row.status = row.status.DISABLED
    after = await http.post(
        "/graphql", json={"query": ME}, headers={"authorization": f"Bearer {token}"}
    )

    # then
    assert after.status_code == 401


async def test_mutations_need_the_declared_permission(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    async with session_factory(db)() as s, s.begin():
        officer = await f.user(s, roles=[(Role.LOAN_OFFICER, (await f.institution(s)).id)])
        token = await f.access_token(s, settings, officer)
    variables = {
        "input": {
            "name": "X Co",
            "unifiedSocialCreditCode": USCC,
            "industry": "retail",
            "region": "Zhejiang",
            "foundedOn": "2020-01-01",
            "employeeCount": 3,
        }
    }

    # when
    anonymous = await gql.post(CREATE_ENTERPRISE, variables)
    staff = await gql.as_(token).post(CREATE_ENTERPRISE, variables)
    logout = await gql.post("mutation { logout }")

    # then
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert staff["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert logout["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_mutation_is_never_run_over_get(http: httpx.AsyncClient, db: AsyncEngine) -> None:
    # when
    response = await http.get("/graphql", params={"query": "mutation { logout }"})

    # then
    assert response.status_code == 405
    async with session_factory(db)() as s:
        assert await s.scalar(select(func.count()).select_from(Membership)) == 0


async def test_many_failures_from_one_address_lock_that_address(
    gql: GraphQLClient, db: AsyncEngine
) -> None:
    # given: someone sprays one password over many accounts from one address
    async with session_factory(db)() as s, s.begin():
        await f.user(
            s, email="real@example.test", password=PASSWORD, roles=[(Role.SME_OWNER, None)]
        )
    for n in range(20):
        await gql.post(LOGIN, {"email": f"guess{n}@example.test", "password": "Spring2026!!"})

    # when: a real account, right password, same address
    answer = _payload(
        await gql.post(LOGIN, {"email": "real@example.test", "password": PASSWORD}), "login"
    )

    # then
    assert answer["__typename"] == "LoginThrottled"


async def test_an_account_is_fetched_again_by_its_id_by_its_holder_only(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: two people signed in
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        one = await f.user(s, email="holder@example.test", roles=[(Role.LOAN_OFFICER, bank.id)])
        other = await f.user(s, roles=[(Role.SME_OWNER, None)])
        tokens = [await f.access_token(s, settings, u) for u in (one, other)]
    query = """query($id: ID!) { node(id: $id) { ... on User {
        id email roles { role institutionCode } } } }"""
    own_id = f.global_id("User", one.id)

    # when
    own = await gql.as_(tokens[0]).data(query, {"id": own_id})
    theirs = await gql.as_(tokens[1]).post(query, {"id": own_id})

    # then: the holder gets the account back, as `me` shows it; anyone else, nothing
    assert own["node"]["id"] == own_id
    assert own["node"]["email"] == "holder@example.test"
    assert own["node"]["roles"] == [{"role": "LOAN_OFFICER", "institutionCode": bank.code}]
    assert theirs["data"] == {"node": None}
    assert theirs["errors"][0]["extensions"]["code"] == "NOT_FOUND"
