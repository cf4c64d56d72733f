"""An app wired to the test database, and a client that speaks GraphQL to it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from api.app import create_app
from domain.identity.models import Role
from domain.settings import Settings, load_settings
from kernel.db import session_factory
from tests import factories as f


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient, token: str | None = None) -> None:
        self.http = http
        self.token = token

    def as_(self, token: str | None) -> GraphQLClient:
        """The same client, sending ``Authorization: Bearer <token>`` (None: anonymous)."""
        return GraphQLClient(self.http, token)

    async def post(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {self.token}"} if self.token else {}
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = await self.post(query, variables)
        assert "errors" not in body, body["errors"]
        result: dict[str, Any] = body["data"]
        return result


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "env": "development",
        "secret_key": "test-signing-key-" + "x" * 32,
        "audit_key": "test-audit-key-" + "x" * 32,
        "master_keys": f.TEST_MASTER_KEYS,
        "blind_index_key": f.TEST_BLIND_INDEX_KEY,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
async def app(settings: Settings, db: AsyncEngine) -> AsyncIterator[Starlette]:
    app = create_app(settings, engine=db)
    yield app
    # Without a lifespan, a job submitted here opened the queue's connection pool: close
    # it, or its scheduler task outlives the test on the shared event loop.
    await app.state.view.jobs.close()


@pytest.fixture
async def production(database_url: str, db: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app as production runs it: errors masked, no suggestions."""
    app = create_app(make_settings(database_url, env="production"), engine=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client
    await app.state.view.jobs.close()


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
def gql(http: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(http)


@pytest.fixture
async def admin_gql(gql: GraphQLClient, db: AsyncEngine, settings: Settings) -> GraphQLClient:
    """A platform admin: reads every institution's rows, personal values masked."""
    async with session_factory(db)() as session, session.begin():
        admin = await f.user(session, roles=[(Role.PLATFORM_ADMIN, None)])
        token = await f.access_token(session, settings, admin)
    return gql.as_(token)
