"""Transport guards: bodies bounded, malformed requests refused as JSON errors with a
code, and the database out of reach answered 503 with Retry-After (api.guards)."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.types import Message

import api.guards
import domain.products.repository
from api.app import create_app
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import make_settings

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
CATALOG = "query Catalog { products { totalCount } }"


@pytest.fixture
async def small(database_url: str, db: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(
        database_url, max_body_bytes=2**14, max_upload_bytes=2**20, max_json_depth=8
    )
    transport = httpx.ASGITransport(app=create_app(settings, engine=db))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def raw(
    client: httpx.AsyncClient,
    body: bytes,
    *,
    content_type: str = JSON,
    accept: str = JSON,
) -> httpx.Response:
    return await client.post(
        "/graphql", content=body, headers={"content-type": content_type, "accept": accept}
    )


def only_code(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith((JSON, GRAPHQL_RESPONSE)), response.text
    [error] = response.json()["errors"]
    code: str = error["extensions"]["code"]
    return code


# --- sizes ---------------------------------------------------------------------------


async def test_a_body_over_the_limit_is_413_with_a_code(small: httpx.AsyncClient) -> None:
    # given: a long comment in an otherwise fine document
    body = json.dumps({"query": "#" + "x" * 20_000 + "\n" + CATALOG}).encode()

    # when
    response = await raw(small, body, accept=GRAPHQL_RESPONSE)

    # then
    assert response.status_code == 413
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert only_code(response) == "PAYLOAD_TOO_LARGE"


async def test_a_streamed_body_is_cut_at_the_limit(small: httpx.AsyncClient) -> None:
    # given: no Content-Length to trust, the body arrives in pieces
    sent: list[int] = []

    async def pieces() -> AsyncIterator[bytes]:
        yield b'{"query": "#'
        for _ in range(100):
            sent.append(1)
            yield b"x" * 1024

    # when
    response = await small.post(
        "/graphql", content=pieces(), headers={"content-type": JSON, "accept": JSON}
    )

    # then
    assert response.status_code == 413
    assert only_code(response) == "PAYLOAD_TOO_LARGE"


async def test_an_upload_has_its_own_larger_limit(small: httpx.AsyncClient) -> None:
    # given: a multipart body over the upload limit
    operations = json.dumps({"query": "mutation($f: Upload!) { x }", "variables": {"f": None}})
    files = {"0": ("big.csv", b"a" * (2**20 + 1), "text/csv")}

    # when
    response = await small.post(
        "/graphql",
        data={"operations": operations, "map": json.dumps({"0": ["variables.f"]})},
        files=files,
        headers={"accept": JSON},
    )

    # then
    assert response.status_code == 413
    assert only_code(response) == "PAYLOAD_TOO_LARGE"


async def test_a_large_request_leaves_no_garbage_behind(
    http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the collector watched (a full pass is what frees a request's cycles, and the
    # document text they hold, at once)
    passes: list[int] = []
    monkeypatch.setattr(api.guards.gc, "collect", lambda *_args: passes.append(1) or 0)
    large = json.dumps({"query": "#" + "x" * 300_000 + "\n" + CATALOG}).encode()
    small = json.dumps({"query": CATALOG}).encode()

    # when
    answered = await raw(http, large)
    await raw(http, small)

    # then: one pass, for the large request only, after it was answered
    assert answered.json()["data"]["products"]["totalCount"] == 0
    assert passes == [1]


# --- malformed JSON ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"query": "{ products { totalCount } }\xff"}', "UTF-8"),
        (b'{"query": ', "not valid JSON"),
        (
            b'{"query": "{ products { totalCount } }", "variables": '
            + b"[" * 2400
            + b"]" * 2400
            + b"}",
            "deeper",
        ),
        (
            b'{"query": "{ x }", "variables": {"a": ' + b'{"b": ' * 9 + b"1" + b"}" * 9 + b"}}",
            "deeper",
        ),
        (b"[" * 10_000, "deeper"),
        (b'"just a string"', "JSON object"),
        (b'[{"query": "{ products { totalCount } }"}]', "Batched"),
        (b'{"variables": {}}', "query"),
        (b'{"query": 7}', "query"),
        (b'{"query": "{ x }", "variables": [1]}', "variables"),
        (b'{"query": "{ x }", "operationName": 1}', "operationName"),
    ],
)
async def test_a_malformed_body_is_400_with_a_code(
    small: httpx.AsyncClient, body: bytes, reason: str
) -> None:
    # when
    response = await raw(small, body)

    # then
    assert response.status_code == 400
    assert only_code(response) == "BAD_REQUEST"
    assert reason in response.json()["errors"][0]["message"]


async def test_a_persisted_query_hash_is_refused_as_not_supported(
    http: httpx.AsyncClient,
) -> None:
    # given: what an Apollo client sends first
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": "ab" * 32}}

    # when
    posted = await raw(http, json.dumps({"extensions": extensions}).encode())
    got = await http.get(
        "/graphql", params={"extensions": json.dumps(extensions)}, headers={"accept": JSON}
    )

    # then: the code Apollo clients read to send the whole document from then on
    for response in (posted, got):
        assert response.status_code == 400
        assert only_code(response) == "PERSISTED_QUERY_NOT_SUPPORTED"


async def test_get_parameters_are_held_to_the_same_rules(small: httpx.AsyncClient) -> None:
    # when
    deep = await small.get(
        "/graphql",
        params={"query": CATALOG, "variables": "[" * 50 + "]" * 50},
        headers={"accept": JSON},
    )
    broken = await small.get(
        "/graphql", params={"query": CATALOG, "variables": "{"}, headers={"accept": JSON}
    )
    nul = await small.get(
        "/graphql",
        params={
            "query": "query Q($i: String) { products(filter: {industry: $i}) { totalCount } }",
            "variables": json.dumps({"i": "a\x00"}),
        },
        headers={"accept": JSON},
    )

    # then
    assert (deep.status_code, only_code(deep)) == (400, "BAD_REQUEST")
    assert (broken.status_code, only_code(broken)) == (400, "BAD_REQUEST")
    assert only_code(nul) == "BAD_USER_INPUT"


async def test_a_body_within_the_limits_still_answers(
    small: httpx.AsyncClient, db: AsyncEngine
) -> None:
    # given: variables nested as deep as allowed
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        await f.product(s, institution_id=bank.id)
    query = "query Q($o: ProductOrder) { products(orderBy: $o) { totalCount } }"

    # when
    response = await raw(
        small,
        json.dumps({"query": query, "variables": {"o": {"field": "RATE"}}}).encode(),
    )

    # then
    assert response.json()["data"]["products"]["totalCount"] == 1


async def test_an_answer_over_the_cap_is_not_sent(database_url: str, db: AsyncEngine) -> None:
    # given: a cap of 16 KiB, and an answer of about a hundred kilobytes (the schema)
    settings = make_settings(database_url, max_response_bytes=2**14)
    transport = httpx.ASGITransport(app=create_app(settings, engine=db))
    big = "{ __schema { types { name description fields { name description } } } }"

    # when
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        refused = await client.post("/graphql", json={"query": big})
        small = await client.post("/graphql", json={"query": CATALOG})

    # then
    assert refused.status_code == 400
    assert only_code(refused) == "RESPONSE_TOO_LARGE"
    assert refused.json()["errors"][0]["extensions"]["limit"] == 2**14
    assert small.json()["data"]["products"]["totalCount"] == 0


# --- Strawberry's refusals, as JSON ---------------------------------------------------


async def test_an_unsupported_content_type_is_a_json_error(http: httpx.AsyncClient) -> None:
    # when
    response = await raw(http, b"{ products { totalCount } }", content_type="text/plain")

    # then
    assert response.status_code == 400
    assert only_code(response) == "BAD_REQUEST"


async def test_a_mutation_over_get_is_405_with_a_code(http: httpx.AsyncClient) -> None:
    # when
    response = await http.get(
        "/graphql", params={"query": "mutation { logout }"}, headers={"accept": JSON}
    )

    # then
    assert response.status_code == 405
    assert only_code(response) == "METHOD_NOT_ALLOWED"


async def test_an_unacceptable_media_type_is_406_with_a_code(http: httpx.AsyncClient) -> None:
    # when
    response = await http.post("/graphql", json={"query": CATALOG}, headers={"accept": "text/csv"})

    # then
    assert response.status_code == 406
    assert only_code(response) == "NOT_ACCEPTABLE"


async def test_an_unknown_operation_name_is_a_json_error(http: httpx.AsyncClient) -> None:
    # when
    response = await http.post(
        "/graphql",
        json={"query": "query A { products { totalCount } }", "operationName": "C"},
    )

    # then
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert only_code(response) == "OPERATION_RESOLUTION_FAILURE"


# --- the database out of reach --------------------------------------------------------


async def test_no_database_is_503_with_retry_after(caplog: pytest.LogCaptureFixture) -> None:
    # given: nothing listens on port 1
    app = create_app(make_settings("postgresql+asyncpg://postgres@127.0.0.1:1/none"))
    caplog.set_level(logging.INFO)

    # when
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.post(
                "/graphql",
                json={"query": CATALOG},
                headers={"accept": GRAPHQL_RESPONSE, "x-request-id": "outage-000001"},
            )
    finally:
        await app.state.engine.dispose()

    # then: a GraphQL error with a code, and one log line that says what failed
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert only_code(response) == "SERVICE_UNAVAILABLE"
    [line] = [r for r in caplog.records if r.name == "lendgraph.guards"]
    assert line.__dict__["request_id"] == "outage-000001"
    assert line.__dict__["error"] == "ConnectionRefusedError"
    assert line.exc_info is None
    [request] = [r for r in caplog.records if r.name == "lendgraph.request"]
    assert request.__dict__["status"] == 503


async def test_the_database_lost_under_a_resolver_is_503(
    database_url: str, db: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the connection refused while compareProducts reads its products
    async def refused(*_args: Any, **_kwargs: Any) -> Any:
        raise ConnectionRefusedError(111, "Connect call failed")

    monkeypatch.setattr(domain.products.repository, "products_by_ids", refused)
    app = create_app(make_settings(database_url, env="production"), engine=db)
    product = f.global_id("Product", uuid.uuid4())
    query = (
        f'{{ compareProducts(ids: ["{product}"], amount: "1000", termMonths: 12) {{ reasons }} }}'
    )

    # when
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/graphql", json={"query": query})

    # then: not masked as a bug, and the status says retry
    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "SERVICE_UNAVAILABLE"}
    assert error["path"] == ["compareProducts"]


@pytest.mark.parametrize(
    ("content_type", "half"),
    [
        (JSON, b'{"query": "{ prod'),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="operations"\r\n\r\n{"query',
        ),
    ],
)
async def test_a_client_gone_mid_body_is_one_quiet_line(
    app: Starlette, caplog: pytest.LogCaptureFixture, content_type: str, half: bytes
) -> None:
    # given: half a body, then the client hangs up (JSON: read by the guard; an upload
    # by Strawberry behind it)
    messages: list[Message] = [
        {"type": "http.request", "body": half, "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", content_type.encode()), (b"host", b"test")],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }
    caplog.set_level(logging.INFO)

    # when
    await app(scope, receive, send)

    # then: no traceback, no error, nothing sent to nobody
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert [r.msg for r in caplog.records if r.name == "lendgraph.guards"] == [
        "client disconnected"
    ]
    assert sent == []
