"""Transport guards in front of every route: refusals and failures as GraphQL errors.

Threat model: the body of a request is the client's, whole. Before any GraphQL
handling (Strawberry's or the compiled read path's) it is held to what a GraphQL
request over HTTP can be, and every refusal is a JSON error with a stable
``extensions.code``, never a plain-text 500:

- a body over ``max_body_bytes`` (``max_upload_bytes`` for a multipart upload) is
  HTTP 413 ``PAYLOAD_TOO_LARGE``, read no further;
- a JSON body that is not UTF-8, not JSON, nested deeper than ``max_json_depth``, a
  batch, without a query or with a persisted-query hash is HTTP 400 (``BAD_REQUEST``,
  ``PERSISTED_QUERY_NOT_SUPPORTED``); so are the same faults in a GET's parameters;
- a variable holding text no column can store (NUL, a lone surrogate) is
  ``BAD_USER_INPUT`` naming the variable and the path in it, as api.scalars words it;
- Strawberry's own plain-text refusals (unsupported content type, an unknown
  operation name, a mutation over GET...) are rewritten as JSON with a code;
- an answer over ``max_response_bytes`` is not sent (HTTP 400 ``RESPONSE_TOO_LARGE``):
  the cost estimate's second line;
- the database out of reach is HTTP 503 ``SERVICE_UNAVAILABLE`` with ``Retry-After``,
  whether it failed before execution (signing in) or under it (api.errors flags the
  request); anything else that escapes is a logged 500 quoting the request id.
"""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import SERVICE_UNAVAILABLE, UNAVAILABLE_FLAG, is_outage
from api.media import JSON, negotiate
from api.scalars import BAD_USER_INPUT, first_text_fault, print_path

log = logging.getLogger("lendgraph.guards")

BAD_REQUEST = "BAD_REQUEST"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
PERSISTED_QUERY_NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
RESPONSE_TOO_LARGE = "RESPONSE_TOO_LARGE"
INTERNAL = "INTERNAL_SERVER_ERROR"
RETRY_AFTER_SECONDS = 5
LARGE_BODY_FLAG = "large_body"
# A request whose body was larger than this has its garbage collected when it ends.
# Strawberry's per-request objects form reference cycles that hold the document text;
# they outlive the request until the collector's rare full pass (rarer still after the
# app's gc.freeze), so 1 MB documents grew a worker by 20 MB per 60 requests, without
# bound. Collected at once, the worker stays flat; the cost falls on large requests only.
LARGE_BODY_BYTES = 256 * 1024

# Strawberry's plain-text refusals: the status stays, the code says which.
_CODES_BY_STATUS = {
    400: BAD_REQUEST,
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    406: "NOT_ACCEPTABLE",
    413: PAYLOAD_TOO_LARGE,
}
_CODES_BY_REASON = {"Unknown operation named": "OPERATION_RESOLUTION_FAILURE"}


class Refusal(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


class _TooLarge(Exception):
    """Raised from receive() when a streamed body passes its limit."""


def error_body(message: str, code: str, **extensions: Any) -> bytes:
    payload = {"errors": [{"message": message, "extensions": {"code": code, **extensions}}]}
    return json.dumps(payload, ensure_ascii=False).encode()


def json_depth_exceeds(value: object, limit: int) -> bool:
    """Whether a parsed JSON value nests deeper than ``limit`` (iteratively)."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth + 1 > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


# Where a checked JSON request body waits, parsed, for the GraphQL view.
PAYLOAD_STATE = "graphql_payload"
# The code a request was refused or answered with, for its metrics (kernel.metrics).
OUTCOME_STATE = "outcome"


class TransportGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        graphql_path: str = "/graphql",
        max_body_bytes: int,
        max_upload_bytes: int,
        max_json_depth: int,
        max_response_bytes: int,
    ) -> None:
        self.app = app
        self.max_response_bytes = max_response_bytes
        self.graphql_path = graphql_path
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        media_type = negotiate(headers.get("accept")) or JSON
        state = scope.setdefault("state", {})
        graphql = scope["path"] == self.graphql_path
        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if state.get(UNAVAILABLE_FLAG) and message["status"] < 500:
                    message = _unavailable(message)
                    state[OUTCOME_STATE] = SERVICE_UNAVAILABLE
            await send(message)

        try:
            receive = await self._checked_body(scope, headers, receive)
            app_send: Send = guarded_send
            if graphql:
                app_send = _JsonRefusals(
                    _ResponseCap(guarded_send, media_type, self.max_response_bytes, state),
                    media_type,
                    state,
                )
            try:
                await self.app(scope, receive, app_send)
            finally:
                if state.pop(LARGE_BODY_FLAG, False):
                    gc.collect()
        except Refusal as refusal:
            state[OUTCOME_STATE] = refusal.code
            status = refusal.status
            if isinstance(refusal, _VariableRefusal) and media_type == JSON:
                status = 200  # GraphQL over HTTP: a request error is 400 only in the new type
            await _respond(
                send, status, media_type, refusal.headers, error_body(refusal.message, refusal.code)
            )
        except _TooLarge:
            if started:
                raise
            state[OUTCOME_STATE] = PAYLOAD_TOO_LARGE
            await _respond(send, 413, media_type, {}, error_body(*self._too_large(headers)))
        except ClientDisconnect:
            # The client left before its body arrived: nobody to answer, nothing broken.
            log.info("client disconnected", extra={"request_id": state.get("request_id")})
        except RecursionError:
            # A multipart upload's operations, parsed by Strawberry: nested past the stack.
            if started:
                raise
            state[OUTCOME_STATE] = BAD_REQUEST
            message = f"The request nests deeper than {self.max_json_depth} levels."
            await _respond(send, 400, media_type, {}, error_body(message, BAD_REQUEST))
        except Exception as exc:
            request_id = state.get("request_id")
            state[OUTCOME_STATE] = SERVICE_UNAVAILABLE if is_outage(exc) else INTERNAL
            if is_outage(exc):
                # What failed, not the statement or its values (which may be personal).
                log.warning(
                    "database unavailable",
                    extra={"request_id": request_id, "error": type(exc).__name__},
                )
                if started:
                    return
                await _respond(
                    send,
                    503,
                    media_type,
                    {"retry-after": str(RETRY_AFTER_SECONDS)},
                    error_body(
                        "The service cannot reach its database; retry shortly.", SERVICE_UNAVAILABLE
                    ),
                )
                return
            log.error("unhandled error", exc_info=exc, extra={"request_id": request_id})
            if started:
                return
            await _respond(
                send,
                500,
                media_type,
                {},
                error_body(
                    f"Unexpected error. Quote request id {request_id} when reporting it.",
                    INTERNAL,
                    requestId=request_id,
                ),
            )

    def _too_large(self, headers: Headers) -> tuple[str, str]:
        limit = self._limit(headers)
        return f"The request body is over {limit} bytes.", PAYLOAD_TOO_LARGE

    def _limit(self, headers: Headers) -> int:
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "multipart/form-data":
            return self.max_upload_bytes
        return self.max_body_bytes

    async def _checked_body(self, scope: Scope, headers: Headers, receive: Receive) -> Receive:
        """The receive channel the app should read; raises Refusal for a bad request."""
        limit = self._limit(headers)
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > limit:
                raise _TooLarge
            scope["state"][LARGE_BODY_FLAG] = int(declared) > LARGE_BODY_BYTES
        graphql = scope["path"] == self.graphql_path
        if graphql and scope["method"] == "GET":
            self._check_parameters(scope)
            return receive
        content_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if not (graphql and scope["method"] == "POST" and content_type == JSON):
            return _counting(receive, limit)
        body = await read_body(receive, limit)
        if len(body) > LARGE_BODY_BYTES:
            scope["state"][LARGE_BODY_FLAG] = True
        # Parsed once: the compiled read path answers from this (api.view).
        scope["state"][PAYLOAD_STATE] = self._check_json_body(body)
        return replay_body(body, receive)

    def _check_json_body(self, body: bytes) -> dict[str, Any]:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Refusal(400, BAD_REQUEST, "The request body is not valid UTF-8.") from None
        payload = self._parse(text, "The request body")
        if isinstance(payload, list):
            raise Refusal(400, BAD_REQUEST, "Batched requests are not supported: send one.")
        if not isinstance(payload, dict):
            raise Refusal(400, BAD_REQUEST, "The request body must be a JSON object.")
        self._check_request(payload)
        return payload

    def _check_parameters(self, scope: Scope) -> None:
        raw = scope.get("query_string", b"").decode("latin-1")
        params: dict[str, Any] = dict(parse_qsl(raw, keep_blank_values=True))
        for name in ("variables", "extensions"):
            if params.get(name):
                params[name] = self._parse(params[name], f"The {name} parameter")
        if "query" in params or "extensions" in params:  # neither: a browser's GraphiQL
            self._check_request(params)

    def _parse(self, text: str, what: str) -> Any:
        try:
            value = json.loads(text)
        except RecursionError:
            value = None
            too_deep = True
        except ValueError:
            raise Refusal(400, BAD_REQUEST, f"{what} is not valid JSON.") from None
        else:
            too_deep = json_depth_exceeds(value, self.max_json_depth)
        if too_deep:
            raise Refusal(
                400, BAD_REQUEST, f"{what} nests deeper than {self.max_json_depth} levels."
            )
        return value

    def _check_request(self, payload: Mapping[str, Any]) -> None:
        extensions = payload.get("extensions")
        if isinstance(extensions, dict) and "persistedQuery" in extensions:
            raise Refusal(
                400,
                PERSISTED_QUERY_NOT_SUPPORTED,
                "Persisted queries are not supported: send the document in query.",
            )
        query = payload.get("query")
        if not isinstance(query, str) or not query.strip():
            raise Refusal(400, BAD_REQUEST, "Send the GraphQL document as a string in query.")
        variables = payload.get("variables")
        if variables is not None and not isinstance(variables, dict):
            raise Refusal(400, BAD_REQUEST, "variables must be a JSON object.")
        name = payload.get("operationName")
        if name is not None and not isinstance(name, str):
            raise Refusal(400, BAD_REQUEST, "operationName must be a string.")
        for variable, value in (variables or {}).items():
            found = first_text_fault(value)
            if found is not None:
                fault, path = found
                at = f" at {print_path(path)}" if path else ""
                # A request that does not coerce: 400 only under graphql-response+json.
                raise _VariableRefusal(f"Variable '${variable}' has invalid value{at}: {fault}.")


class _VariableRefusal(Refusal):
    def __init__(self, message: str) -> None:
        super().__init__(400, BAD_USER_INPUT, message)


def _unavailable(start: Message) -> Message:
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"retry-after"]
    headers.append((b"retry-after", str(RETRY_AFTER_SECONDS).encode()))
    return {**start, "status": 503, "headers": headers}


async def _respond(
    send: Send, status: int, media_type: str, headers: Mapping[str, str], body: bytes
) -> None:
    raw = [
        (b"content-type", f"{media_type}; charset=utf-8".encode()),
        (b"content-length", str(len(body)).encode()),
        *((k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay_body(body: bytes, receive: Receive) -> Receive:
    """Hands the body read already to the app, once; then the client's channel."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _counting(receive: Receive, limit: int) -> Receive:
    size = 0

    async def counted() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise _TooLarge
        return message

    return counted


class _ResponseCap:
    """A GraphQL response over the cap is not sent: an error saying so goes instead.

    The second line behind the cost estimate, which cannot know a list's real length:
    what a client may be sent is bounded even when an estimate was wrong. Every answer
    of the GraphQL route is one body, checked whole before its head goes out.
    """

    def __init__(self, send: Send, media_type: str, limit: int, state: dict[str, Any]) -> None:
        self.state = state
        self.send = send
        self.media_type = media_type
        self.limit = limit
        self.held: Message | None = None
        self.dropping = False

    async def __call__(self, message: Message) -> None:
        if self.dropping:
            return
        if message["type"] == "http.response.start":
            self.held = message
            return
        if message["type"] == "http.response.body" and self.held is not None:
            start, self.held = self.held, None
            if len(message.get("body", b"")) > self.limit:
                self.dropping = True
                text = (
                    f"The answer is over {self.limit} bytes and was not sent: ask for fewer "
                    "rows (first) or fewer fields."
                )
                body = error_body(text, RESPONSE_TOO_LARGE, limit=self.limit)
                self.state[OUTCOME_STATE] = RESPONSE_TOO_LARGE
                await _respond(self.send, 400, self.media_type, {}, body)
                return
            await self.send(start)
        await self.send(message)


class _JsonRefusals:
    """Strawberry's plain-text refusals on the GraphQL route, sent as JSON errors."""

    def __init__(self, send: Send, media_type: str, state: dict[str, Any]) -> None:
        self.send = send
        self.media_type = media_type
        self.state = state
        self.held: Message | None = None
        self.chunks: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            content_type = Headers(raw=message.get("headers", [])).get("content-type", "")
            if message["status"] >= 400 and content_type.startswith("text/plain"):
                self.held = message
                return
        elif message["type"] == "http.response.body" and self.held is not None:
            self.chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            await self._send_json(self.held, b"".join(self.chunks).decode("utf-8", "replace"))
            return
        await self.send(message)

    async def _send_json(self, start: Message, reason: str) -> None:
        status = start["status"]
        code = next(
            (c for prefix, c in _CODES_BY_REASON.items() if reason.startswith(prefix)),
            _CODES_BY_STATUS.get(status, BAD_REQUEST if status < 500 else INTERNAL),
        )
        self.state[OUTCOME_STATE] = code
        body = error_body(reason.strip() or "The request was refused.", code)
        kept = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in start.get("headers", [])
            if k.lower() not in (b"content-type", b"content-length")
        }
        await _respond(self.send, status, self.media_type, kept, body)
