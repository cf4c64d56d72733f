"""portfolioSummary through the API: the figures, who may read them, and what they cost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.identity.models import Role
from domain.settings import Settings
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient
from tests.domain.analytics.portfolio import Book, build, grow

EVERYTHING = """
query($filter: PortfolioFilter) {
  portfolioSummary(filter: $filter) {
    period { start end bookDate live openingDate }
    funnel { submitted reviewed infoRequested approved rejected appealed contractSigned
             disbursed withdrawn pending approvalRate }
    decisionTimes { decided medianHours p90Hours meanHours }
    volume { disbursedLoans disbursedAmount activeLoans outstanding bookDate }
    delinquency { bookDate loans outstanding nonPerforming nonPerformingRatio
                  buckets { bucket loans outstanding share } }
    rollRates { after until loans cells { fromBucket toState loans outstanding share } }
    vintages { cohort cohortStart loans disbursedAmount
               points { monthsOnBook defaulted cumulativeDefaultRate } }
    concentration { bookDate borrowers outstanding topShare borrowerHhi industryHhi regionHhi
                    topBorrowers { enterpriseId name outstanding share }
                    industries { name loans outstanding share }
                    regions { name loans outstanding share } }
    expectedLoss { lgd change changeRatio
                   start { on live exposure ratedExposure unratedExposure expectedLoss averagePd }
                   end { on live exposure ratedExposure unratedExposure expectedLoss averagePd } }
  }
}
"""
PERIOD = {"start": "2026-01-01", "end": "2026-06-30"}


@dataclass
class Readers:
    book: Book
    risk_a: str
    admin_a: str
    loan_officer_a: str
    platform: str
    owner: str


@pytest.fixture
async def readers(db: AsyncEngine, settings: Settings) -> Readers:
    async with session_factory(db)() as s, s.begin():
        book = await build(s)

        async def token(role: Role, institution: Any) -> str:
            user = await f.user(s, roles=[(role, institution)])
            return await f.access_token(s, settings, user)

        return Readers(
            book=book,
            risk_a=await token(Role.RISK_OFFICER, book.a.id),
            admin_a=await token(Role.INSTITUTION_ADMIN, book.a.id),
            loan_officer_a=await token(Role.LOAN_OFFICER, book.a.id),
            platform=await token(Role.PLATFORM_RISK_OFFICER, None),
            owner=await token(Role.SME_OWNER, None),
        )


async def test_a_risk_officer_reads_every_figure_of_their_institution(
    gql: GraphQLClient, readers: Readers
) -> None:
    # when
    data = await gql.as_(readers.risk_a).data(EVERYTHING, {"filter": PERIOD})

    # then: the figures worked out in tests/domain/analytics/portfolio.py
    summary = data["portfolioSummary"]
    assert summary["period"] == {
        "start": "2026-01-01",
        "end": "2026-06-30",
        "bookDate": "2026-06-30",
        "live": False,
        "openingDate": "2025-12-31",
    }
    assert summary["funnel"]["submitted"] == 5
    assert summary["funnel"]["approvalRate"] == "0.666667"  # a rate: six decimals
    assert summary["decisionTimes"]["medianHours"] == pytest.approx(48.0, abs=1e-3)
    assert summary["decisionTimes"]["p90Hours"] == pytest.approx(86.4, abs=1e-3)
    assert summary["volume"]["disbursedAmount"] == "460000.00"
    assert summary["volume"]["outstanding"] == "540000.00"
    assert summary["delinquency"]["nonPerforming"] == "300000.00"
    assert summary["delinquency"]["nonPerformingRatio"] == pytest.approx(300 / 540)
    assert [b["bucket"] for b in summary["delinquency"]["buckets"]] == [
        "CURRENT",
        "DPD_1_30",
        "DPD_31_60",
        "DPD_61_90",
        "DPD_90_PLUS",
    ]
    moved = {
        (c["fromBucket"], c["toState"]): c["loans"]
        for c in summary["rollRates"]["cells"]
        if c["loans"]
    }
    assert moved[("DPD_90_PLUS", "WRITTEN_OFF")] == 1
    assert summary["vintages"][0]["cohort"] == "2026Q1"
    assert summary["vintages"][0]["points"][-1]["defaulted"] == 1
    concentration = summary["concentration"]
    assert concentration["borrowerHhi"] == pytest.approx((300**2 + 160**2 + 80**2) / 540**2)
    assert concentration["topBorrowers"][0]["enterpriseId"] == f.global_id(
        "Enterprise", readers.book.firms["E3"].id
    )
    assert summary["expectedLoss"]["lgd"] == 0.45
    assert summary["expectedLoss"]["end"]["expectedLoss"] == "9000.00"
    assert summary["expectedLoss"]["change"] == "-90.00"


async def test_an_institution_admin_reads_them_and_platform_risk_reads_all(
    gql: GraphQLClient, readers: Readers
) -> None:
    # given
    query = "query($f: PortfolioFilter) { portfolioSummary(filter: $f) { volume { outstanding } } }"

    # when
    admin = await gql.as_(readers.admin_a).data(query, {"f": PERIOD})
    platform = await gql.as_(readers.platform).data(query, {"f": PERIOD})
    only_b = await gql.as_(readers.platform).data(
        query, {"f": {**PERIOD, "institutionId": f.global_id("Institution", readers.book.b.id)}}
    )

    # then
    assert admin["portfolioSummary"]["volume"]["outstanding"] == "540000.00"
    assert platform["portfolioSummary"]["volume"]["outstanding"] == "910000.00"
    assert only_b["portfolioSummary"]["volume"]["outstanding"] == "370000.00"


@pytest.mark.parametrize("who", ["owner", "loan_officer_a", "anonymous"])
async def test_owners_loan_officers_and_the_anonymous_are_refused(
    gql: GraphQLClient, readers: Readers, who: str
) -> None:
    # when
    token = None if who == "anonymous" else getattr(readers, who)
    body = await gql.as_(token).post(EVERYTHING, {"filter": PERIOD})

    # then
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]


async def test_a_period_that_runs_backwards_is_bad_input(
    gql: GraphQLClient, readers: Readers
) -> None:
    body = await gql.as_(readers.risk_a).post(
        EVERYTHING, {"filter": {"start": "2026-06-30", "end": "2026-01-01"}}
    )
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def _statements(gql: GraphQLClient, query: str) -> int:
    body = await gql.post(query, {"filter": PERIOD})
    assert "errors" not in body, body["errors"]
    count: int = body["extensions"]["debug"]["sqlStatements"]
    return count


async def test_the_statements_do_not_grow_with_the_portfolio(
    gql: GraphQLClient, readers: Readers, db: AsyncEngine
) -> None:
    # given: the policy already loaded by an earlier request
    client = gql.as_(readers.platform)
    await client.post(EVERYTHING, {"filter": PERIOD})
    small = await _statements(client, EVERYTHING)

    # when: six times the loans, applications, snapshots and assessments
    async with session_factory(db)() as s, s.begin():
        await grow(s, readers.book, 40)
    large = await _statements(client, EVERYTHING)

    # then: two to authenticate, then a constant number per figure group
    assert small == large
    assert large <= 14


async def test_a_figure_asked_for_alone_runs_alone_and_shared_reads_run_once(
    gql: GraphQLClient, readers: Readers
) -> None:
    # given
    client = gql.as_(readers.risk_a)

    def query(fields: str) -> str:
        return f"query($filter: PortfolioFilter) {{ {fields} }}"

    def summary(selection: str, alias: str = "s") -> str:
        return f"{alias}: portfolioSummary(filter: $filter) {{ {selection} }}"

    await client.post(query(summary("period { start }")), {"filter": PERIOD})

    # when
    nothing = await _statements(client, query(summary("period { start }")))
    funnel = await _statements(client, query(summary("funnel { submitted }")))
    twice = await _statements(
        client,
        query(summary("funnel { submitted }", "a") + summary("funnel { approved }", "b")),
    )
    with_times = await _statements(
        client, query(summary("funnel { submitted } decisionTimes { medianHours }"))
    )
    volume = await _statements(client, query(summary("volume { outstanding }")))
    both = await _statements(
        client, query(summary("volume { outstanding } delinquency { nonPerforming }"))
    )

    # then: the funnel is one statement and one more (PostgreSQL: the memory its
    # percentiles' sort may take; SQLite: those percentiles, taken apart); asked twice, or
    # with the decision times it shares its read with, no more; the book's buckets are
    # read once for the volume and the delinquency together
    assert funnel == nothing + 2
    assert twice == with_times == funnel
    assert volume == nothing + 2
    assert both == volume
