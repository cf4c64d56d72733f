"""The live alert feed: a subscriber sees its own institution's new alerts, never another's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from domain.risk.scan import run_scan
from kernel import events
from kernel.base import utcnow
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient
from tests.api.test_early_warning import LATE_RULE, UPSERT, Book
from tests.api.test_early_warning import book as book
from tests.api.test_ws_auth import Socket, connect, init

FEED = "subscription { riskAlerts { id ruleCode severity status loan { id } } }"


@pytest.fixture
async def hub(database_url: str) -> AsyncIterator[events.EventHub]:
    """The process's hub as the service installs it: LISTENing when on PostgreSQL."""
    installed = events.EventHub(database_url)
    previous = events.set_hub(installed)
    yield installed
    await installed.aclose()
    events.set_hub(previous)


async def follow(app: Starlette, token: str) -> AsyncIterator[Socket]:
    async with connect(app, subprotocols=["graphql-transport-ws"]) as socket:
        await socket.send(init(f"Bearer {token}"))
        assert (await socket.receive())["type"] == "connection_ack"
        await socket.send({"id": "feed", "type": "subscribe", "payload": {"query": FEED}})
        yield socket


async def subscribed(hub: events.EventHub, count: int) -> None:
    async with asyncio.timeout(10):
        while hub.subscribers(events.ALERTS_CHANNEL) < count:  # noqa: ASYNC110 - a counter, polled in a test
            await asyncio.sleep(0.01)


async def next_alert(socket: Socket) -> dict[str, Any]:
    message = await socket.receive()
    assert message.get("type") == "next", message
    assert "errors" not in message["payload"], message
    alert: dict[str, Any] = message["payload"]["data"]["riskAlerts"]
    return alert


async def test_each_institution_hears_only_its_own_alerts(
    app: Starlette,
    gql: GraphQLClient,
    book: Book,
    db: AsyncEngine,
    hub: events.EventHub,
) -> None:
    # given: officers of banks A and B follow the feed; a rule fits both banks' loans
    await gql.as_(book.tokens["platform"]).data(UPSERT, {"input": LATE_RULE})
    a_feed = follow(app, book.tokens["officer_a"])
    b_feed = follow(app, book.tokens["officer_b"])
    a_socket = await anext(a_feed)
    b_socket = await anext(b_feed)
    await subscribed(hub, 2)

    # when: a scan raises one alert in each bank
    report = await run_scan(session_factory(db), as_of=utcnow().date())

    # then
    assert report.alerts_raised == 2
    heard_a = await next_alert(a_socket)
    heard_b = await next_alert(b_socket)
    assert heard_a["loan"]["id"] == f.global_id("Loan", book.loans["a"].id)
    assert heard_b["loan"]["id"] == f.global_id("Loan", book.loans["b"].id)
    assert (heard_a["ruleCode"], heard_a["status"]) == ("late", "OPEN")
    # and nothing else arrives: B's alert never reaches A, nor A's reaches B
    for socket in (a_socket, b_socket):
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.5):
                await socket.from_app.get()
    for feed in (a_feed, b_feed):
        await feed.aclose()


async def test_the_feed_refuses_anonymous_followers(app: Starlette, hub: events.EventHub) -> None:
    async with connect(app, subprotocols=["graphql-transport-ws"]) as socket:
        await socket.send({"type": "connection_init", "payload": {}})
        assert (await socket.receive())["type"] == "connection_ack"
        await socket.send({"id": "feed", "type": "subscribe", "payload": {"query": FEED}})
        message = await socket.receive()
    assert message["type"] in {"error", "next"}
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert hub.subscribers(events.ALERTS_CHANNEL) == 0


async def test_signing_out_ends_the_feed_before_the_next_alert(
    app: Starlette,
    gql: GraphQLClient,
    book: Book,
    db: AsyncEngine,
    hub: events.EventHub,
) -> None:
    # given: bank A's officer follows the feed, then signs out elsewhere
    await gql.as_(book.tokens["platform"]).data(UPSERT, {"input": LATE_RULE})
    feed = follow(app, book.tokens["officer_a"])
    socket = await anext(feed)
    await subscribed(hub, 1)
    assert (await gql.as_(book.tokens["officer_a"]).data("mutation { logout }"))["logout"]

    # when: an alert of bank A is raised
    await run_scan(session_factory(db), as_of=utcnow().date())

    # then: the feed ends with UNAUTHENTICATED instead of delivering it
    message = await socket.receive()
    assert message["type"] == "next", message
    assert message["payload"]["data"] is None
    assert message["payload"]["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    await feed.aclose()
