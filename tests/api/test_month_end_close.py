"""startMonthEndClose: an institution's risk officer or admin closes its month as one
job; portfolioSummary.provisions then shows the allowance by stage and the stage
migration, to that institution's staff only."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from domain.identity.models import Role
from domain.ledger.models import EntryKind, JournalEntry
from domain.risk.models import RiskAssessment
from domain.settings import Settings
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient
from tests.api.test_import import run_jobs
from tests.domain.ledger.books import lent

START = """
mutation($input: StartMonthEndCloseInput!) {
  startMonthEndClose(input: $input) {
    __typename
    ... on Job { id kind state }
    ... on InvalidInput { code message field }
  }
}
"""
JOB = "query($id: ID!) { job(id: $id) { state error progress { done total } result } }"
PROVISIONS = """
query($f: PortfolioFilter) { portfolioSummary(filter: $f) { provisions {
  asOf previous expectedCreditLoss exposure
  stages { stage loans exposure expectedCreditLoss coverageRate }
  migration { fromStage toStage loans exposure }
} } }
"""


async def _book(db: AsyncEngine, settings: Settings) -> dict[str, Any]:
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s, code="BANKA")
        other = await f.institution(s, code="BANKB")
        loan, _ = await lent(s, bank, on=date(2026, 1, 15), amount="12000.00")
        await lent(s, other, on=date(2026, 1, 15), amount="30000.00")
        s.add(
            RiskAssessment(
                application_id=loan.application_id,
                enterprise_id=loan.enterprise_id,
                probability_of_default=0.02,
                score=600,
                grade="B",
                reasons=[],
                model_version="test",
                assessed_at=datetime(2026, 1, 10, tzinfo=UTC),
                shadow=False,
            )
        )
        users = {
            "officer": await f.user(s, roles=[(Role.RISK_OFFICER, bank.id)]),
            "admin": await f.user(s, roles=[(Role.INSTITUTION_ADMIN, bank.id)]),
            "other_officer": await f.user(s, roles=[(Role.RISK_OFFICER, other.id)]),
            "loan_officer": await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)]),
        }
        tokens = {k: await f.access_token(s, settings, u) for k, u in users.items()}
    return {
        "bank": f.global_id("Institution", bank.id),
        "other": f.global_id("Institution", other.id),
        **tokens,
    }


async def _provision_entries(db: AsyncEngine) -> int:
    async with session_factory(db)() as s:
        found = await s.scalar(
            select(func.count())
            .select_from(JournalEntry)
            .where(JournalEntry.kind == EntryKind.PROVISION)
        )
    return int(found or 0)


async def test_officer_and_admin_close_the_month_and_read_the_allowance_by_stage(
    app: Starlette, gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    who = await _book(db, settings)

    # when the risk officer closes March, then the admin closes it again
    started = await gql.as_(who["officer"]).data(
        START, {"input": {"institutionId": who["bank"], "asOf": "2026-03-31"}}
    )
    await run_jobs(app, db, settings)
    again = await gql.as_(who["admin"]).data(
        START, {"input": {"institutionId": who["bank"], "asOf": "2026-03-31"}}
    )
    await run_jobs(app, db, settings)

    # then both jobs succeeded and the allowance was posted once
    for answer, token in ((started, who["officer"]), (again, who["admin"])):
        job = answer["startMonthEndClose"]
        assert job["kind"] == "month_end_close", job
        done = (await gql.as_(token).data(JOB, {"id": job["id"]}))["job"]
        assert done["state"] == "SUCCEEDED", done["error"]
        assert done["progress"] == {"done": 5, "total": 5}
    assert await _provision_entries(db) == 1
    summary = await gql.as_(who["admin"]).data(PROVISIONS, {"f": {"end": "2026-03-31"}})
    found = summary["portfolioSummary"]["provisions"]
    assert found["asOf"] == "2026-03-31"
    stages = {s["stage"]: s for s in found["stages"]}
    assert stages[2]["loans"] == 1
    assert stages[1]["loans"] == stages[3]["loans"] == 0
    assert Decimal(found["expectedCreditLoss"]) == Decimal(stages[2]["expectedCreditLoss"]) > 0
    assert found["migration"] == [
        {"fromStage": None, "toStage": 2, "loans": 1, "exposure": stages[2]["exposure"]}
    ]


async def test_another_institution_neither_closes_nor_sees_the_book(
    app: Starlette, gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    who = await _book(db, settings)
    await gql.as_(who["officer"]).data(
        START, {"input": {"institutionId": who["bank"], "asOf": "2026-03-31"}}
    )
    await run_jobs(app, db, settings)

    refused = await gql.as_(who["other_officer"]).data(
        START, {"input": {"institutionId": who["bank"], "asOf": "2026-03-31"}}
    )
    assert refused["startMonthEndClose"]["__typename"] == "InvalidInput"
    assert refused["startMonthEndClose"]["field"] == "input.institutionId"
    theirs = await gql.as_(who["other_officer"]).data(PROVISIONS, {"f": {"end": "2026-03-31"}})
    assert theirs["portfolioSummary"]["provisions"]["asOf"] is None
    assert theirs["portfolioSummary"]["provisions"]["expectedCreditLoss"] == "0.00"


async def test_a_loan_officer_may_not_close_and_a_close_is_at_a_month_end(
    app: Starlette, gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    who = await _book(db, settings)
    denied = await gql.as_(who["loan_officer"]).post(
        START, {"input": {"institutionId": who["bank"], "asOf": "2026-03-31"}}
    )
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN", denied
    bad = await gql.as_(who["officer"]).data(
        START, {"input": {"institutionId": who["bank"], "asOf": "2026-03-30"}}
    )
    assert bad["startMonthEndClose"]["field"] == "input.asOf"
    assert await _provision_entries(db) == 0
