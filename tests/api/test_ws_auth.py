"""WebSockets sign in at connection_init, and speak graphql-transport-ws only.

The socket is driven in the test's own event loop, straight through ASGI: the app's
engine (and, on PostgreSQL, its connections) belong to that loop.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from api.access import Access
from api.context import Context
from domain.identity import security
from domain.identity.models import Role, User
from domain.identity.viewer import Viewer
from domain.settings import Settings
from kernel.base import utcnow
from kernel.db import session_factory
from tests import factories as f

WAIT = 10.0
ME = "{ me { id status } }"


class Socket:
    """The client end of one WebSocket, as an ASGI server would present it."""

    def __init__(self) -> None:
        self.to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.subprotocol: str | None = None

    async def send(self, message: dict[str, Any]) -> None:
        await self.to_app.put({"type": "websocket.receive", "text": json.dumps(message)})

    async def receive(self) -> dict[str, Any]:
        """The next GraphQL message; a closed socket gives {"close": code}."""
        async with asyncio.timeout(WAIT):
            event = await self.from_app.get()
        if event["type"] == "websocket.close":
            return {"close": event.get("code", 1000)}
        assert event["type"] == "websocket.send", event
        message: dict[str, Any] = json.loads(event["text"])
        return message


@asynccontextmanager
async def connect(
    app: Starlette, *, subprotocols: list[str], token: str | None = None
) -> AsyncIterator[Socket]:
    socket = Socket()
    headers = [(b"host", b"test"), (b"sec-websocket-protocol", ", ".join(subprotocols).encode())]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "scheme": "ws",
        "server": ("test", 80),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "headers": headers,
        "subprotocols": subprotocols,
    }
    await socket.to_app.put({"type": "websocket.connect"})
    server = asyncio.create_task(app(scope, socket.to_app.get, socket.from_app.put))
    try:
        async with asyncio.timeout(WAIT):
            accepted = await socket.from_app.get()
        assert accepted["type"] == "websocket.accept", accepted
        socket.subprotocol = accepted.get("subprotocol")
        yield socket
    finally:
        await socket.to_app.put({"type": "websocket.disconnect", "code": 1000})
        async with asyncio.timeout(WAIT):
            await server


def init(authorization: str, key: str = "Authorization") -> dict[str, Any]:
    return {"type": "connection_init", "payload": {key: authorization}}


async def signed_in_user(db: AsyncEngine, settings: Settings) -> tuple[User, str]:
    async with session_factory(db)() as session, session.begin():
        user = await f.user(session, roles=[(Role.SME_OWNER, None)])
        token = await f.access_token(session, settings, user)
    return user, token


async def ask_me(socket: Socket) -> dict[str, Any] | None:
    await socket.send({"id": "1", "type": "subscribe", "payload": {"query": ME}})
    message = await socket.receive()
    assert message["type"] == "next", message
    assert "errors" not in message["payload"], message
    me: dict[str, Any] | None = message["payload"]["data"]["me"]
    assert await socket.receive() == {"id": "1", "type": "complete"}
    return me


@pytest.mark.parametrize("key", ["Authorization", "authorization"])
async def test_a_valid_token_at_connection_init_signs_the_connection_in(
    app: Starlette, db: AsyncEngine, settings: Settings, key: str
) -> None:
    # given
    user, token = await signed_in_user(db, settings)
    async with connect(app, subprotocols=["graphql-transport-ws"]) as socket:
        assert socket.subprotocol == "graphql-transport-ws"
        # when
        await socket.send(init(f"Bearer {token}", key))
        # then
        assert await socket.receive() == {"type": "connection_ack"}
        assert await ask_me(socket) == {"id": f.global_id("User", user.id), "status": "ACTIVE"}


async def test_without_a_token_the_connection_is_anonymous(app: Starlette) -> None:
    async with connect(app, subprotocols=["graphql-transport-ws"]) as socket:
        await socket.send({"type": "connection_init", "payload": {}})
        assert await socket.receive() == {"type": "connection_ack"}
        assert await ask_me(socket) is None


async def test_without_a_token_at_init_the_handshake_header_holds(
    app: Starlette, db: AsyncEngine, settings: Settings
) -> None:
    user, token = await signed_in_user(db, settings)
    async with connect(app, subprotocols=["graphql-transport-ws"], token=token) as socket:
        await socket.send({"type": "connection_init"})
        assert await socket.receive() == {"type": "connection_ack"}
        assert await ask_me(socket) == {"id": f.global_id("User", user.id), "status": "ACTIVE"}


@pytest.mark.parametrize(
    "payload",
    [
        {"Authorization": "Bearer not-a-token"},
        {"authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": ["Bearer", "list"]},
    ],
)
async def test_a_bad_token_at_connection_init_closes_with_4403(
    app: Starlette, payload: dict[str, object]
) -> None:
    async with connect(app, subprotocols=["graphql-transport-ws"]) as socket:
        await socket.send({"type": "connection_init", "payload": payload})
        assert await socket.receive() == {"close": 4403}


async def test_an_expired_token_at_connection_init_closes_with_4403(
    app: Starlette, db: AsyncEngine, settings: Settings
) -> None:
    # given: a token for a live login session, but past its lifetime
    async with session_factory(db)() as session, session.begin():
        user = await f.user(session)
        live = await f.access_token(session, settings, user)
    session_id = security.read_token(
        settings.signing_key(),
        live,
        expected="access",
        now=utcnow(),
        max_lifetime=settings.access_token_ttl,
    ).session_id
    expired = security.mint_token(
        settings.signing_key(),
        subject=str(user.id),
        type="access",
        now=utcnow() - timedelta(seconds=settings.access_token_ttl + 60),
        ttl=settings.access_token_ttl,
        session_id=session_id,
    )
    async with connect(app, subprotocols=["graphql-transport-ws"]) as socket:
        # when
        await socket.send(
            {"type": "connection_init", "payload": {"Authorization": f"Bearer {expired}"}}
        )
        # then
        assert await socket.receive() == {"close": 4403}


async def test_a_bad_handshake_header_is_refused_at_init_unless_the_payload_signs_in(
    app: Starlette, db: AsyncEngine, settings: Settings
) -> None:
    user, token = await signed_in_user(db, settings)
    async with connect(app, subprotocols=["graphql-transport-ws"], token="garbage") as socket:
        await socket.send({"type": "connection_init", "payload": {}})
        assert await socket.receive() == {"close": 4403}
    async with connect(app, subprotocols=["graphql-transport-ws"], token="garbage") as socket:
        await socket.send(
            {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
        )
        assert await socket.receive() == {"type": "connection_ack"}
        assert await ask_me(socket) == {"id": f.global_id("User", user.id), "status": "ACTIVE"}


async def test_the_legacy_graphql_ws_protocol_is_refused(app: Starlette) -> None:
    async with connect(app, subprotocols=["graphql-ws"]) as socket:
        assert socket.subprotocol is None
        assert await socket.receive() == {"close": 4406}


async def test_replacing_the_viewer_forgets_what_was_worked_out_for_the_old_one(
    app: Starlette, settings: Settings
) -> None:
    # given: a context that already built its viewer-dependent parts
    view = app.state.view
    anonymous = Viewer.anonymous()
    context = Context(
        request=None,  # type: ignore[arg-type]
        settings=settings,
        sessions=view.sessions,
        viewer=anonymous,
        request_id="test",
        authorizer=view.authorizer,
        masking_rules=view.masking.rules,
    )
    loaders, principal = context.loaders, context.principal
    context.field_access[("User", "email")] = Access.DENY
    staff = Viewer(user_id=uuid.uuid4(), platform_roles=frozenset({Role.PLATFORM_RISK_OFFICER}))
    # when
    context.replace_viewer(staff)
    # then
    assert context.loaders is not loaders
    assert context.principal != principal
    assert context.principal == staff.principal()
    assert context.field_access == {}
