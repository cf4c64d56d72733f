"""importEnterprises: an institution admin uploads a file over GraphQL multipart, which is
kept (sealed) with an import job; a worker imports it, and the job shows its progress, its
run and every row's outcome; other roles and institutions are refused."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from api.app import create_app
from domain.enterprises.models import Enterprise
from domain.identity.models import Role
from domain.jobs.models import FileRole, JobFile
from domain.jobs.queue import JobQueue, Runtime, drain
from domain.settings import Settings
from kernel.db import session_factory
from privacy.models import DataKey
from tests import factories as f
from tests.api.conftest import make_settings
from tests.domain.imports.rows import base_row, codes, csv_bytes

IMPORT = """
mutation($input: ImportEnterprisesInput!) {
  importEnterprises(input: $input) {
    __typename
    ... on Job { id kind state trigger progress { done total } files { role name size sha256 } }
    ... on MalformedImportFile { code message problem }
    ... on UserError { code message }
  }
}
"""
JOB = """
query($id: ID!) { job(id: $id) {
  state error progress { done total }
  files { id role name contentType size sha256 download }
  importRun {
    id status error rowsTotal accepted fixed flagged rejected created unchanged batchesLanded
    rowResults { row outcome effect notes { outcome text } }
  }
} }
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
    auditor: str


async def staff(db: AsyncEngine, settings: Settings) -> Staff:
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        other = await f.institution(s)
        admin = await f.user(s, roles=[(Role.INSTITUTION_ADMIN, bank.id)])
        officer = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        other_admin = await f.user(s, roles=[(Role.INSTITUTION_ADMIN, other.id)])
        auditor = await f.user(s, roles=[(Role.AUDITOR, None)])
        return Staff(
            admin=await f.access_token(s, settings, admin),
            officer=await f.access_token(s, settings, officer),
            other_admin=await f.access_token(s, settings, other_admin),
            auditor=await f.access_token(s, settings, auditor),
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


async def run_jobs(app: Starlette, db: AsyncEngine, settings: Settings) -> None:
    """What a worker does: every job queued now, then return."""
    queue: JobQueue = app.state.view.jobs
    try:
        await drain(queue, Runtime(settings, session_factory(db)))
    finally:
        await queue.close()


async def imported(
    app: Starlette, http: httpx.AsyncClient, db: AsyncEngine, settings: Settings, token: str
) -> dict[str, Any]:
    """Upload ``rows()``, let the worker import it, and read the job back."""
    started = (await upload(http, token, rows()))["data"]["importEnterprises"]
    assert started["__typename"] == "Job", started
    await run_jobs(app, db, settings)
    job: dict[str, Any] = (await post(http, token, JOB, {"id": started["id"]}))["data"]["job"]
    return job


async def count_enterprises(db: AsyncEngine) -> int:
    async with session_factory(db)() as s:
        return int(await s.scalar(select(func.count()).select_from(Enterprise)) or 0)


async def test_an_upload_is_queued_as_a_job_and_imported_by_a_worker(
    app: Starlette, http: httpx.AsyncClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    who = await staff(db, settings)
    data = rows()

    # when: the admin uploads; nothing is imported within the request
    body = await upload(http, who.admin, data)
    started = body["data"]["importEnterprises"]
    waiting = await count_enterprises(db)
    queued = (await post(http, who.admin, JOB, {"id": started["id"]}))["data"]["job"]
    # then a worker takes the job
    await run_jobs(app, db, settings)
    job = (await post(http, who.admin, JOB, {"id": started["id"]}))["data"]["job"]

    # then
    assert "errors" not in body, body
    assert (started["kind"], started["state"], started["trigger"]) == (
        "enterprise_import",
        "QUEUED",
        "api",
    )
    assert started["files"] == [
        {
            "role": "INPUT",
            "name": "enterprises.csv",
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    ]
    assert waiting == 0
    assert queued["importRun"] is None  # not checked yet: no run
    assert job["state"] == "SUCCEEDED", job["error"]
    assert job["progress"] == {"done": 3, "total": 3}
    run = job["importRun"]
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
    assert await count_enterprises(db) == 2

    # and every row's outcome is the job's output file, downloaded with the admin's token
    output = next(file for file in job["files"] if file["role"] == "OUTPUT")
    assert (output["name"], output["contentType"]) == (
        "enterprises.csv.rows.csv",
        "text/csv; charset=utf-8",
    )
    got = await http.get(output["download"], headers={"authorization": f"Bearer {who.admin}"})
    assert got.status_code == 200, got.text
    assert hashlib.sha256(got.content).hexdigest() == output["sha256"]
    table = list(csv.DictReader(io.StringIO(got.text)))
    assert [(r["row"], r["outcome"], r["effect"]) for r in table] == [
        ("2", "accepted", "created"),
        ("3", "fixed", "created"),
        ("4", "rejected", "none"),
    ]


async def test_an_institution_admin_uploads_a_file_and_reads_the_run(
    app: Starlette, http: httpx.AsyncClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    who = await staff(db, settings)

    # when
    job = await imported(app, http, db, settings, who.admin)

    # then
    run = job["importRun"]
    assert run["status"] == "COMPLETED"
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
    again = (await imported(app, http, db, settings, who.admin))["importRun"]
    assert (again["created"], again["unchanged"]) == (0, 2)


async def test_a_loan_officer_may_not_import(
    app: Starlette, http: httpx.AsyncClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: their institution's admin imported a file
    who = await staff(db, settings)
    await imported(app, http, db, settings, who.admin)

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


async def test_a_malformed_upload_fails_its_job_with_the_problem_and_imports_nothing(
    app: Starlette, http: httpx.AsyncClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    who = await staff(db, settings)

    # when
    started = (await upload(http, who.admin, rows().decode().encode("gbk")))["data"]
    await run_jobs(app, db, settings)
    job = await post(http, who.admin, JOB, {"id": started["importEnterprises"]["id"]})

    # then
    failed = job["data"]["job"]
    assert failed["state"] == "FAILED"
    assert failed["error"].startswith("MALFORMED_FILE: ")
    assert "not UTF-8" in failed["error"]
    assert failed["importRun"] is None
    runs = await post(http, who.admin, RUNS)
    assert runs["data"]["importRuns"]["totalCount"] == 0
    assert await count_enterprises(db) == 0


async def test_a_file_over_the_limit_is_refused_before_anything_is_queued(
    database_url: str, db: AsyncEngine
) -> None:
    # given: a file one byte over the deployment's limit
    settings = make_settings(database_url, job_file_max_bytes=2**16)
    who = await staff(db, settings)
    data = rows()
    big = data + b"x" * (settings.job_file_max_bytes - len(data) + 1)
    transport = httpx.ASGITransport(app=create_app(settings, engine=db))

    # when
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        body = await upload(http, who.admin, big)

    # then
    refused = body["data"]["importEnterprises"]
    assert (refused["__typename"], refused["code"], refused["problem"]) == (
        "MalformedImportFile",
        "MALFORMED_FILE",
        "TOO_LARGE",
    )
    async with session_factory(db)() as s:
        assert await s.scalar(select(func.count()).select_from(JobFile)) == 0


async def test_the_upload_is_sealed_at_rest_and_downloaded_only_by_who_may_see_it(
    app: Starlette, http: httpx.AsyncClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: a file with a contact phone number, uploaded by an institution's admin
    who = await staff(db, settings)
    first = codes(1)[0]
    data = csv_bytes([base_row(unified_social_credit_code=first, contact_phone="13812345678")])
    started = (await upload(http, who.admin, data))["data"]["importEnterprises"]
    job = (await post(http, who.admin, JOB, {"id": started["id"]}))["data"]["job"]
    upload_file = job["files"][0]

    # when
    async with session_factory(db)() as s:
        stored = (await s.scalars(select(JobFile))).one()
        key = await s.get(DataKey, stored.id)

    def download(token: str | None) -> Any:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return http.get(upload_file["download"], headers=headers)

    mine = await download(who.admin)
    elsewhere = await download(who.other_admin)
    auditor = await download(who.auditor)
    anonymous = await download(None)

    # then: the row holds no plain byte of it, under a key of its own
    assert (stored.role, stored.sealed, stored.size) == (FileRole.INPUT, True, len(data))
    assert b"13812345678" not in stored.content
    assert first.encode() not in stored.content
    assert key is not None
    assert key.subject_type == "job_file"
    assert key.wrapped
    # and the admin gets it back whole; another institution cannot tell it exists; an
    # auditor, who reads but reveals nothing, gets no sealed file; nor does anyone unsigned
    assert mine.status_code == 200
    assert mine.content == data
    assert mine.headers["content-disposition"].startswith("attachment;")
    assert elsewhere.status_code == 404
    assert elsewhere.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert auditor.status_code == 403
    assert auditor.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert anonymous.status_code == 401
