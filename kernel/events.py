"""Transactional events: raised inside a transaction, delivered only if it commits.

A service calls ``publish(session, channel, payload)`` while it works; subscribers
(GraphQL subscriptions) read them from the process's ``EventHub``.

- PostgreSQL: ``pg_notify`` runs in the caller's transaction, so the server delivers
  it at COMMIT, to every process listening (other workers, and a CLI scan's events
  to the web workers), and drops it at ROLLBACK. Each process keeps one asyncpg
  connection that LISTENs and hands what arrives to its hub.
- SQLite (any other dialect): events wait in the session's ``info`` and reach this
  process's hub from the session's ``after_commit`` event; a rollback, of the
  transaction or of the savepoint that raised them, drops them. Other processes
  never see them.

Delivery is at most once: a subscriber whose queue is full loses its oldest
events, and events committed while the LISTEN connection is down are lost. A
payload is a hint (ids to read again), never the data itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol

from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger("lendgraph.events")

ALERTS_CHANNEL = "lendgraph_alerts"

# PostgreSQL refuses a NOTIFY payload of 8000 bytes or more.
MAX_PAYLOAD_BYTES = 7999
QUEUE_SIZE = 1000
# How the LISTEN connection shows in pg_stat_activity.
APPLICATION_NAME = "lendgraph-events"

Payload = dict[str, str]

_PENDING = "lendgraph.events.pending"
_HOOKED = "lendgraph.events.hooked"


def _encode(payload: Mapping[str, str]) -> str:
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in payload.items()):
        raise TypeError("an event payload maps strings to strings")
    text = json.dumps(dict(payload), separators=(",", ":"), sort_keys=True)
    if len(text.encode()) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"an event payload must stay under {MAX_PAYLOAD_BYTES + 1} bytes")
    return text


def _decode(text: str) -> Payload | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return None
    return value


async def publish(session: AsyncSession, channel: str, payload: Mapping[str, str]) -> None:
    """Raise an event in the session's transaction: delivered if, and when, it commits."""
    text = _encode(payload)
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_notify(channel, text)))
        return
    sync = session.sync_session
    if not sync.info.get(_HOOKED):
        # Per session, not on the Session class: sessions that never publish pay nothing.
        event.listen(sync, "after_commit", _after_commit)
        event.listen(sync, "after_soft_rollback", _after_soft_rollback)
        event.listen(sync, "after_transaction_end", _after_transaction_end)
        sync.info[_HOOKED] = True
    # Tagged with the innermost transaction, so a rolled-back savepoint drops only its own.
    raised_in = sync.get_nested_transaction() or sync.get_transaction()
    sync.info.setdefault(_PENDING, []).append((raised_in, channel, dict(payload)))


_Pending = list[tuple[SessionTransaction | None, str, Payload]]


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: its events now wait for the outer COMMIT
    pending: _Pending = session.info.pop(_PENDING, [])
    current = hub()
    for _, channel, payload in pending:
        current.deliver(channel, payload)


def _within(transaction: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


def _after_soft_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    pending: _Pending | None = session.info.get(_PENDING)
    if pending:
        pending[:] = [p for p in pending if not _within(p[0], previous_transaction)]


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    # The outermost transaction ended: committed events were delivered already, the
    # rest belong to a rollback (or a session closed without committing).
    if transaction.parent is None:
        session.info.pop(_PENDING, None)


class Subscription:
    """One subscriber's events, in order; iterating ends when the hub closes."""

    def __init__(self, channel: str, maxsize: int) -> None:
        self.channel = channel
        self.dropped = 0
        self._queue: asyncio.Queue[Payload | None] = asyncio.Queue(maxsize)
        self.loop = asyncio.get_running_loop()
        self._closed = False

    @property
    def backlog(self) -> int:
        """Events waiting to be read."""
        return self._queue.qsize()

    def push(self, payload: Payload | None) -> None:
        if self._closed:
            return
        if self._queue.full():
            # A slow subscriber loses its oldest events; the publisher never waits.
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(payload)

    def close(self) -> None:
        self.push(None)
        self._closed = True

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Payload:
        payload = await self._queue.get()
        if payload is None:
            raise StopAsyncIteration
        return payload


class _Listener(Protocol):
    """The part of ``asyncpg.Connection`` the relay uses (asyncpg ships no types)."""

    async def add_listener(self, channel: str, callback: Callable[..., None]) -> None: ...

    def add_termination_listener(self, callback: Callable[..., None]) -> None: ...

    async def execute(self, query: str) -> str: ...

    async def close(self) -> None: ...

    def terminate(self) -> None: ...

    def is_closed(self) -> bool: ...


def _is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


def asyncpg_dsn(url: str) -> str:
    """A libpq DSN for asyncpg from a SQLAlchemy URL (``postgresql+asyncpg://...``)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"not a PostgreSQL URL: {parsed.render_as_string()}")
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


class EventHub:
    """The process's fan-out from channels to subscribers.

    Without PostgreSQL it relays what ``deliver`` is given (the SQLite path of
    ``publish``). Given a PostgreSQL URL (``listen``, or the constructor) it also
    LISTENs on one dedicated connection, opened with the first subscriber or by
    ``listen``, and reopened with backoff when it drops.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        queue_size: int = QUEUE_SIZE,
        ready_timeout: float = 10.0,
        health_interval: float = 30.0,
        max_backoff: float = 30.0,
    ) -> None:
        self._subscribers: dict[str, set[Subscription]] = {}
        self._queue_size = queue_size
        self._dsn = asyncpg_dsn(url) if url and _is_postgres(url) else None
        self._ready_timeout = ready_timeout
        self._health_interval = health_interval
        self._max_backoff = max_backoff
        self._channels: set[str] = set()
        self._listened: set[str] = set()
        self._connection: _Listener | None = None
        self._lock: asyncio.Lock | None = None
        self._ready: asyncio.Event | None = None
        self._relay: asyncio.Task[None] | None = None
        self._closed = False
        # Told at once when the LISTEN starts or stops (notifications may have been lost).
        self._state_watchers: list[Callable[[bool], None]] = []

    @property
    def dropped(self) -> int:
        """Events lost to full queues, over the subscribers still subscribed."""
        return sum(s.dropped for subs in self._subscribers.values() for s in subs)

    def subscribers(self, channel: str) -> int:
        """How many subscriptions a channel has now (health checks, tests)."""
        return len(self._subscribers.get(channel, ()))

    @property
    def listening(self) -> bool:
        return self._ready is not None and self._ready.is_set()

    def watch_state(self, watcher: Callable[[bool], None]) -> None:
        """Call ``watcher(listening)`` each time the LISTEN connection comes or goes."""
        self._state_watchers.append(watcher)

    def _tell(self, listening: bool) -> None:
        for watcher in self._state_watchers:
            watcher(listening)

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[Subscription]:
        """``async with hub.subscribe(channel) as events: async for payload in events``.

        With PostgreSQL the LISTEN is in place when the block starts (unless the
        database stays unreachable for ``ready_timeout``; the relay keeps trying).
        """
        return self._subscription(channel)

    @asynccontextmanager
    async def _subscription(self, channel: str) -> AsyncIterator[Subscription]:
        if self._closed:
            raise RuntimeError("the event hub is closed")
        subscription = Subscription(channel, self._queue_size)
        if self._dsn is not None:
            await self._watch(channel)
        # Counted only once it can hear: a caller that waits for subscribers (a test, a
        # health check) must not act while the LISTEN is still being set up, and no
        # notification can arrive between here and the LISTEN (nothing awaits).
        self._subscribers.setdefault(channel, set()).add(subscription)
        try:
            yield subscription
        finally:
            subscribers = self._subscribers.get(channel)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscribers[channel]

    def deliver(self, channel: str, payload: Mapping[str, str]) -> None:
        """Hand an event to the channel's subscribers, now; never blocks, never awaits."""
        subscribers = self._subscribers.get(channel)
        if not subscribers:
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for subscription in tuple(subscribers):
            # Each subscriber gets its own copy: one cannot change what another reads.
            copy = dict(payload)
            if subscription.loop is running:
                subscription.push(copy)
            else:  # committed from another thread (a sync session)
                subscription.loop.call_soon_threadsafe(subscription.push, copy)

    async def listen(self, url: str | None = None) -> None:
        """LISTEN on PostgreSQL now (``url`` or the constructor's), rather than lazily.

        Returns once listening, or after ``ready_timeout`` with the relay still retrying.
        """
        if url is not None:
            self._dsn = asyncpg_dsn(url)
        if self._dsn is None:
            raise ValueError("listen needs a PostgreSQL URL")
        await self._start()

    async def aclose(self) -> None:
        """Stop listening and end every subscriber's iteration."""
        self._closed = True
        relay, self._relay = self._relay, None
        if relay is not None:
            relay.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relay
        for subscribers in self._subscribers.values():
            for subscription in subscribers:
                subscription.close()

    # ---------------------------------------------------------------- PostgreSQL

    async def _watch(self, channel: str) -> None:
        self._channels.add(channel)
        await self._start()
        assert self._lock is not None
        async with self._lock:
            connection = self._connection
            if connection is None or channel in self._listened:
                return  # the relay LISTENs to every channel when it (re)connects
            try:
                await connection.add_listener(channel, self._on_notify)
            except Exception:  # the connection just broke: the relay reconnects
                log.warning("event relay could not LISTEN yet", extra={"channel": channel})
                return
            self._listened.add(channel)

    async def _start(self) -> None:
        if self._closed:
            raise RuntimeError("the event hub is closed")
        if self._relay is None or self._relay.done():
            self._lock = asyncio.Lock()
            self._ready = asyncio.Event()
            self._relay = asyncio.get_running_loop().create_task(
                self._run(), name="lendgraph-event-relay"
            )
        assert self._ready is not None
        try:
            await asyncio.wait_for(self._ready.wait(), self._ready_timeout)
        except TimeoutError:
            log.warning("event relay not listening yet; events are lost until it is")

    def _on_notify(self, _connection: object, _pid: int, channel: str, text: str) -> None:
        payload = _decode(text)
        if payload is None:
            log.warning("dropped a malformed event", extra={"channel": channel})
            return
        self.deliver(channel, payload)

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            try:
                await self._relay_once()
                backoff = 0.5
                log.warning("event relay lost its connection; reconnecting")
            except Exception as exc:  # the relay outlives any failure: it reconnects
                log.warning(
                    "event relay cannot listen; retrying",
                    extra={"error": type(exc).__name__, "retry_in": backoff},
                )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    async def _relay_once(self) -> None:
        """One connection's life: LISTEN, relay, return when it is gone."""
        import asyncpg  # type: ignore[import-untyped]  # only PostgreSQL installs need it

        assert self._ready is not None
        assert self._lock is not None
        lost = asyncio.Event()
        connection: _Listener = await asyncpg.connect(
            self._dsn, server_settings={"application_name": APPLICATION_NAME}
        )
        try:
            connection.add_termination_listener(lambda _connection: lost.set())
            async with self._lock:
                self._listened = set()
                for channel in sorted(self._channels):
                    await connection.add_listener(channel, self._on_notify)
                    self._listened.add(channel)
                self._connection = connection
            self._ready.set()
            self._tell(True)
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), self._health_interval)
                if not lost.is_set():
                    # A silent network never reports the connection lost: ask it.
                    async with self._lock:
                        await asyncio.wait_for(connection.execute("SELECT 1"), 10)
        finally:
            self._ready.clear()
            self._connection = None
            self._tell(False)
            if not connection.is_closed():
                try:
                    await asyncio.wait_for(asyncio.shield(connection.close()), 2)
                except asyncio.CancelledError:
                    connection.terminate()
                    raise
                except Exception:  # closing a broken connection: just drop it
                    connection.terminate()


_hub: EventHub | None = None


def hub() -> EventHub:
    """The process's hub (in-process only until ``set_hub`` installs one that listens)."""
    global _hub
    if _hub is None:
        _hub = EventHub()
    return _hub


def set_hub(new: EventHub | None) -> EventHub | None:
    """Install the process's hub (None: a fresh in-process one on next use); returns the old.

    The caller closes the old hub if it listened (``await old.aclose()``).
    """
    global _hub
    old, _hub = _hub, new
    return old


__all__ = [
    "ALERTS_CHANNEL",
    "MAX_PAYLOAD_BYTES",
    "EventHub",
    "Subscription",
    "asyncpg_dsn",
    "hub",
    "publish",
    "set_hub",
]
