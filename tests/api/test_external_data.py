"""fetchExternalData end to end: the simulator in its own process, the API over HTTP.

Fault tests: a slow, failing, malformed or silent provider gives the user a refusal
with a stable code, and leaves nothing but an audit entry behind.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.app import create_app
from domain.audit.models import AuditEntry
from domain.identity.models import Institution, Role
from domain.privacy.models import AccessLogEntry
from domain.privacy.subjects import export_subject
from domain.providers.models import ExternalDataRecord
from kernel.db import session_factory
from privacy import keystore, vault
from tests import factories as f
from tests.api.conftest import GraphQLClient, make_settings
from tests.simulator import Simulator, running_simulator

FETCH = """
mutation Fetch($input: FetchExternalDataInput!) {
  fetchExternalData(input: $input) {
    __typename
    ... on ExternalDataRecord { id kind source asOf contentHash facts }
    ... on DataConsentRequired { code message purpose institutionId }
    ... on ProviderUnavailable { code message retryAfterSeconds }
    ... on UserError { code message }
  }
}
"""
GRANT = """
mutation Grant($input: GrantConsentInput!) {
  grantConsent(input: $input) { __typename ... on UserError { code message } }
}
"""
PROFILE = """
query Profile($id: ID!) {
  node(id: $id) { ... on Enterprise { externalData { id kind source contentHash facts } } }
}
"""


@pytest.fixture(scope="module")
async def simulator() -> AsyncIterator[Simulator]:
    async with running_simulator(seed=7) as running:
        yield running


@pytest.fixture(autouse=True)
async def _well_behaved(simulator: Simulator) -> None:
    await simulator.faults("ok")


@dataclass
class World:
    enterprise_id: uuid.UUID
    code: str
    owner: str
    officer: str
    bank: Institution
    other_bank: Institution

    @property
    def gid(self) -> str:
        return f.global_id("Enterprise", self.enterprise_id)


async def _world(db: AsyncEngine, settings: Any) -> World:
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        other_bank = await f.institution(s)
        product = await f.product(s, institution_id=bank.id)
        owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
        enterprise = await f.enterprise(s, owner_id=owner.id, name="Provider Works")
        await f.application(s, enterprise_id=enterprise.id, product_row=product)
        officer = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        return World(
            enterprise_id=enterprise.id,
            code=enterprise.unified_social_credit_code,
            owner=await f.access_token(s, settings, owner),
            officer=await f.access_token(s, settings, officer),
            bank=bank,
            other_bank=other_bank,
        )


@pytest.fixture
def client_for(database_url: str, db: AsyncEngine, simulator: Simulator) -> Any:
    """A GraphQL client of an app calling the simulator with these provider settings."""
    clients: list[httpx.AsyncClient] = []

    def make(**overrides: Any) -> GraphQLClient:
        values = {
            "provider_url": simulator.url,
            "provider_timeout": 30.0,
            "provider_backoff": 0.01,
            "provider_breaker_threshold": 1000,
        }
        settings = make_settings(database_url, **(values | overrides))
        transport = httpx.ASGITransport(app=create_app(settings, engine=db))
        http = httpx.AsyncClient(transport=transport, base_url="http://test")
        clients.append(http)
        return GraphQLClient(http)

    return make


@pytest.fixture
async def world(db: AsyncEngine, settings: Any) -> World:
    return await _world(db, settings)


async def _fetch(client: GraphQLClient, world: World, kind: str) -> dict[str, Any]:
    data = await client.data(FETCH, {"input": {"enterpriseId": world.gid, "kind": kind}})
    result: dict[str, Any] = data["fetchExternalData"]
    return result


async def _consent(
    gql: GraphQLClient, world: World, purpose: str, recipient: Institution | None = None
) -> None:
    body = {
        "subjectId": world.gid,
        "purpose": purpose,
        "textVersion": "v1",
        "recipientInstitutionId": None
        if recipient is None
        else f.global_id("Institution", recipient.id),
    }
    data = await gql.as_(world.owner).data(GRANT, {"input": body})
    assert data["grantConsent"]["__typename"] == "Consent"


async def _count(db: AsyncEngine, model: Any, *where: Any) -> int:
    async with session_factory(db)() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_an_owner_with_consent_fetches_registry_data_kept_with_source_date_and_hash(
    client_for: Any, gql: GraphQLClient, db: AsyncEngine, world: World, simulator: Simulator
) -> None:
    # given: the owner consented to matching by the platform
    await _consent(gql, world, "product_recommendation")
    client = client_for().as_(world.owner)

    # when
    record = await _fetch(client, world, "BUSINESS_REGISTRY")

    # then: the answer's bytes are hashed as received, its facts kept
    assert record["__typename"] == "ExternalDataRecord", record
    sent = await simulator.raw(f"registry/{world.code}")
    assert record["contentHash"] == hashlib.sha256(sent).hexdigest()
    answered = json.loads(sent)
    assert record["source"] == answered["source"]
    assert record["asOf"] == answered["asOf"]
    assert record["facts"]["registeredCapital"] == answered["registeredCapital"]
    assert record["facts"]["nameMatches"] is False  # the simulator names it otherwise
    assert record["facts"]["legalRepresentativeMatches"] is (
        answered["legalRepresentative"] == "Zhang Wei"
    )
    # the person's name is sealed at rest, bound to the row, and opens to what was sent
    async with session_factory(db)() as s:
        row = (await s.scalars(select(ExternalDataRecord))).one()
        key = (await keystore.unwrap_many(s, f.KEYS, [world.enterprise_id]))[world.enterprise_id]
    assert row.personal is not None
    assert answered["legalRepresentative"] not in row.personal
    assert key is not None
    opened = vault.unseal(
        key, row.personal, table="external_data_records", column="personal", row_id=row.id
    )
    assert json.loads(opened) == {"legalRepresentative": answered["legalRepresentative"]}
    # the access is logged for its purpose, and audited
    logged = AccessLogEntry.object == "ExternalData.business_registry"
    assert (
        await _count(db, AccessLogEntry, logged, AccessLogEntry.purpose == "product_recommendation")
        == 1
    )
    assert await _count(db, AuditEntry, AuditEntry.action == "external_data.fetched") == 1
    # and the profile shows it; the subject's export holds it, the name opened
    profile = await client.data(PROFILE, {"id": world.gid})
    assert [r["id"] for r in profile["node"]["externalData"]] == [record["id"]]
    async with session_factory(db)() as s:
        exported = await export_subject(s, f.KEYS, subject_id=world.enterprise_id)
    assert [(e["contentHash"], e["personal"]) for e in exported["externalData"]] == [
        (record["contentHash"], {"legalRepresentative": answered["legalRepresentative"]})
    ]


async def test_without_consent_nothing_is_asked_nor_written(
    client_for: Any, db: AsyncEngine, world: World, simulator: Simulator
) -> None:
    # given: no consent at all
    before = await simulator.calls()

    # when
    refused = await _fetch(client_for().as_(world.owner), world, "CREDIT_BUREAU")

    # then
    assert refused["__typename"] == "DataConsentRequired"
    assert refused["code"] == "CONSENT_REQUIRED"
    assert refused["purpose"] == "product_recommendation"
    assert refused["institutionId"] is None
    assert await simulator.calls() == before
    assert await _count(db, ExternalDataRecord) == 0


async def test_an_officer_needs_consent_for_their_own_institution(
    client_for: Any, gql: GraphQLClient, db: AsyncEngine, world: World
) -> None:
    # given: consent to credit assessment by another institution only
    await _consent(gql, world, "credit_assessment", world.other_bank)
    client = client_for().as_(world.officer)

    # when
    refused = await _fetch(client, world, "CREDIT_BUREAU")
    await _consent(gql, world, "credit_assessment", world.bank)
    fetched = await _fetch(client, world, "CREDIT_BUREAU")

    # then
    assert refused["__typename"] == "DataConsentRequired"
    assert refused["institutionId"] == f.global_id("Institution", world.bank.id)
    assert fetched["__typename"] == "ExternalDataRecord"
    assert 300 <= fetched["facts"]["score"] <= 900
    logged = AccessLogEntry.purpose == "credit_assessment"
    assert await _count(db, AccessLogEntry, logged) == 1


async def test_a_passing_failure_is_retried_and_the_answer_kept(
    client_for: Any, gql: GraphQLClient, db: AsyncEngine, world: World, simulator: Simulator
) -> None:
    # given: the provider fails once, then answers
    await _consent(gql, world, "product_recommendation")
    await simulator.faults("fail", times=1)
    before = (await simulator.calls()).get("bank-statements", 0)

    # when
    record = await _fetch(client_for().as_(world.owner), world, "BANK_STATEMENT")

    # then
    assert record["__typename"] == "ExternalDataRecord", record
    assert record["facts"]["months"] == 12
    assert (await simulator.calls())["bank-statements"] == before + 2


@pytest.mark.parametrize(
    ("mode", "settings_over", "typename", "code"),
    [
        ("fail", {"provider_attempts": 3}, "ProviderUnavailable", "PROVIDER_UNAVAILABLE"),
        (
            "slow",
            {"provider_attempts": 2, "provider_timeout": 1.0},
            "ProviderUnavailable",
            "PROVIDER_UNAVAILABLE",
        ),
        ("malformed", {}, "ProviderMalformedAnswer", "PROVIDER_MALFORMED"),
        ("missing", {}, "NoProviderRecord", "PROVIDER_NO_RECORD"),
    ],
)
async def test_a_misbehaving_provider_gives_a_clear_refusal_and_writes_nothing_half(
    mode: str,
    settings_over: dict[str, Any],
    typename: str,
    code: str,
    client_for: Any,
    gql: GraphQLClient,
    db: AsyncEngine,
    world: World,
    simulator: Simulator,
) -> None:
    # given
    await _consent(gql, world, "product_recommendation")
    await simulator.faults(mode)
    before = (await simulator.calls()).get("bureau", 0)

    # when
    refused = await _fetch(client_for(**settings_over).as_(world.owner), world, "CREDIT_BUREAU")

    # then: a stable code; no record, no access logged, only the failure audited
    assert refused["__typename"] == typename, refused
    assert refused["code"] == code
    assert await _count(db, ExternalDataRecord) == 0
    assert await _count(db, AccessLogEntry, AccessLogEntry.object.like("ExternalData.%")) == 0
    failed = await _count(db, AuditEntry, AuditEntry.action == "external_data.failed")
    assert failed == 1
    attempts = (await simulator.calls())["bureau"] - before
    assert attempts == settings_over.get("provider_attempts", 1)


async def test_a_provider_failing_repeatedly_is_left_alone_for_a_while(
    client_for: Any, gql: GraphQLClient, world: World, simulator: Simulator
) -> None:
    # given: a circuit that opens after two failed calls
    await _consent(gql, world, "product_recommendation")
    client = client_for(
        provider_attempts=1, provider_breaker_threshold=2, provider_breaker_seconds=600
    ).as_(world.owner)
    await simulator.faults("fail")
    first = [await _fetch(client, world, "BUSINESS_REGISTRY") for _ in range(2)]
    before = (await simulator.calls())["registry"]

    # when
    refused = await _fetch(client, world, "BUSINESS_REGISTRY")

    # then: refused without calling the provider, with when to try again
    assert [r["retryAfterSeconds"] for r in first] == [None, None]
    assert refused["__typename"] == "ProviderUnavailable"
    assert 0 < refused["retryAfterSeconds"] <= 600
    assert (await simulator.calls())["registry"] == before


async def test_without_a_configured_provider_every_fetch_is_refused(
    client_for: Any, gql: GraphQLClient, world: World
) -> None:
    await _consent(gql, world, "product_recommendation")

    refused = await _fetch(client_for(provider_url=None).as_(world.owner), world, "CREDIT_BUREAU")

    assert refused["__typename"] == "ProviderUnavailable"
    assert refused["code"] == "PROVIDER_UNAVAILABLE"


async def test_someone_else_s_enterprise_is_not_found(
    client_for: Any, gql: GraphQLClient, db: AsyncEngine, settings: Any, world: World
) -> None:
    # given: another owner
    async with session_factory(db)() as s, s.begin():
        stranger = await f.user(s, roles=[(Role.SME_OWNER, None)])
        token = await f.access_token(s, settings, stranger)

    # when
    body = (
        await client_for()
        .as_(token)
        .post(FETCH, {"input": {"enterpriseId": world.gid, "kind": "CREDIT_BUREAU"}})
    )

    # then
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
