"""Granting, withdrawing and reading consent, end to end through the live app."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.models import AuditEntry, Role
from domain.privacy import consent
from domain.privacy.models import ConsentRecord
from domain.settings import Settings
from kernel.base import utcnow
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient

FIELDS = """
id subjectId purpose action expiresAt recordedAt channel textVersion hash previousHash
recipientInstitution { id code }
"""
GRANT = f"""
mutation($input: GrantConsentInput!) {{
  grantConsent(input: $input) {{
    __typename
    ... on Consent {{ {FIELDS} }}
    ... on InvalidInput {{ code message field }}
  }}
}}
"""
WITHDRAW = f"""
mutation($input: WithdrawConsentInput!) {{
  withdrawConsent(input: $input) {{
    __typename
    ... on Consent {{ {FIELDS} }}
    ... on InvalidInput {{ code message field }}
  }}
}}
"""
CONSENTS = f"query($id: ID!) {{ consents(subjectId: $id) {{ {FIELDS} }} }}"


@dataclass
class World:
    owner: GraphQLClient
    stranger: GraphQLClient
    officer: GraphQLClient
    admin: GraphQLClient
    enterprise: str
    enterprise_pk: uuid.UUID
    bank: str
    bank_code: str
    other_bank: str


@pytest.fixture
async def world(gql: GraphQLClient, db: AsyncEngine, settings: Settings) -> World:
    """An owner's enterprise that applied to a bank; a loan officer of that bank."""
    async with session_factory(db)() as s, s.begin():
        owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
        stranger = await f.user(s, roles=[(Role.SME_OWNER, None)])
        enterprise = await f.enterprise(s, owner_id=owner.id)
        bank = await f.institution(s)
        other_bank = await f.institution(s)
        product = await f.product(s, institution_id=bank.id)
        await f.application(s, enterprise_id=enterprise.id, product_row=product)
        officer = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        admin = await f.user(s, roles=[(Role.PLATFORM_ADMIN, None)])
        tokens = [await f.access_token(s, settings, u) for u in (owner, stranger, officer, admin)]
    return World(
        owner=gql.as_(tokens[0]),
        stranger=gql.as_(tokens[1]),
        officer=gql.as_(tokens[2]),
        admin=gql.as_(tokens[3]),
        enterprise=f.global_id("Enterprise", enterprise.id),
        enterprise_pk=enterprise.id,
        bank=f.global_id("Institution", bank.id),
        bank_code=bank.code,
        other_bank=f.global_id("Institution", other_bank.id),
    )


def _later(days: int) -> str:
    return (utcnow() + timedelta(days=days)).isoformat()


async def _grant(client: GraphQLClient, **input_: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await client.data(GRANT, {"input": input_}))["grantConsent"]
    return result


async def _withdraw(client: GraphQLClient, **input_: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await client.data(WITHDRAW, {"input": input_}))["withdrawConsent"]
    return result


async def test_an_owner_grants_then_withdraws_and_reads_the_chained_history(
    world: World, db: AsyncEngine
) -> None:
    # given
    expires = _later(30)

    # when
    granted = await _grant(
        world.owner,
        subjectId=world.enterprise,
        purpose="credit_assessment",
        recipientInstitutionId=world.bank,
        expiresAt=expires,
        textVersion="2026-10",
        channel="web",
    )
    withdrawn = await _withdraw(
        world.owner,
        subjectId=world.enterprise,
        purpose="credit_assessment",
        recipientInstitutionId=world.bank,
    )
    history = (await world.owner.data(CONSENTS, {"id": world.enterprise}))["consents"]

    # then
    assert granted["__typename"] == "Consent"
    assert granted["subjectId"] == world.enterprise
    assert (granted["purpose"], granted["action"]) == ("credit_assessment", "GRANT")
    assert granted["recipientInstitution"] == {"id": world.bank, "code": world.bank_code}
    assert granted["expiresAt"][:19] == expires[:19]
    assert (granted["channel"], granted["textVersion"]) == ("web", "2026-10")
    assert granted["previousHash"] is None
    assert withdrawn["__typename"] == "Consent"
    assert (withdrawn["action"], withdrawn["channel"], withdrawn["expiresAt"]) == (
        "WITHDRAW",
        "api",
        None,
    )
    assert withdrawn["previousHash"] == granted["hash"]
    assert history == [
        {k: v for k, v in c.items() if k != "__typename"} for c in (granted, withdrawn)
    ]
    async with session_factory(db)() as s:
        audited = (
            await s.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.entity_type == "consent")
                .order_by(AuditEntry.id)
            )
        ).all()
        active = await consent.consented(
            s, subject_ids=[world.enterprise_pk], purpose="credit_assessment", now=utcnow()
        )
    assert audited == ["consent.granted", "consent.withdrawn"]
    assert active == {world.enterprise_pk: frozenset()}


async def test_a_grant_for_any_institution_has_no_recipient(world: World) -> None:
    # when
    granted = await _grant(
        world.owner, subjectId=world.enterprise, purpose="marketing", textVersion="v1"
    )

    # then
    assert granted["__typename"] == "Consent"
    assert (granted["recipientInstitution"], granted["expiresAt"]) == (None, None)
    assert granted["channel"] == "api"


async def test_another_owner_cannot_find_the_enterprise_and_staff_may_not_call_it(
    world: World, db: AsyncEngine
) -> None:
    # given
    input_ = {"subjectId": world.enterprise, "purpose": "marketing", "textVersion": "v1"}

    # when
    by_stranger = await world.stranger.post(GRANT, {"input": input_})
    withdrawn_by_stranger = await world.stranger.post(
        WITHDRAW, {"input": {"subjectId": world.enterprise, "purpose": "marketing"}}
    )
    by_officer = await world.officer.post(GRANT, {"input": input_})
    by_admin = await world.admin.post(GRANT, {"input": input_})
    by_anonymous = await world.owner.as_(None).post(GRANT, {"input": input_})

    # then
    assert by_stranger["data"] is None
    assert by_stranger["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert withdrawn_by_stranger["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert by_officer["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert by_admin["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert by_anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    async with session_factory(db)() as s:
        assert (await s.scalars(select(ConsentRecord))).all() == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"purpose": "gossip"}, "purpose"),
        ({"purpose": "oversight"}, "purpose"),
        ({"recipientInstitutionId": "unknown-bank"}, "recipientInstitutionId"),
        ({"recipientInstitutionId": "subject"}, "recipientInstitutionId"),
        ({"expiresAt": "past"}, "expiresAt"),
        ({"textVersion": ""}, "textVersion"),
        ({"subjectId": "not-an-id"}, "subjectId"),
    ],
)
async def test_bad_grants_come_back_as_invalid_input_naming_the_field(
    world: World, db: AsyncEngine, change: dict[str, str], field: str
) -> None:
    # given
    values = {
        "unknown-bank": f.global_id("Institution", uuid.uuid4()),
        "subject": world.enterprise,
        "past": _later(-1),
    }
    input_ = {"subjectId": world.enterprise, "purpose": "marketing", "textVersion": "v1"}
    input_.update({k: values.get(v, v) for k, v in change.items()})

    # when
    result = await _grant(world.owner, **input_)

    # then
    assert result["__typename"] == "InvalidInput"
    assert (result["code"], result["field"]) == ("BAD_USER_INPUT", f"input.{field}")
    async with session_factory(db)() as s:
        assert (await s.scalars(select(ConsentRecord))).all() == []


async def test_withdrawing_what_was_never_granted_is_invalid_input(world: World) -> None:
    # given: consent for the bank only
    await _grant(
        world.owner,
        subjectId=world.enterprise,
        purpose="credit_assessment",
        recipientInstitutionId=world.bank,
        textVersion="v1",
    )

    # when
    other_bank = await _withdraw(
        world.owner,
        subjectId=world.enterprise,
        purpose="credit_assessment",
        recipientInstitutionId=world.other_bank,
    )
    other_purpose = await _withdraw(
        world.owner,
        subjectId=world.enterprise,
        purpose="marketing",
        recipientInstitutionId=world.bank,
    )

    # then
    assert other_bank["__typename"] == other_purpose["__typename"] == "InvalidInput"
    assert other_bank["code"] == "BAD_USER_INPUT"
    assert "no active consent" in other_bank["message"]


async def test_a_ledger_that_moved_meanwhile_answers_conflict(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a writer that read the chain head before another writer appended to it
    first = await _grant(
        world.owner, subjectId=world.enterprise, purpose="marketing", textVersion="v1"
    )
    await _grant(
        world.owner, subjectId=world.enterprise, purpose="loan_servicing", textVersion="v1"
    )

    async def stale_head(*_args: object) -> str:
        return str(first["hash"])

    monkeypatch.setattr(consent, "_chain_head", stale_head)

    # when
    result = await _grant(
        world.owner, subjectId=world.enterprise, purpose="credit_assessment", textVersion="v1"
    )

    # then
    assert result == {
        "__typename": "InvalidInput",
        "code": "CONFLICT",
        "message": "the consent ledger moved; try again",
        "field": "input",  # the request as a whole: no one value is at fault
    }


async def test_staff_see_only_their_institutions_and_open_consents(world: World) -> None:
    # given
    mine = await _grant(
        world.owner,
        subjectId=world.enterprise,
        purpose="credit_assessment",
        recipientInstitutionId=world.bank,
        textVersion="v1",
    )
    await _grant(
        world.owner,
        subjectId=world.enterprise,
        purpose="credit_assessment",
        recipientInstitutionId=world.other_bank,
        textVersion="v1",
    )
    anyone = await _grant(
        world.owner, subjectId=world.enterprise, purpose="marketing", textVersion="v1"
    )

    # when
    seen = {
        name: [c["id"] for c in (await client.data(CONSENTS, {"id": world.enterprise}))["consents"]]
        for name, client in [
            ("owner", world.owner),
            ("officer", world.officer),
            ("stranger", world.stranger),
            ("admin", world.admin),
            ("anonymous", world.owner.as_(None)),
        ]
    }
    wrong_type = await world.owner.post(CONSENTS, {"id": world.bank})

    # then
    assert len(seen["owner"]) == 3
    assert seen["officer"] == [mine["id"], anyone["id"]]
    assert seen["stranger"] == []
    assert seen["admin"] == seen["owner"]
    assert seen["anonymous"] == []
    assert wrong_type["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
