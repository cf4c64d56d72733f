"""Retention through GraphQL: schedules, the dry run, a hold, the run and its receipts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.applications.models import ApplicationStatus
from domain.models import Enterprise, Role
from domain.settings import Settings
from kernel.db import session_factory
from privacy.models import DataKey
from tests import factories as f
from tests.api.conftest import GraphQLClient

SCHEDULES = "{ retentionSchedules { category months version } }"
PLAN = """{ retentionPlan { scheduleVersion asOf
  due { subjectId category since dueOn holds }
  held { subjectId category holds } } }"""
RUN = """mutation { runRetention { __typename
  ... on RetentionRun { id ranAt scheduleVersion total purged { category subjectIds } }
  ... on Conflict { code message } } }"""
RUNS = "{ retentionRuns { id total scheduleVersion purged { category subjectIds } } }"
HOLD = """mutation($input: SetLegalHoldInput!) { setLegalHold(input: $input) { __typename
  ... on LegalHold { id subjectId reason releasedAt }
  ... on InvalidInput { code field } } }"""
RELEASE = """mutation($input: ReleaseLegalHoldInput!) { releaseLegalHold(input: $input) {
  __typename ... on LegalHold { id releasedAt } ... on Conflict { code } } }"""


@dataclass
class World:
    officer: GraphQLClient
    loan_officer: GraphQLClient
    enterprise_id: uuid.UUID
    enterprise: str


@pytest.fixture
async def world(gql: GraphQLClient, db: AsyncEngine, settings: Settings) -> World:
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        product = await f.product(s, institution_id=bank.id)
        enterprise = await f.enterprise(s)
        application = await f.application(
            s, enterprise_id=enterprise.id, product_row=product, status=ApplicationStatus.REJECTED
        )
        application.decided_at = datetime(2020, 1, 10, tzinfo=UTC)  # long past any schedule
        officer = await f.user(s, roles=[(Role.PRIVACY_OFFICER, None)])
        loan_officer = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        tokens = [await f.access_token(s, settings, u) for u in (officer, loan_officer)]
    return World(
        officer=gql.as_(tokens[0]),
        loan_officer=gql.as_(tokens[1]),
        enterprise_id=enterprise.id,
        enterprise=f.global_id("Enterprise", enterprise.id),
    )


async def test_a_privacy_officer_plans_holds_runs_and_reads_the_receipts(
    world: World, db: AsyncEngine
) -> None:
    schedules = (await world.officer.data(SCHEDULES))["retentionSchedules"]
    assert {s["category"] for s in schedules} == {"REJECTED_APPLICANT", "CLOSED_BORROWER"}
    version = schedules[0]["version"]

    plan = (await world.officer.data(PLAN))["retentionPlan"]
    assert plan["scheduleVersion"] == version
    assert [(i["subjectId"], i["category"], i["since"], i["dueOn"]) for i in plan["due"]] == [
        (world.enterprise, "REJECTED_APPLICANT", "2020-01-10", "2020-07-10")
    ]

    hold = (
        await world.officer.data(
            HOLD, {"input": {"subjectId": world.enterprise, "reason": "court order 2026/118"}}
        )
    )["setLegalHold"]
    assert hold["__typename"] == "LegalHold"
    held = (await world.officer.data(PLAN))["retentionPlan"]
    assert held["due"] == []
    assert held["held"] == [
        {"subjectId": world.enterprise, "category": "REJECTED_APPLICANT", "holds": ["LEGAL_HOLD"]}
    ]
    kept = (await world.officer.data(RUN))["runRetention"]
    assert (kept["__typename"], kept["total"]) == ("RetentionRun", 0)

    released = await world.officer.data(RELEASE, {"input": {"holdId": hold["id"]}})
    assert released["releaseLegalHold"]["releasedAt"] is not None
    again = await world.officer.data(RELEASE, {"input": {"holdId": hold["id"]}})
    assert again["releaseLegalHold"] == {"__typename": "Conflict", "code": "CONFLICT"}

    ran = (await world.officer.data(RUN))["runRetention"]
    assert ran["total"] == 1
    assert {"category": "REJECTED_APPLICANT", "subjectIds": [world.enterprise]} in ran["purged"]
    async with session_factory(db)() as s:
        key = await s.get(DataKey, world.enterprise_id)
        enterprise = await s.get(Enterprise, world.enterprise_id)
        assert key is not None
        assert key.shredded_at is not None
        assert enterprise is not None
        assert enterprise.contact_phone is None

    runs = (await world.officer.data(RUNS))["retentionRuns"]
    assert [r["id"] for r in runs] == [ran["id"], kept["id"]]
    assert (await world.officer.data(RUN))["runRetention"]["total"] == 0


async def test_a_hold_is_refused_without_a_reason(world: World) -> None:
    refused = (
        await world.officer.data(HOLD, {"input": {"subjectId": world.enterprise, "reason": "no"}})
    )["setLegalHold"]
    assert refused == {
        "__typename": "InvalidInput",
        "code": "BAD_USER_INPUT",
        "field": "input.reason",
    }


@pytest.mark.parametrize("query", [PLAN, RUN, RUNS])
async def test_only_privacy_officers_see_or_run_retention(world: World, query: str) -> None:
    # A receipt to read (an empty list would have no field to refuse).
    await world.officer.data(RUN)
    body = await world.loan_officer.post(query)
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
