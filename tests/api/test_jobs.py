"""Jobs through the API: a scan started by a mutation, its progress read back while the
workers take it; who sees which jobs; which process runs them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from api.app import create_app
from domain.identity.models import Role
from domain.jobs import tasks
from domain.jobs.models import JobRun, JobState
from domain.jobs.queue import JobQueue, Runtime, drain
from domain.settings import Settings
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient, make_settings
from tests.domain.jobs.test_queue import late_book

START = """
mutation { startRiskScan(input: {full: true}) {
  __typename
  ... on Job { id kind state trigger progress { done total } }
  ... on InvalidInput { code message }
} }
"""
JOB = """
query($id: ID!) { job(id: $id) {
  id kind state progress { done total } startedAt finishedAt error result
} }
"""
JOBS = "{ jobs(first: 10) { totalCount edges { node { id kind state } } } }"


async def tokens(db: AsyncEngine, settings: Settings) -> dict[str, str]:
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        people = {
            "platform": await f.user(s, roles=[(Role.PLATFORM_RISK_OFFICER, None)]),
            "loan_officer": await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)]),
            "owner": await f.user(s, roles=[(Role.SME_OWNER, None)]),
        }
        return {k: await f.access_token(s, settings, u) for k, u in people.items()}


async def test_a_scan_started_through_the_api_shows_its_progress_as_workers_take_it(
    app: Starlette, gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    sessions = session_factory(db)
    await late_book(sessions, 6)
    who = await tokens(db, settings)
    platform = gql.as_(who["platform"])
    queue: JobQueue = app.state.view.jobs
    runtime = Runtime(settings, sessions)
    try:
        # when: a platform risk officer starts a scan
        started = (await platform.data(START))["startRiskScan"]
        queued = (await platform.data(JOB, {"id": started["id"]}))["job"]
        # the parent job alone runs: it splits the scan, no chunk has run yet
        await drain(queue, runtime, queues=["default"])
        split = (await platform.data(JOB, {"id": started["id"]}))["job"]
        # then the chunk workers
        await drain(queue, runtime, queues=[tasks.CHUNK_QUEUE])
        done = (await platform.data(JOB, {"id": started["id"]}))["job"]
    finally:
        await queue.close()

    # then
    assert started["__typename"] == "Job"
    assert (started["kind"], started["state"], started["trigger"]) == ("risk_scan", "QUEUED", "api")
    assert queued["progress"] == {"done": 0, "total": None}
    assert queued["startedAt"] is None
    assert split["state"] == "RUNNING"
    assert split["progress"] == {"done": 0, "total": 1}
    assert done["state"] == "SUCCEEDED"
    assert done["progress"] == {"done": 1, "total": 1}
    assert done["finishedAt"] is not None
    assert done["error"] is None
    assert (done["result"]["loans"], done["result"]["alerts"]) == (6, 6)


async def test_only_staff_allowed_start_scans_and_each_sees_only_their_jobs(
    app: Starlette, gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: a platform job
    who = await tokens(db, settings)
    queue: JobQueue = app.state.view.jobs
    try:
        started = (await gql.as_(who["platform"]).data(START))["startRiskScan"]
        # when
        refused = await gql.as_(who["loan_officer"]).post(START)
        seen_by_officer = await gql.as_(who["loan_officer"]).data(JOBS)
        asked_by_officer = await gql.as_(who["loan_officer"]).post(JOB, {"id": started["id"]})
        seen_by_platform = await gql.as_(who["platform"]).data(JOBS)
        owner_asks = await gql.as_(who["owner"]).post(JOB, {"id": started["id"]})
    finally:
        await queue.close()

    # then
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert seen_by_officer["jobs"]["totalCount"] == 0
    assert asked_by_officer["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert owner_asks["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert [e["node"]["id"] for e in seen_by_platform["jobs"]["edges"]] == [started["id"]]


async def _scheduled_after(app: Starlette, db: AsyncEngine, seconds: float) -> dict[str, Any]:
    """Serve for a while with escalation due every second; what got scheduled meanwhile."""
    async with app.router.lifespan_context(app):
        await asyncio.sleep(seconds)
        runner = app.state.job_runner
        names = {t.get_name() for t in asyncio.all_tasks()}
    async with session_factory(db)() as session:
        runs = await session.scalar(
            select(func.count()).select_from(JobRun).where(JobRun.state == JobState.SUCCEEDED)
        )
        queued = (
            await session.scalar(text("SELECT count(*) FROM procrastinate_jobs"))
            if db.dialect.name == "postgresql"
            else 0
        )
    return {"runner": runner, "tasks": names, "runs": runs, "queued": queued}


@pytest.mark.postgres_only
async def test_the_web_app_runs_no_background_work_on_postgres(
    database_url: str, db: AsyncEngine
) -> None:
    # given: a schedule due every second
    app = create_app(make_settings(database_url, risk_scan_interval=1), engine=db)

    # when
    seen = await _scheduled_after(app, db, 2.5)

    # then: nothing ran, nothing was even queued: that is `lendgraph worker`'s work
    assert seen["runner"] is None
    assert "job-runner" not in seen["tasks"]
    assert seen["runs"] == 0
    assert seen["queued"] == 0


async def test_on_sqlite_the_serving_process_runs_the_schedule_itself(
    database_url: str, db: AsyncEngine, is_postgres: bool
) -> None:
    if is_postgres:
        pytest.skip("the in-process runner is the embedded database's")
    # given: the same schedule, on the embedded database
    app = create_app(make_settings(database_url, risk_scan_interval=1), engine=db)

    # when
    seen = await _scheduled_after(app, db, 2.5)

    # then: its own runner ran scans and escalations every second
    assert seen["runner"] is not None
    assert "job-runner" in seen["tasks"]
    assert seen["runs"] >= 2


TRAIN = """
mutation($folds: Int!) { trainScoringModel(input: {folds: $folds}) {
  __typename
  ... on Job { id kind state }
  ... on InvalidInput { code field }
} }
"""


async def test_training_is_queued_as_a_job_that_reports_why_it_could_not_train(
    app: Starlette, gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: no loan history at all
    who = await tokens(db, settings)
    platform = gql.as_(who["platform"])
    queue: JobQueue = app.state.view.jobs
    try:
        # when
        bad = (await platform.data(TRAIN, {"folds": 1}))["trainScoringModel"]
        refused = await gql.as_(who["loan_officer"]).post(TRAIN, {"folds": 2})
        queued = (await platform.data(TRAIN, {"folds": 2}))["trainScoringModel"]
        await drain(queue, Runtime(settings, session_factory(db)))
        ended = (await platform.data(JOB, {"id": queued["id"]}))["job"]
    finally:
        await queue.close()

    # then
    assert bad == {"__typename": "InvalidInput", "code": "BAD_USER_INPUT", "field": "input.folds"}
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (queued["kind"], queued["state"]) == ("model_training", "QUEUED")
    assert ended["state"] == "FAILED"
    assert ended["progress"] == {"done": 1, "total": 4}  # it got as far as validating
    assert "2-fold validation needs at least 2 bad and good rows" in ended["error"]


RESCORE = """
mutation { startPortfolioScoring { id kind state } }
"""


async def test_portfolio_scoring_is_queued_by_platform_risk_only_and_needs_a_champion(
    app: Starlette, gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: no model in service
    who = await tokens(db, settings)
    platform = gql.as_(who["platform"])
    queue: JobQueue = app.state.view.jobs
    try:
        # when
        refused = await gql.as_(who["loan_officer"]).post(RESCORE)
        queued = (await platform.data(RESCORE))["startPortfolioScoring"]
        await drain(queue, Runtime(settings, session_factory(db)))
        ended = (await platform.data(JOB, {"id": queued["id"]}))["job"]
    finally:
        await queue.close()

    # then
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (queued["kind"], queued["state"]) == ("portfolio_scoring", "QUEUED")
    assert ended["state"] == "FAILED"
    assert ended["error"].startswith("BAD_USER_INPUT: no scoring model is in service")


async def test_a_search_longer_than_an_hour_is_refused(
    app: Starlette, gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    who = await tokens(db, settings)
    long_search = """
    mutation { trainScoringModel(input: {folds: 2, searchSeconds: 3601, blend: true}) {
      __typename ... on InvalidInput { code field }
    } }
    """
    refused = (await gql.as_(who["platform"]).data(long_search))["trainScoringModel"]
    assert refused == {
        "__typename": "InvalidInput",
        "code": "BAD_USER_INPUT",
        "field": "input.searchSeconds",
    }
