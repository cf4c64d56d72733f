"""The privacy preference centre: each switch turned off stops the feature that uses it."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.identity.models import OutboxMessage
from domain.models import AuditEntry, Role
from domain.products.models import ProductStatus
from domain.settings import Settings
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient

READ = """{ privacyPreferences {
  marketing productRecommendations shareWithInstitutions shareWithProviders updatedAt
} }"""
SET = """
mutation($input: SetPrivacyPreferencesInput!) {
  setPrivacyPreferences(input: $input) {
    __typename
    ... on PrivacyPreferences { marketing productRecommendations shareWithInstitutions
                                shareWithProviders updatedAt }
    ... on InvalidInput { code message field }
  }
}
"""
RECOMMEND = """
query($id: ID!) { recommendedProducts(enterpriseId: $id) { rank eligible product { code } } }
"""
PHONE = "{ enterprises { edges { node { id contactPhone } } } }"
GRANT = """
mutation($input: GrantConsentInput!) { grantConsent(input: $input) { __typename } }
"""
PUBLISH = """
mutation($input: ProductActionInput!) {
  publishProduct(input: $input) { __typename }
}
"""
CREATE_ACCOUNT = """
mutation($input: CreateServiceAccountInput!) {
  createServiceAccount(input: $input) {
    ... on ServiceAccountCreated { clientId clientSecret }
  }
}
"""


@dataclass
class World:
    owner: GraphQLClient
    officer: GraphQLClient
    admin: GraphQLClient
    owner_id: uuid.UUID
    enterprise: str
    bank: str
    draft: str


@pytest.fixture
async def world(gql: GraphQLClient, db: AsyncEngine, settings: Settings) -> World:
    """An owner's enterprise that applied to a bank; the bank's officer and admin; a draft
    product the admin may publish."""
    async with session_factory(db)() as s, s.begin():
        owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
        enterprise = await f.enterprise(s, owner_id=owner.id)
        bank = await f.institution(s)
        product = await f.product(s, institution_id=bank.id)
        draft = await f.product(s, institution_id=bank.id, status=ProductStatus.DRAFT)
        await f.application(s, enterprise_id=enterprise.id, product_row=product)
        officer = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        admin = await f.user(s, roles=[(Role.INSTITUTION_ADMIN, bank.id)])
        tokens = [await f.access_token(s, settings, u) for u in (owner, officer, admin)]
    return World(
        owner=gql.as_(tokens[0]),
        officer=gql.as_(tokens[1]),
        admin=gql.as_(tokens[2]),
        owner_id=owner.id,
        enterprise=f.global_id("Enterprise", enterprise.id),
        bank=f.global_id("Institution", bank.id),
        draft=f.global_id("Product", draft.id),
    )


async def _switch(owner: GraphQLClient, **changes: bool) -> dict[str, Any]:
    result: dict[str, Any] = (await owner.data(SET, {"input": changes}))["setPrivacyPreferences"]
    assert result["__typename"] == "PrivacyPreferences", result
    return result


async def test_defaults_then_a_change_kept_and_audited(
    world: World, gql: GraphQLClient, db: AsyncEngine
) -> None:
    # when
    before = (await world.owner.data(READ))["privacyPreferences"]
    changed = await _switch(world.owner, marketing=True, shareWithProviders=False)
    after = (await world.owner.data(READ))["privacyPreferences"]
    anonymous = (await gql.data(READ))["privacyPreferences"]

    # then
    assert before == {
        "marketing": False,
        "productRecommendations": True,
        "shareWithInstitutions": True,
        "shareWithProviders": True,
        "updatedAt": None,
    }
    assert {**after, "__typename": "PrivacyPreferences"} == changed
    assert (after["marketing"], after["shareWithProviders"]) == (True, False)
    assert after["productRecommendations"] is True  # left out: kept
    assert anonymous is None
    async with session_factory(db)() as s:
        entry = (
            await s.scalars(
                select(AuditEntry).where(AuditEntry.action == "privacy.preferences_changed")
            )
        ).one()
    assert entry.entity_id == str(world.owner_id)
    assert entry.detail["before"]["marketing"] is False
    assert entry.detail["after"]["marketing"] is True


async def test_recommendations_stop_when_switched_off(world: World) -> None:
    # given
    ask = {"id": world.enterprise}
    before = (await world.owner.data(RECOMMEND, ask))["recommendedProducts"]

    # when
    await _switch(world.owner, productRecommendations=False)
    owner_sees = (await world.owner.data(RECOMMEND, ask))["recommendedProducts"]
    officer_sees = (await world.officer.data(RECOMMEND, ask))["recommendedProducts"]
    await _switch(world.owner, productRecommendations=True)
    again = (await world.owner.data(RECOMMEND, ask))["recommendedProducts"]

    # then
    assert before
    assert owner_sees == []
    assert officer_sees == []
    assert again == before


async def test_marketing_mail_goes_only_to_people_who_switched_it_on(
    world: World, db: AsyncEngine
) -> None:
    # given: by default, no marketing
    async def mail_for_owner() -> int:
        async with session_factory(db)() as s:
            stmt = select(func.count()).where(OutboxMessage.user_id == world.owner_id)
            return int(await s.scalar(stmt) or 0)

    # when: a product is published while the owner's marketing is off, then another on
    published = await world.admin.data(PUBLISH, {"input": {"productId": world.draft}})
    off = await mail_for_owner()
    await _switch(world.owner, marketing=True)
    async with session_factory(db)() as s, s.begin():
        bank_id = uuid.UUID(base64.b64decode(world.bank).decode().split(":")[1])
        second = await f.product(s, institution_id=bank_id, status=ProductStatus.DRAFT)
    second_id = f.global_id("Product", second.id)
    await world.admin.data(PUBLISH, {"input": {"productId": second_id}})
    on = await mail_for_owner()

    # then
    assert published["publishProduct"]["__typename"] == "Product"
    assert off == 0
    assert on == 1


async def test_staff_lose_consented_values_when_sharing_with_institutions_is_off(
    world: World,
) -> None:
    # given: the owner consented to the bank's credit assessment
    granted = await world.owner.data(
        GRANT,
        {
            "input": {
                "subjectId": world.enterprise,
                "purpose": "credit_assessment",
                "recipientInstitutionId": world.bank,
                "textVersion": "2026-11",
            }
        },
    )
    assert granted["grantConsent"]["__typename"] == "Consent"

    def phone(body: dict[str, Any]) -> str:
        return str(body["enterprises"]["edges"][0]["node"]["contactPhone"])

    # when
    shared = phone(await world.officer.data(PHONE))
    await _switch(world.owner, shareWithInstitutions=False)
    stopped = phone(await world.officer.data(PHONE))
    own = phone(await world.owner.data(PHONE))

    # then
    assert shared == f.PERSONAL["contact_phone"]
    assert stopped != f.PERSONAL["contact_phone"]
    assert "*" in stopped  # masked
    assert own == f.PERSONAL["contact_phone"]  # the owner's own view is not sharing


async def test_partner_systems_lose_the_enterprise_when_sharing_with_providers_is_off(
    world: World, gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    # given: the bank's partner system, reading enterprises that applied to the bank
    created = (
        await world.admin.data(
            CREATE_ACCOUNT,
            {
                "input": {
                    "institutionId": world.bank,
                    "name": "Core banking",
                    "scopes": ["applications:read"],
                }
            },
        )
    )["createServiceAccount"]
    basic = base64.b64encode(f"{created['clientId']}:{created['clientSecret']}".encode()).decode()
    issued = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"authorization": f"Basic {basic}"},
    )
    system = gql.as_(issued.json()["access_token"])
    listing = "{ enterprises { totalCount edges { node { id } } } }"

    # when
    shared = (await system.data(listing))["enterprises"]
    await _switch(world.owner, shareWithProviders=False)
    stopped = (await system.data(listing))["enterprises"]
    officer_sees = (await world.officer.data(listing))["enterprises"]

    # then
    assert [e["node"]["id"] for e in shared["edges"]] == [world.enterprise]
    assert stopped == {"totalCount": 0, "edges": []}
    assert officer_sees["totalCount"] == 1  # the bank's people still see it
