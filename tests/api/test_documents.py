"""Documents: the parse cache bounded in bytes, validation kept with it, no suggestions
in production, and a document of several operations needs an operationName
(api.documents, api.errors)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from graphql import GraphQLError
from starlette.applications import Starlette

import api.documents
from api.documents import AST_BYTES_PER_CHAR, DocumentCache

TWO_OPERATIONS = "query A { products { totalCount } } query B { products(first: 1) { totalCount } }"


async def post(
    client: httpx.AsyncClient, body: dict[str, Any], accept: str = "application/json"
) -> httpx.Response:
    return await client.post("/graphql", json=body, headers={"accept": accept})


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body["errors"]]


# --- the cache -----------------------------------------------------------------------


def _cache(**overrides: Any) -> DocumentCache:
    values: dict[str, Any] = {
        "max_bytes": 1000 * AST_BYTES_PER_CHAR,
        "max_document_chars": 400,
        "hide_suggestions": True,
        "max_errors": 20,
    }
    return DocumentCache(**(values | overrides))


def test_the_cache_stays_within_its_bytes_whatever_comes() -> None:
    # given: room for about three documents of 300 characters
    cache = _cache()
    documents = [f"{{ products {{ totalCount }} }}{' ' * 270}# {n:03}" for n in range(10)]

    # when
    for text in documents:
        cache.parse(text, max_tokens=None)

    # then: the newest kept, the oldest gone, the charge within bounds
    assert cache.bytes <= cache.max_bytes
    assert len(cache) == 3
    assert cache.parse(documents[-1], max_tokens=None) is cache.parse(
        documents[-1], max_tokens=None
    )
    assert cache.hits == 2


def test_a_huge_document_is_parsed_but_never_kept() -> None:
    # given: a short document kept, then one long comment over the per-document limit
    cache = _cache()
    short = "{ products { totalCount } }"
    cache.parse(short, max_tokens=None)
    huge = "#" + "x" * 10_000 + "\n{ products { totalCount } }"

    # when
    first = cache.parse(huge, max_tokens=None)
    second = cache.parse(huge, max_tokens=None)

    # then: answered each time, never cached, and it pushed nothing out
    assert first is not second
    assert len(cache) == 1
    assert cache.bytes == len(short) * AST_BYTES_PER_CHAR


async def test_a_repeated_document_is_validated_once(
    app: Starlette, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the request limits are validation rules made once, so the cache key holds
    calls: list[int] = []
    real = api.documents.validate

    def counted(*args: Any, **kwargs: Any) -> list[GraphQLError]:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(api.documents, "validate", counted)
    query = "mutation Out { logout }"
    await post(http, {"query": query})
    hits = app.state.view.schema.documents.hits

    # when
    await post(http, {"query": query})

    # then
    assert len(calls) == 1
    assert app.state.view.schema.documents.hits == hits + 1


# --- operations ----------------------------------------------------------------------


async def test_several_operations_without_a_name_are_a_request_error(
    http: httpx.AsyncClient,
) -> None:
    # when
    response = await post(
        http, {"query": TWO_OPERATIONS}, accept="application/graphql-response+json"
    )

    # then: the specification's GetOperation, not the first one run
    assert response.status_code == 400
    body = response.json()
    assert "data" not in body
    assert codes(body) == ["OPERATION_RESOLUTION_FAILURE"]
    assert "operationName" in body["errors"][0]["message"]


async def test_a_named_operation_of_several_runs(http: httpx.AsyncClient) -> None:
    # when
    response = await post(http, {"query": TWO_OPERATIONS, "operationName": "B"})

    # then
    assert response.json() == {
        "data": {"products": {"totalCount": 0}},
        "extensions": response.json().get("extensions"),
    }


# --- suggestions ---------------------------------------------------------------------

MISTAKES = [
    # (document, variables, what only a suggestion would name): graphql-core suggests
    # in each of these places
    ("{ prodcts { totalCount } }", None, "'products'"),  # a field
    ("{ products(frist: 1) { totalCount } }", None, "'first'"),  # an argument
    (  # a type
        "query Q($f: ProductFiltr) { products(filter: $f) { totalCount } }",
        None,
        "'ProductFilter'",
    ),
    ("{ products(orderBy: { field: RAT }) { totalCount } }", None, "'RATE'"),  # an enum value
    ('{ products(filter: { industri: "x" }) { totalCount } }', None, "'industry'"),  # input field
    ("{ products @skp(if: true) { totalCount } }", None, "skip"),  # a directive
    (  # an input field, in variables
        "query Q($f: ProductFilter) { products(filter: $f) { totalCount } }",
        {"f": {"industri": "x"}},
        "'industry'",
    ),
    (  # an enum value, in variables
        "query Q($o: ProductOrder) { products(orderBy: $o) { totalCount } }",
        {"o": {"field": "RAT"}},
        "'RATE'",
    ),
]


@pytest.mark.parametrize(("query", "variables", "suggestion"), MISTAKES)
async def test_production_suggests_nothing(
    production: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None,
    suggestion: str,
) -> None:
    # when
    response = await post(production, {"query": query, "variables": variables})

    # then
    body = response.json()
    assert body["errors"], body
    assert "Did you mean" not in response.text
    assert suggestion not in response.text


@pytest.mark.parametrize(("query", "variables", "suggestion"), MISTAKES[1:4])
async def test_development_still_suggests(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None, suggestion: str
) -> None:
    # when
    response = await post(http, {"query": query, "variables": variables})

    # then
    assert "Did you mean" in response.text
    assert suggestion in response.text


# --- many errors ---------------------------------------------------------------------


async def test_production_caps_the_errors_of_a_response(production: httpx.AsyncClient) -> None:
    # given: fifty unknown directives on one field
    directives = " ".join(f"@d{n}" for n in range(50))
    query = f"{{ products {directives} {{ totalCount }} }}"

    # when
    response = await post(production, {"query": query})

    # then: at most twenty, and the response says how many it left out
    body = response.json()
    assert 1 < len(body["errors"]) <= 20
    assert set(codes(body)) == {"GRAPHQL_VALIDATION_FAILED"}
    assert body["extensions"]["errorsOmitted"] >= 1


async def test_production_collapses_a_repeated_error(production: httpx.AsyncClient) -> None:
    # given: the same unknown field asked for ten times (each alias its own error)
    fields = " ".join(f"a{n}: products {{ nonsense }}" for n in range(10))

    # when
    repeated = await post(production, {"query": f"{{ {fields} }}"})
    once = await post(production, {"query": "{ products { nonsense nonsense } }"})

    # then
    errors = repeated.json()["errors"]
    assert len(errors) == 1
    assert errors[0]["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED", "occurrences": 10}
    assert once.json()["errors"][0]["extensions"]["occurrences"] == 2
