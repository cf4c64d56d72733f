"""Request id, one structured log line and the metrics of every HTTP request."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kernel import metrics

log = logging.getLogger("lendgraph.request")

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _SAFE_ID.match(given) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            log.info(
                "request",
                extra={
                    "request_id": request_id,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status,
                    "operation": state.get("operation"),
                    "duration_ms": round(seconds * 1000, 2),
                    "sql_statements": state.get("sql_statements"),
                },
            )
            metrics.observe_http(
                path=scope["path"],
                status=status,
                seconds=seconds,
                operation=state.get("operation"),
                reached_execution="operation" in state,
                outcome=state.get("outcome"),
                executor=state.get("executor"),
                sql_statements=state.get("sql_statements"),
            )
