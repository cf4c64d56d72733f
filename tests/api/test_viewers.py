"""Signed-in viewers kept between requests, and forgotten the moment the database says so.

Run against a serving app (its lifespan started), on PostgreSQL: the trigger of
migration 0017 NOTIFYs every change of accounts, sessions, roles and policy.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from api.app import create_app
from domain.identity.models import Role
from domain.settings import Settings
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import make_settings

pytestmark = pytest.mark.postgres_only

QUERY = "{ products(first: 1) { totalCount } }"


@pytest.fixture
async def serving(database_url: str, db: AsyncEngine) -> AsyncIterator[Starlette]:
    app = create_app(make_settings(database_url, risk_scan_interval=0), engine=db)
    async with app.router.lifespan_context(app):
        view = app.state.view
        for _ in range(200):  # the LISTEN is set up beside the first requests
            if view.viewers.active:
                break
            await asyncio.sleep(0.05)
        assert view.viewers.active
        yield app


async def _ask(app: Starlette, token: str) -> tuple[int, dict[str, Any]]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post(
            "/graphql", json={"query": QUERY}, headers={"authorization": f"Bearer {token}"}
        )
    return response.status_code, response.json()


async def _settled(app: Starlette) -> None:
    """Until the notifications of the test's own set-up have all come in."""
    for _ in range(50):
        epoch = app.state.view.viewers.epoch
        await asyncio.sleep(0.2)
        if app.state.view.viewers.epoch == epoch:
            return


async def _until_told(app: Starlette, epoch: int) -> None:
    for _ in range(200):
        if app.state.view.viewers.epoch != epoch:
            return
        await asyncio.sleep(0.02)


async def test_a_kept_viewer_costs_no_statement_and_a_revoked_session_is_refused(
    serving: Starlette, db: AsyncEngine, settings: Settings
) -> None:
    # given: an officer signed in, asked once (its viewer read and kept)
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        officer = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        token = await f.access_token(s, settings, officer)
    await _settled(serving)
    await _ask(serving, token)

    # when: asked again
    status, body = await _ask(serving, token)

    # then: the only statement is the answer's own
    assert status == 200
    assert body["extensions"]["debug"]["sqlStatements"] == 1

    # when: another process ends the session (plain SQL, as an operator or the CLI would)
    epoch = serving.state.view.viewers.epoch
    async with db.begin() as conn:
        await conn.execute(
            text("UPDATE auth_sessions SET revoked_at = now() WHERE user_id = :u"),
            {"u": officer.id},
        )
    await _until_told(serving, epoch)
    status, body = await _ask(serving, token)

    # then: the database's word reached this worker, and the token no longer signs in
    assert status == 401, body
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_role_taken_away_elsewhere_is_taken_away_here(
    serving: Starlette, db: AsyncEngine, settings: Settings
) -> None:
    # given: an officer whose kept viewer sees the application routed to the bank
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        product = await f.product(s, institution_id=bank.id)
        enterprise = await f.enterprise(s)
        await f.application(s, enterprise_id=enterprise.id, product_row=product)
        officer = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        token = await f.access_token(s, settings, officer)
    await _settled(serving)
    query = "{ applications { totalCount } }"
    transport = httpx.ASGITransport(app=serving)
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        before = (await client.post("/graphql", json={"query": query}, headers=headers)).json()
        assert before["data"]["applications"]["totalCount"] == 1

        # when: the membership is deleted by another process
        epoch = serving.state.view.viewers.epoch
        async with db.begin() as conn:
            await conn.execute(
                text("DELETE FROM memberships WHERE user_id = :u"), {"u": officer.id}
            )
        await _until_told(serving, epoch)
        after = (await client.post("/graphql", json={"query": query}, headers=headers)).json()

    # then: the viewer is read again, without the role: the bank's rows are gone
    assert after["data"]["applications"]["totalCount"] == 0, after
