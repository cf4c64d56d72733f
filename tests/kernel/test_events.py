"""Transactional events: delivered when their transaction commits, never otherwise.

On PostgreSQL every event goes through NOTIFY and the hub's own LISTEN connection.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from kernel.db import session_factory
from kernel.events import (
    ALERTS_CHANNEL,
    MAX_PAYLOAD_BYTES,
    EventHub,
    Subscription,
    asyncpg_dsn,
    publish,
    set_hub,
)

WAIT = 10.0


@pytest.fixture
async def events(database_url: str) -> AsyncIterator[EventHub]:
    """The process's hub for the test: it LISTENs when the database is PostgreSQL."""
    hub = EventHub(database_url, health_interval=1.0, max_backoff=0.5)
    previous = set_hub(hub)
    yield hub
    await hub.aclose()
    set_hub(previous)


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # Events write no rows: nothing to empty afterwards.
    return session_factory(engine)


async def next_event(subscription: Subscription) -> dict[str, str]:
    async with asyncio.timeout(WAIT):
        return await anext(subscription)


async def eventually(condition: Callable[[], bool]) -> None:
    for _ in range(int(WAIT / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


async def test_an_event_is_delivered_when_its_transaction_commits(
    events: EventHub, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # given
    async with events.subscribe(ALERTS_CHANNEL) as subscription:
        # when
        async with sessions() as session, session.begin():
            await publish(session, ALERTS_CHANNEL, {"alert": "a1", "institution": ""})
            assert subscription.backlog == 0  # not before COMMIT
        # then
        assert await next_event(subscription) == {"alert": "a1", "institution": ""}


async def test_a_rolled_back_event_is_never_delivered(
    events: EventHub, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # given
    async with events.subscribe(ALERTS_CHANNEL) as subscription:
        # when: one transaction rolls back, one session closes without committing, then one commits
        async with sessions() as session:
            await publish(session, ALERTS_CHANNEL, {"alert": "rolled back"})
            await session.rollback()
            await publish(session, ALERTS_CHANNEL, {"alert": "never committed"})
        async with sessions() as session, session.begin():
            await publish(session, ALERTS_CHANNEL, {"alert": "committed"})
        # then: events arrive in commit order, so the committed one is the first
        assert await next_event(subscription) == {"alert": "committed"}


async def test_a_rolled_back_savepoint_drops_only_its_own_events(
    events: EventHub, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # given
    async with events.subscribe(ALERTS_CHANNEL) as subscription:
        # when
        async with sessions() as session, session.begin():
            await publish(session, ALERTS_CHANNEL, {"alert": "outer"})
            async with session.begin_nested():
                await publish(session, ALERTS_CHANNEL, {"alert": "released savepoint"})
            assert subscription.backlog == 0  # a released savepoint is no COMMIT
            savepoint = await session.begin_nested()
            await publish(session, ALERTS_CHANNEL, {"alert": "rolled back savepoint"})
            await savepoint.rollback()
        async with sessions() as session, session.begin():
            await publish(session, ALERTS_CHANNEL, {"alert": "next"})
        # then
        received = [await next_event(subscription) for _ in range(3)]
        assert received == [
            {"alert": "outer"},
            {"alert": "released savepoint"},
            {"alert": "next"},
        ]


async def test_every_subscriber_receives_every_event(
    events: EventHub, sessions: async_sessionmaker[AsyncSession]
) -> None:
    # given
    async with (
        events.subscribe(ALERTS_CHANNEL) as first,
        events.subscribe(ALERTS_CHANNEL) as second,
        events.subscribe("lendgraph_other") as elsewhere,
    ):
        # when
        async with sessions() as session, session.begin():
            await publish(session, ALERTS_CHANNEL, {"alert": "a1"})
            await publish(session, "lendgraph_other", {"note": "n1"})
        # then
        assert await next_event(first) == {"alert": "a1"}
        assert await next_event(second) == {"alert": "a1"}
        assert await next_event(elsewhere) == {"note": "n1"}


async def test_a_full_queue_drops_its_oldest_event_and_counts_it() -> None:
    # given: a subscriber that reads nothing, one that reads as events come
    hub = EventHub(queue_size=2)
    async with hub.subscribe(ALERTS_CHANNEL) as slow, hub.subscribe(ALERTS_CHANNEL) as fast:
        # when: three events reach a queue of two
        for n in range(3):
            hub.deliver(ALERTS_CHANNEL, {"alert": str(n)})
            assert await next_event(fast) == {"alert": str(n)}
        # then: the publisher never waited, the slow one lost its oldest
        assert (slow.dropped, fast.dropped, hub.dropped) == (1, 0, 1)
        assert [await next_event(slow), await next_event(slow)] == [{"alert": "1"}, {"alert": "2"}]


async def test_closing_the_hub_ends_its_subscribers_iteration() -> None:
    # given
    hub = EventHub()
    async with hub.subscribe(ALERTS_CHANNEL) as subscription:
        hub.deliver(ALERTS_CHANNEL, {"alert": "last"})
        # when
        await hub.aclose()
        # then
        async with asyncio.timeout(WAIT):
            assert [payload async for payload in subscription] == [{"alert": "last"}]


async def test_a_payload_too_big_for_notify_is_refused(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        with pytest.raises(ValueError, match="under"):
            await publish(session, ALERTS_CHANNEL, {"alert": "x" * MAX_PAYLOAD_BYTES})


def test_an_engine_url_becomes_a_dsn_for_asyncpg() -> None:
    url = "postgresql+asyncpg://app:s%40cret@db.internal:5433/lendgraph"
    assert asyncpg_dsn(url) == "postgresql://app:s%40cret@db.internal:5433/lendgraph"
    with pytest.raises(ValueError, match="not a PostgreSQL URL"):
        asyncpg_dsn("sqlite+aiosqlite:///lendgraph.db")


@pytest.mark.postgres_only
async def test_a_notify_from_another_connection_reaches_subscribers(
    events: EventHub, engine: AsyncEngine
) -> None:
    # given: another process would NOTIFY through its own connection
    async with events.subscribe(ALERTS_CHANNEL) as subscription:
        assert events.listening
        # when
        async with engine.begin() as conn:
            await conn.execute(
                text("SELECT pg_notify(:channel, :payload)"),
                {"channel": ALERTS_CHANNEL, "payload": json.dumps({"alert": "elsewhere"})},
            )
        # then
        assert await next_event(subscription) == {"alert": "elsewhere"}


@pytest.mark.postgres_only
async def test_the_relay_reconnects_when_its_connection_is_killed(
    events: EventHub, sessions: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    # given
    async with events.subscribe(ALERTS_CHANNEL) as subscription:
        # when: the server ends the LISTEN connection
        async with engine.begin() as conn:
            ended = (
                await conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE application_name = :name AND datname = current_database()"
                    ),
                    {"name": "lendgraph-events"},
                )
            ).all()
        assert len(ended) == 1
        await eventually(lambda: not events.listening)
        await eventually(lambda: events.listening)
        # then
        async with sessions() as session, session.begin():
            await publish(session, ALERTS_CHANNEL, {"alert": "after reconnect"})
        assert await next_event(subscription) == {"alert": "after reconnect"}


@pytest.mark.postgres_only
async def test_a_subscriber_counts_only_once_it_can_hear(
    events: EventHub, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a LISTEN connection slow to open, as on a loaded machine
    import asyncpg  # type: ignore[import-untyped]

    connect = asyncpg.connect

    async def slow_connect(*args: object, **kwargs: object) -> object:
        await asyncio.sleep(1.0)
        return await connect(*args, **kwargs)

    monkeypatch.setattr(asyncpg, "connect", slow_connect)

    async def follow() -> dict[str, str]:
        async with events.subscribe(ALERTS_CHANNEL) as subscription:
            return await next_event(subscription)

    follower = asyncio.create_task(follow())
    await asyncio.sleep(0.2)

    # when: whoever waits for the subscriber to be counted notifies at once
    counted_while_connecting = events.subscribers(ALERTS_CHANNEL)
    await eventually(lambda: events.subscribers(ALERTS_CHANNEL) == 1)
    async with engine.begin() as conn:
        await conn.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": ALERTS_CHANNEL, "payload": json.dumps({"alert": "just in time"})},
        )

    # then: it was not counted before it could hear, and it heard
    assert counted_while_connecting == 0
    assert await follower == {"alert": "just in time"}
