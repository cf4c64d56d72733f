"""startPortfolioReport: the HTML report made by a job over the requester's book, kept
sealed with the job and downloaded by whoever may see it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from domain.identity.models import Role
from domain.jobs.models import FileRole, JobFile
from domain.settings import Settings
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient
from tests.api.test_import import run_jobs

START = """
mutation($input: StartPortfolioReportInput!) {
  startPortfolioReport(input: $input) {
    __typename
    ... on Job { id kind state }
    ... on InvalidInput { code message field }
  }
}
"""
JOB = """
query($id: ID!) { job(id: $id) {
  state error progress { done total } result
  files { id role name contentType size sha256 download }
} }
"""


@dataclass
class People:
    bank_id: str
    other_id: str
    officer: str  # the bank's risk officer
    other_officer: str  # another institution's
    loan_officer: str
    platform: str


async def people(db: AsyncEngine, settings: Settings) -> People:
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s, code="BANKA")
        other = await f.institution(s, code="BANKB")
        users = {
            "officer": await f.user(s, roles=[(Role.RISK_OFFICER, bank.id)]),
            "other_officer": await f.user(s, roles=[(Role.RISK_OFFICER, other.id)]),
            "loan_officer": await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)]),
            "platform": await f.user(s, roles=[(Role.PLATFORM_RISK_OFFICER, None)]),
        }
        tokens = {k: await f.access_token(s, settings, u) for k, u in users.items()}
    return People(
        bank_id=f.global_id("Institution", bank.id),
        other_id=f.global_id("Institution", other.id),
        **tokens,
    )


async def started(gql: GraphQLClient, token: str, **given: Any) -> dict[str, Any]:
    answer: dict[str, Any] = await gql.as_(token).post(START, {"input": given})
    return answer


async def test_a_risk_officer_starts_a_report_and_downloads_the_page(
    app: Starlette, gql: GraphQLClient, http: httpx.AsyncClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    who = await people(db, settings)

    # when
    job = (await started(gql, who.officer, start="2026-01-01", end="2026-06-30"))["data"]
    await run_jobs(app, db, settings)
    done = await gql.as_(who.officer).data(JOB, {"id": job["startPortfolioReport"]["id"]})

    # then
    assert job["startPortfolioReport"]["kind"] == "portfolio_report"
    report = done["job"]
    assert report["state"] == "SUCCEEDED", report["error"]
    assert report["progress"] == {"done": 10, "total": 10}  # ten figure groups
    [page] = report["files"]
    assert (page["role"], page["name"], page["contentType"]) == (
        "OUTPUT",
        "portfolio-2026-01-01-2026-06-30.html",
        "text/html; charset=utf-8",
    )
    got = await http.get(page["download"], headers={"authorization": f"Bearer {who.officer}"})
    assert got.status_code == 200, got.text
    assert "<h1>Portfolio 2026-01-01 to 2026-06-30</h1>" in got.text
    assert "Institution BANKA" in got.text  # the book of the officer's institution only
    assert len(got.content) == page["size"]
    async with session_factory(db)() as s:
        stored = (await s.scalars(select(JobFile))).one()
    assert (stored.role, stored.sealed) == (FileRole.OUTPUT, True)
    assert b"<h1>" not in stored.content


async def test_another_institution_neither_sees_the_report_nor_downloads_it(
    app: Starlette, gql: GraphQLClient, http: httpx.AsyncClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: the bank's risk officer made a report
    who = await people(db, settings)
    job_id = (await started(gql, who.officer))["data"]["startPortfolioReport"]["id"]
    await run_jobs(app, db, settings)
    page = (await gql.as_(who.officer).data(JOB, {"id": job_id}))["job"]["files"][0]

    # when
    seen = await gql.as_(who.other_officer).post(JOB, {"id": job_id})
    got = await http.get(page["download"], headers={"authorization": f"Bearer {who.other_officer}"})
    platform = await http.get(page["download"], headers={"authorization": f"Bearer {who.platform}"})

    # then
    assert seen["data"] is None
    assert seen["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert got.status_code == 404
    assert platform.status_code == 200


async def test_a_report_is_refused_outside_the_requesters_book(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    who = await people(db, settings)

    # when
    elsewhere = await started(gql, who.officer, institutionId=who.other_id)
    backwards = await started(gql, who.officer, start="2026-06-30", end="2026-01-01")
    loan_officer = await started(gql, who.loan_officer)

    # then
    assert elsewhere["data"]["startPortfolioReport"] == {
        "__typename": "InvalidInput",
        "code": "BAD_USER_INPUT",
        "message": "you analyse no such institution's book",
        "field": "input.institutionId",
    }
    assert backwards["data"]["startPortfolioReport"]["field"] == "input.start"
    assert loan_officer["errors"][0]["extensions"]["code"] == "FORBIDDEN"
