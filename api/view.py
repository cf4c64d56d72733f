"""GraphQL over HTTP: Strawberry's ASGI view, held to the GraphQL-over-HTTP spec.

- ``application/graphql-response+json`` when the client accepts it (then a request
  error, i.e. a response without ``data``, is HTTP 400), ``application/json``
  otherwise; 406 when the client accepts neither.
- Every SQL statement run for the request is counted; development responses carry
  the count in ``extensions.debug.sqlStatements``. The executor that answered and the
  outcome (``ok`` or the first error's code) are left in the request's state for the
  request log and the metrics (api.middleware).
- With traces on, the operation is a span of its own (``query Name``) around whichever
  executor answers, the SQL statements' spans under it.
- WebSockets speak graphql-transport-ws only. Browsers cannot set headers on a
  WebSocket, so a client may sign in with the connection_init payload
  (``{"Authorization": "Bearer <token>"}``); a token that fails closes it with 4403.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema import BaseSchema
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UnsetType

from api.compiled.execute import CompiledReads
from api.context import Context
from api.disclosure import MaskingCache, access_log_rows
from api.guards import OUTCOME_STATE, PAYLOAD_STATE, read_body, replay_body
from api.ide import GraphiQLAssets
from api.media import GRAPHQL_RESPONSE, JSON, negotiate
from api.viewers import ViewerCache
from domain.identity.authorization import MASKING_COUNTER, Authorizer
from domain.identity.service import viewer_until
from domain.identity.viewer import Viewer
from domain.jobs.queue import JobQueue
from domain.privacy.models import AccessLogEntry
from domain.privacy.purposes import HEADER as PURPOSE_HEADER
from domain.privacy.purposes import UnknownPurpose, purpose_for
from domain.settings import Settings
from kernel import bulk
from kernel.db import StatementCounter, current_statement_counter
from kernel.errors import Unauthenticated
from kernel.metrics import VIEWER_CACHE

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

EXECUTOR_STATE = "executor"


def _first_code(errors: Any) -> str | None:
    """The outcome of a response: None (ok) or its first error's code."""
    if not errors:
        return None
    extensions = errors[0].get("extensions") if isinstance(errors[0], dict) else None
    code = extensions.get("code") if isinstance(extensions, dict) else None
    return code if isinstance(code, str) else "INTERNAL_SERVER_ERROR"


def _compilable(scope: Scope, headers: Headers) -> bool:
    """A JSON POST: the only requests the compiled read path looks at."""
    content_type = headers.get("content-type", "")
    return scope["method"] == "POST" and content_type.split(";")[0].strip() == JSON


def _json_payload(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None  # Strawberry answers it, with the error it gives


def _query_payload(scope: Scope) -> Any:
    """A GET request's query parameters as a request body (GraphQL over HTTP)."""
    parameters = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    if "query" not in parameters:
        return None
    variables = parameters.get("variables")
    if variables is not None:
        variables = _json_payload(variables.encode())
        if not isinstance(variables, dict):
            return None
    return {
        "query": parameters["query"],
        "variables": variables,
        "operationName": parameters.get("operationName"),
    }


MAX_SUBSCRIPTIONS = 10  # per WebSocket: a feed or two per screen, not a fan-out amplifier


class GraphQLView(GraphQL[Context, None]):
    def __init__(
        self,
        schema: BaseSchema,
        *,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        tracer: Tracer | None = None,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.is_development else None,
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            # importEnterprises takes a file. Safe from CSRF: a bearer token, never a cookie.
            multipart_uploads_enabled=True,
        )
        self.settings = settings
        self.sessions = sessions
        self.tracer = tracer  # None: traces off, and not a call spent on them
        # GraphiQL's page and files, from the package: the IDE needs no internet (api.ide).
        self.ide = GraphiQLAssets() if settings.is_development else None
        # The job queue mutations defer to; create_app sets it.
        self.jobs: JobQueue | None = None
        self.authorizer = Authorizer()
        self.masking = MaskingCache()
        # Signed-in viewers kept while PostgreSQL says nothing changed (api.viewers).
        self.viewers = ViewerCache()
        self._synced_at = -1  # the viewers' epoch when the policy was last read
        # The compiled read path (api.compiled), tried first for queries; None: off.
        self.compiled: CompiledReads | None = None
        rules = getattr(schema, "validation_rules", None)
        if settings.compiled_reads and rules is not None:
            engine = sessions.kw["bind"]
            self.compiled = CompiledReads(schema, settings, engine, rules)
            self.compiled.tracer = tracer

    async def authenticate(self, authorization: str | None) -> Viewer:
        """The viewer behind an Authorization value (None: anonymous); syncs the policy too.

        One short session: the policy version (one primary-key read) and, with a
        token, the account, its login session and its roles. None at all while the
        database has said nothing changed since (api.viewers, PostgreSQL only).
        """
        kept = self.viewers
        if kept.active and self._synced_at == kept.epoch:
            if authorization is None:
                return Viewer.anonymous()
            found = kept.get(authorization)
            if found is not None:
                VIEWER_CACHE.hit()
                return found
        if kept.active and authorization is not None:
            VIEWER_CACHE.miss()  # not kept, or kept before something changed
        epoch = kept.epoch  # before reading: a change committed meanwhile moves it on
        async with self.sessions() as session:
            counters = await self.authorizer.sync(session)
            await self.masking.sync(session, counters.get(MASKING_COUNTER, 0))
            self._synced_at = epoch
            if authorization is None:
                return Viewer.anonymous()
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("send Authorization: Bearer <access token>")
            viewer, expires = await viewer_until(session, self.settings, token.strip())
        kept.put(authorization, viewer, expires=expires, epoch=epoch)
        return viewer

    async def render_graphql_ide(self, request: Request) -> Response:
        """Strawberry's hook for the IDE page: ours loads GraphiQL from this service."""
        if self.ide is None:  # unreachable: Strawberry renders no IDE when graphql_ide is None
            return PlainTextResponse("Not Found", status_code=404)
        return self.ide.page(request)

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        viewer = getattr(request.state, "viewer", None)
        if viewer is None:  # a WebSocket: its handshake headers, then on_ws_connect
            try:
                viewer = await self.authenticate(request.headers.get("authorization"))
            except Unauthenticated as exc:
                # Refused at connection_init, unless its payload brings a valid token.
                request.state.handshake_refusal = exc
                viewer = Viewer.anonymous()
        context = Context(
            request=request,
            response=response,
            settings=self.settings,
            sessions=self.sessions,
            viewer=viewer,
            request_id=request.state.request_id,
            authorizer=self.authorizer,
            masking_rules=self.masking.rules,
            jobs=self.jobs,
        )
        if isinstance(request, WebSocket) and not viewer.is_anonymous:
            context.credential = request.headers.get("authorization")
        request.state.context = context
        return context

    async def on_ws_connect(self, context: Context) -> UnsetType:
        """connection_init: a token in the payload names the viewer for the connection.

        Without one the handshake's Authorization header holds (anonymous if none).
        The acknowledgement carries no payload.
        """
        params = context.connection_params or {}
        authorization = params.get("Authorization", params.get("authorization"))
        if authorization is None:
            if getattr(context.request.state, "handshake_refusal", None) is not None:
                raise ConnectionRejectionError
        elif isinstance(authorization, str):
            try:
                context.replace_viewer(await self.authenticate(authorization))
            except Unauthenticated as exc:
                raise ConnectionRejectionError({"message": exc.message}) from None
            context.credential = authorization
        else:
            raise ConnectionRejectionError
        return UnsetType()  # the UNSET singleton, typed

    async def log_reveals(self, request: Request) -> None:
        """The request's reveals, in one INSERT (DESIGN rule 2)."""
        context: Context | None = getattr(request.state, "context", None)
        if context is None or not context.reveals:
            return
        rows = access_log_rows(context)
        async with self.sessions() as session, session.begin():
            await bulk.insert_rows(session, AccessLogEntry, rows)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        if self.tracer is None:
            await self._http(scope, receive, send)
            return
        with self.tracer.start_as_current_span("graphql") as span:
            try:
                await self._http(scope, receive, send)
            finally:
                state = scope.get("state", {})
                kind = state.get("operation_type", "query")
                name = state.get("operation")
                # Semantic conventions: "{operation type} {name}"; the document stays out.
                span.update_name(f"{kind} {name}" if name else kind)
                span.set_attribute("graphql.operation.type", kind)
                if name:
                    span.set_attribute("graphql.operation.name", name)
                span.set_attribute("lendgraph.executor", state.get(EXECUTOR_STATE) or "none")
                outcome = state.get(OUTCOME_STATE)
                if outcome:
                    span.set_attribute("lendgraph.graphql.outcome", outcome)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        accept = headers.get("accept")
        wants_ide = scope["method"] == "GET" and "text/html" in (accept or "")
        media_type = negotiate(accept)
        if media_type is None and not wants_ide:
            scope.setdefault("state", {})[OUTCOME_STATE] = "NOT_ACCEPTABLE"
            refusal = PlainTextResponse(f"Accept {GRAPHQL_RESPONSE} or {JSON}", status_code=406)
            await refusal(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["media_type"] = media_type or JSON
        counter = StatementCounter()
        state["sql_counter"] = counter
        token = current_statement_counter.set(counter)
        try:
            try:
                viewer = state["viewer"] = await self.authenticate(headers.get("authorization"))
                state["purpose"] = purpose_for(viewer, headers.get(PURPOSE_HEADER))
            except UnknownPurpose as exc:
                state[OUTCOME_STATE] = "BAD_USER_INPUT"
                bad_purpose = JSONResponse(
                    {"errors": [{"message": str(exc), "extensions": {"code": "BAD_USER_INPUT"}}]},
                    status_code=400,
                    media_type=media_type or JSON,
                )
                await bad_purpose(scope, receive, send)
                return
            except Unauthenticated as exc:
                state[OUTCOME_STATE] = exc.code
                denial = JSONResponse(
                    {"errors": [{"message": exc.message, "extensions": {"code": exc.code}}]},
                    status_code=401,
                    media_type=media_type or JSON,
                    headers={"www-authenticate": 'Bearer error="invalid_token"'},
                )
                await denial(scope, receive, send)
                return
            if self.compiled is not None and _compilable(scope, headers):
                payload = state.get(PAYLOAD_STATE)
                if payload is None:  # not checked on the way in: read it here, keep it
                    body = await read_body(receive, self.settings.max_body_bytes)
                    payload = _json_payload(body)
                    receive = replay_body(body, receive)
                if await self._answer_compiled(scope, receive, send, payload, media_type or JSON):
                    return
            elif self.compiled is not None and scope["method"] == "GET" and not wants_ide:
                payload = _query_payload(scope)
                if await self._answer_compiled(scope, receive, send, payload, media_type or JSON):
                    return
            await super().__call__(scope, receive, send)
        finally:
            if state.get("operation_type") == "mutation":
                # This worker's own changes count at once, before their notification.
                self.viewers.forget()
            current_statement_counter.reset(token)
            state["sql_statements"] = counter.count
            context = state.get("context")
            if context is not None:  # an upload's temporary files, read or refused
                await context.request.close()

    async def _answer_compiled(
        self, scope: Scope, receive: Receive, send: Send, payload: Any, media_type: str
    ) -> bool:
        """Answer through the compiled read path if it covers the request (True)."""
        assert self.compiled is not None
        if payload is None:
            return False
        request = Request(scope, receive)
        context = await self.get_context(request, response=None)
        result = await self.compiled.answer(context, payload)
        if result is None:
            # The reference executor starts afresh: nothing decided here is kept.
            context.reveals.clear()
            return False
        await self.log_reveals(request)
        scope["state"][EXECUTOR_STATE] = "compiled"
        scope["state"][OUTCOME_STATE] = _first_code(result.get("errors"))
        if self.settings.is_development:
            counter = scope["state"]["sql_counter"]
            result["extensions"] = {
                "debug": {
                    "sqlStatements": counter.count,
                    "authzEvaluations": context.authz_evaluations,
                    "executor": "compiled",
                }
            }
        response = Response(
            orjson.dumps(result), media_type=f"{media_type}; charset=utf-8", status_code=200
        )
        await response(scope, receive, send)
        return True

    async def execute_single(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """GraphQL over HTTP: a mutation sent with GET is 405 Method Not Allowed, not 400."""
        try:
            return await super().execute_single(
                request=request,
                request_adapter=request_adapter,
                sub_response=sub_response,
                context=context,
                root_value=root_value,
                request_data=request_data,
            )
        except HTTPException as exc:
            if isinstance(exc.__cause__, InvalidOperationTypeError) and (
                request_adapter.method == "GET"
            ):
                raise HTTPException(405, "mutations are sent with POST") from exc
            raise

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = getattr(request.state, "media_type", JSON)
        return sub_response

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        response = await super().process_result(request, result)
        await self.log_reveals(request)
        if result.data is None and result.errors and all(e.path is None for e in result.errors):
            # A request error: execution never began, so the spec wants no data entry.
            response.pop("data", None)
        request.state.executor = "reference"
        request.state.outcome = _first_code(response.get("errors"))
        if self.settings.is_development:
            counter = getattr(request.state, "sql_counter", None)
            if counter is not None:
                extensions = dict(response.get("extensions") or {})
                context = getattr(request.state, "context", None)
                extensions["debug"] = {
                    "sqlStatements": counter.count,
                    "authzEvaluations": context.authz_evaluations if context else 0,
                    "executor": "reference",
                }
                response["extensions"] = extensions
        return response

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        media_type = sub_response.media_type or JSON
        response.headers["content-type"] = f"{media_type}; charset=utf-8"
        if (
            media_type == GRAPHQL_RESPONSE
            and isinstance(response_data, dict)
            and "data" not in response_data
        ):
            response.status_code = 400
        return response
