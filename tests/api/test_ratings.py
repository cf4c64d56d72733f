"""Rating history through the API: the migration matrix, and an enterprise's ratings."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from domain.identity.models import Role
from domain.risk.models import CreditRating
from domain.settings import Settings
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient

MIGRATION = """
query($start: Date!, $end: Date!, $filter: RatingMigrationFilter) {
  ratingMigration(start: $start, end: $end, filter: $filter) {
    start end grades total upgrades downgrades unchanged newlyRated
    cells { fromGrade toGrade count share }
    rows { grade total }
  }
}
"""
RATINGS = """
{ enterprises { edges { node {
    name
    latestRating { id grade previousGrade ratedAt probabilityOfDefault score modelVersion }
    ratingHistory { grade previousGrade ratedAt }
} } } }
"""
WINDOW = {"start": "2026-03-10", "end": "2026-06-30"}


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


async def rated(s: AsyncSession, enterprise_id: uuid.UUID, *grades: tuple[str, date]) -> None:
    previous = None
    for grade, day in grades:
        s.add(
            CreditRating(
                enterprise_id=enterprise_id,
                grade=grade,
                previous_grade=previous,
                probability_of_default=0.0123,
                score=655,
                model_version="pd-2026.1",
                rated_at=at(day),
            )
        )
        previous = grade
    await s.flush()


@dataclass
class Book:
    bank_a: uuid.UUID
    risk_officer_a: str
    loan_officer_b: str
    owner: str


async def _book(db: AsyncEngine, settings: Settings) -> Book:
    """Three clients of bank A (down, steady, new) and one of bank B; staff of each."""
    async with session_factory(db)() as s, s.begin():
        bank_a, bank_b = await f.institution(s), await f.institution(s)
        product_a = await f.product(s, institution_id=bank_a.id)
        product_b = await f.product(s, institution_id=bank_b.id)
        owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
        down = await f.enterprise(s, owner_id=owner.id, name="Down Works")
        steady = await f.enterprise(s, name="Steady Works")
        new = await f.enterprise(s, name="New Works")
        elsewhere = await f.enterprise(s, name="Elsewhere Works")
        for enterprise in (down, steady, new):
            await f.application(s, enterprise_id=enterprise.id, product_row=product_a)
        await f.application(s, enterprise_id=elsewhere.id, product_row=product_b)
        await rated(s, down.id, ("AA", date(2026, 1, 5)), ("BBB", date(2026, 5, 1)))
        await rated(s, steady.id, ("AA", date(2026, 2, 1)))
        await rated(s, new.id, ("B", date(2026, 4, 20)))
        await rated(s, elsewhere.id, ("C", date(2026, 1, 1)))
        risk_a = await f.user(s, roles=[(Role.RISK_OFFICER, bank_a.id)])
        loan_b = await f.user(s, roles=[(Role.LOAN_OFFICER, bank_b.id)])
        tokens = [await f.access_token(s, settings, u) for u in (risk_a, loan_b, owner)]
    return Book(bank_a.id, *tokens)


def nonzero(migration: dict[str, Any]) -> list[tuple[str, str, int, float]]:
    return [
        (c["fromGrade"], c["toGrade"], c["count"], c["share"])
        for c in migration["cells"]
        if c["count"]
    ]


async def test_a_risk_officer_reads_how_the_grades_of_their_clients_moved(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    book = await _book(db, settings)

    # when
    found = (await gql.as_(book.risk_officer_a).data(MIGRATION, WINDOW))["ratingMigration"]

    # then
    assert found["grades"] == ["AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C"]
    assert (found["start"], found["end"]) == ("2026-03-10", "2026-06-30")
    assert len(found["cells"]) == 81
    assert nonzero(found) == [("AA", "AA", 1, 0.5), ("AA", "BBB", 1, 0.5)]
    assert [r for r in found["rows"] if r["total"]] == [{"grade": "AA", "total": 2}]
    assert (found["total"], found["upgrades"], found["downgrades"], found["unchanged"]) == (
        2,
        0,
        1,
        1,
    )
    assert found["newlyRated"] == 1


async def test_a_loan_officer_of_another_institution_counts_none_of_its_clients(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    book = await _book(db, settings)
    as_b = gql.as_(book.loan_officer_b)

    # when
    own = (await as_b.data(MIGRATION, WINDOW))["ratingMigration"]
    asked_of_a = (
        await as_b.data(
            MIGRATION,
            {**WINDOW, "filter": {"institutionId": f.global_id("Institution", book.bank_a)}},
        )
    )["ratingMigration"]

    # then: its own client only; nothing at all of bank A's
    assert nonzero(own) == [("C", "C", 1, 1.0)]
    assert (own["total"], own["newlyRated"]) == (1, 0)
    assert nonzero(asked_of_a) == []
    assert (asked_of_a["total"], asked_of_a["newlyRated"]) == (0, 0)


async def test_staff_read_an_enterprises_rating_and_its_history_newest_first(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    book = await _book(db, settings)

    # when
    data = await gql.as_(book.risk_officer_a).data(RATINGS)

    # then
    by_name = {e["node"]["name"]: e["node"] for e in data["enterprises"]["edges"]}
    assert set(by_name) == {"Down Works", "Steady Works", "New Works"}
    down = by_name["Down Works"]
    latest = down["latestRating"]
    assert latest["id"]
    assert {k: v for k, v in latest.items() if k != "id"} == {
        "grade": "BBB",
        "previousGrade": "AA",
        "ratedAt": "2026-05-01T12:00:00+00:00",
        "probabilityOfDefault": 0.0123,
        "score": 655,
        "modelVersion": "pd-2026.1",
    }
    assert down["ratingHistory"] == [
        {"grade": "BBB", "previousGrade": "AA", "ratedAt": "2026-05-01T12:00:00+00:00"},
        {"grade": "AA", "previousGrade": None, "ratedAt": "2026-01-05T12:00:00+00:00"},
    ]
    assert [r["grade"] for r in by_name["New Works"]["ratingHistory"]] == ["B"]


async def test_a_rating_is_fetched_again_by_its_id_only_by_who_sees_its_enterprise(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: bank A's risk officer holds the id of a client's rating
    book = await _book(db, settings)
    data = await gql.as_(book.risk_officer_a).data(RATINGS)
    (down,) = [e["node"] for e in data["enterprises"]["edges"] if e["node"]["name"] == "Down Works"]
    rating_id = down["latestRating"]["id"]
    query = "query($id: ID!) { node(id: $id) { ... on CreditRating { grade previousGrade } } }"

    # when
    again = await gql.as_(book.risk_officer_a).data(query, {"id": rating_id})
    elsewhere = await gql.as_(book.loan_officer_b).post(query, {"id": rating_id})

    # then: the same rating; another bank's officer is told it does not exist
    assert again["node"] == {"grade": "BBB", "previousGrade": "AA"}
    assert elsewhere["data"] == {"node": None}
    assert elsewhere["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_an_owner_sees_the_grades_of_their_enterprise_and_not_the_model(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    book = await _book(db, settings)
    as_owner = gql.as_(book.owner)

    # when
    body = await as_owner.post(RATINGS)
    matrix = await as_owner.post(MIGRATION, WINDOW)

    # then
    (edge,) = body["data"]["enterprises"]["edges"]
    latest = edge["node"]["latestRating"]
    assert (latest["grade"], latest["previousGrade"]) == ("BBB", "AA")
    assert (latest["probabilityOfDefault"], latest["score"], latest["modelVersion"]) == (
        None,
        None,
        None,
    )
    assert [r["grade"] for r in edge["node"]["ratingHistory"]] == ["BBB", "AA"]
    denied = {(e["path"][-1], e["extensions"]["code"]) for e in body["errors"]}
    assert denied == {
        ("probabilityOfDefault", "FORBIDDEN"),
        ("score", "FORBIDDEN"),
        ("modelVersion", "FORBIDDEN"),
    }
    assert matrix["data"] is None
    assert {e["extensions"]["code"] for e in matrix["errors"]} == {"FORBIDDEN"}


async def test_a_start_after_the_end_is_refused_as_bad_input(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    book = await _book(db, settings)

    # when
    body = await gql.as_(book.risk_officer_a).post(
        MIGRATION, {"start": "2026-07-01", "end": "2026-06-30"}
    )

    # then
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def _statements(gql: GraphQLClient, first: int) -> int:
    query = """
    query($first: Int!) { enterprises(first: $first) { edges { node {
        latestRating { grade } ratingHistory { grade }
    } } } }
    """
    body = await gql.post(query, {"first": first})
    assert "errors" not in body, body["errors"]
    assert len(body["data"]["enterprises"]["edges"]) == first
    count: int = body["extensions"]["debug"]["sqlStatements"]
    return count


async def test_ratings_of_a_page_of_enterprises_cost_the_same_statements_at_any_size(
    admin_gql: GraphQLClient, db: AsyncEngine
) -> None:
    # given
    async with session_factory(db)() as s, s.begin():
        for n in range(25):
            enterprise = await f.enterprise(s)
            await rated(s, enterprise.id, ("A", date(2026, 1, 1 + n)), ("BB", date(2026, 3, 1)))
    await admin_gql.post("{ enterprises(first: 1) { edges { node { name } } } }")

    # when
    small = await _statements(admin_gql, 5)
    large = await _statements(admin_gql, 25)

    # then: the page, one statement per relation, two to authenticate
    assert small == large <= 5
