"""importEnterprises: an institution admin uploads a file over GraphQL multipart, then
reads the run back; other roles are refused."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.db import session_factory
from domain.enterprises.models import Enterprise
from domain.identity.models import Role
from domain.settings import Settings
from tests import factories as f
from tests.domain.imports.rows import base_row, codes, csv_bytes

IMPORT = """
mutation($input: ImportEnterprisesInput!) {
  importEnterprises(input: $input) {
    __typename
    ... on ImportRun {
      id status error rowsTotal accepted fixed flagged rejected created unchanged batchesLanded
      rowResults { row outcome effect notes { outcome text } }
    }
    ... on MalformedImportFile { code message problem }
    ... on UserError { code message }
  }
}
"""
RUNS = """
query {
  importRuns(first: 5) {
    totalCount
    edges { node { id sourceName format status rejected batches { index landed rows } } }
  }
}
"""
NODE = "query($id: ID!) { node(id: $id) { ... on ImportRun { sourceName rejected } } }"
RUN = "query($id: ID!) { importRun(id: $id) { sourceName rowResults(first: 1) { row } } }"


@dataclass
class Staff:
    admin: str
    officer: str
    other_admin: str


async def staff(db: AsyncEngine, settings: Settings) -> Staff:
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        other = await f.institution(s)
        admin = await f.user(s, roles=[(Role.INSTITUTION_ADMIN, bank.id)])
        officer = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        other_admin = await f.user(s, roles=[(Role.INSTITUTION_ADMIN, other.id)])
        return Staff(
            admin=await f.access_token(s, settings, admin),
            officer=await f.access_token(s, settings, officer),
            other_admin=await f.access_token(s, settings, other_admin),
        )


async def upload(
    http: httpx.AsyncClient, token: str, data: bytes, *, name: str = "enterprises.csv"
) -> dict[str, Any]:
    """A GraphQL multipart request: the operation, the map, and the file as part "0"."""
    operations = {"query": IMPORT, "variables": {"input": {"file": None}}}
    response = await http.post(
        "/graphql",
        data={
            "operations": json.dumps(operations),
            "map": json.dumps({"0": ["variables.input.file"]}),
        },
        files={"0": (name, data, "text/csv")},
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def post(
    http: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def rows() -> bytes:
    first, second = codes(2)
    return csv_bytes(
        [
            base_row(unified_social_credit_code=first),
            base_row(unified_social_credit_code=second, equity=""),
            base_row(unified_social_credit_code=first[:17] + "?"),
        ]
    )


async def test_an_institution_admin_uploads_a_file_and_reads_the_run(
    http: httpx.AsyncClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    who = await staff(db, settings)

    # when
    body = await upload(http, who.admin, rows())

    # then
    assert "errors" not in body, body
    run = body["data"]["importEnterprises"]
    assert run["__typename"] == "ImportRun"
    assert run["error"] is None, run
    assert (run["status"], run["rowsTotal"], run["accepted"], run["fixed"]) == (
        "COMPLETED",
        3,
        1,
        1,
    )
    assert (run["rejected"], run["created"], run["batchesLanded"]) == (1, 2, 1)
    assert [(r["row"], r["outcome"], r["effect"]) for r in run["rowResults"]] == [
        (3, "FIXED", "CREATED"),
        (4, "REJECTED", "NONE"),
    ]
    assert run["rowResults"][1]["notes"][0]["text"].startswith("[C3]")
    async with session_factory(db)() as s:
        assert await s.scalar(select(func.count()).select_from(Enterprise)) == 2

    # and the run is listed for the institution's admin, not for another institution's
    runs = await post(http, who.admin, RUNS)
    listed = runs["data"]["importRuns"]
    assert listed["totalCount"] == 1
    node = listed["edges"][0]["node"]
    assert (node["sourceName"], node["format"], node["rejected"]) == ("enterprises.csv", "csv", 1)
    assert node["batches"] == [{"index": 0, "landed": True, "rows": 3}]
    one = await post(http, who.admin, RUN, {"id": run["id"]})
    assert one["data"]["importRun"] == {"sourceName": "enterprises.csv", "rowResults": [{"row": 3}]}
    elsewhere = await post(http, who.other_admin, RUNS)
    assert elsewhere["data"]["importRuns"]["totalCount"] == 0
    hidden = await post(http, who.other_admin, RUN, {"id": run["id"]})
    assert hidden["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    by_node = await post(http, who.admin, NODE, {"id": run["id"]})
    assert by_node["data"] == {"node": {"sourceName": "enterprises.csv", "rejected": 1}}
    hidden = await post(http, who.other_admin, NODE, {"id": run["id"]})
    assert hidden["errors"][0]["extensions"]["code"] == "NOT_FOUND"

    # and the same file again changes nothing
    again = (await upload(http, who.admin, rows()))["data"]["importEnterprises"]
    assert (again["created"], again["unchanged"]) == (0, 2)


async def test_a_loan_officer_may_not_import(
    http: httpx.AsyncClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: their institution's admin imported a file
    who = await staff(db, settings)
    await upload(http, who.admin, rows())

    # when
    body = await upload(http, who.officer, rows())

    # then
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    async with session_factory(db)() as s:
        assert await s.scalar(select(func.count()).select_from(Enterprise)) == 2
    # The institution's run is in their rows, but its fields are the admins'.
    runs = await post(http, who.officer, RUNS)
    assert runs["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_malformed_upload_answers_with_its_problem_and_imports_nothing(
    http: httpx.AsyncClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    who = await staff(db, settings)

    # when
    body = await upload(http, who.admin, rows().decode().encode("gbk"))

    # then
    answer = body["data"]["importEnterprises"]
    assert answer["__typename"] == "MalformedImportFile"
    assert (answer["code"], answer["problem"]) == ("MALFORMED_FILE", "ENCODING")
    assert "not UTF-8" in answer["message"]
    runs = await post(http, who.admin, RUNS)
    assert runs["data"]["importRuns"]["totalCount"] == 0
