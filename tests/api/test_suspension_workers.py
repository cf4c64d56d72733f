"""A suspension made through one worker reaches the viewers another worker keeps.

Two app instances on one PostgreSQL database, each with its own viewer cache (as two
``lendgraph serve`` workers have): worker A keeps an officer's viewer; a platform admin
suspends the officer's institution through worker B; A's next request refuses the
officer, told by the NOTIFY of migration 0017, not by expiry.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from api.app import create_app
from domain.identity.models import Role
from domain.settings import Settings
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import make_settings

pytestmark = pytest.mark.postgres_only

ME = "{ me { roles { role } } }"
SUSPEND = """
mutation($id: ID!) {
  suspendInstitution(input: { institutionId: $id, reason: "licence withdrawn" }) { __typename }
}
"""


@asynccontextmanager
async def _worker(database_url: str, db: AsyncEngine) -> AsyncIterator[Starlette]:
    app = create_app(make_settings(database_url, risk_scan_interval=0), engine=db)
    async with app.router.lifespan_context(app):
        for _ in range(200):  # the LISTEN is set up beside the first requests
            if app.state.view.viewers.active:
                break
            await asyncio.sleep(0.05)
        assert app.state.view.viewers.active
        yield app


async def _ask(
    app: Starlette, token: str, query: str, variables: dict[str, str] | None = None
) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"authorization": f"Bearer {token}"},
        )


async def test_a_suspension_through_one_worker_locks_the_staff_out_of_another(
    database_url: str, db: AsyncEngine, settings: Settings
) -> None:
    # given: an officer whose viewer worker A keeps (its second request reads no account)
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        officer = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        admin = await f.user(s, roles=[(Role.PLATFORM_ADMIN, None)])
        token = await f.access_token(s, settings, officer)
        admin_token = await f.access_token(s, settings, admin)
    async with _worker(database_url, db) as a, _worker(database_url, db) as b:
        for _ in range(50):  # until the set-up's own notifications have come in
            epoch = a.state.view.viewers.epoch
            await asyncio.sleep(0.2)
            if a.state.view.viewers.epoch == epoch:
                break
        read = await _ask(a, token, ME)
        kept = await _ask(a, token, ME)
        statements = [r.json()["extensions"]["debug"]["sqlStatements"] for r in (read, kept)]
        assert statements[1] < statements[0], statements
        epoch = a.state.view.viewers.epoch

        # when: the institution is suspended through worker B
        suspended = await _ask(b, admin_token, SUSPEND, {"id": f.global_id("Institution", bank.id)})
        assert suspended.json()["data"]["suspendInstitution"]["__typename"] == "Institution"
        for _ in range(200):
            if a.state.view.viewers.epoch != epoch:
                break
            await asyncio.sleep(0.02)
        after = await _ask(a, token, ME)

    # then: worker A was told, read the viewer again and refused it
    assert after.status_code == 401, after.text
    assert after.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
