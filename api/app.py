"""The ASGI application factory."""

from __future__ import annotations

import gc
import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute

from api.guards import TransportGuard
from api.ide import PREFIX as IDE_PREFIX
from api.jobs.files import file_endpoint
from api.jobs.types import DOWNLOAD_PATH
from api.logs import configure_logging
from api.middleware import RequestLog
from api.oauth import token_endpoint
from api.schema import build_schema
from api.view import GraphQLView
from domain.jobs.queue import InProcessRunner, JobQueue, Runtime
from domain.privacy.purposes import HEADER as PURPOSE_HEADER
from domain.settings import Settings, get_settings
from kernel import events, metrics, tracing
from kernel.db import create_engine, session_factory

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger("lendgraph")

# What a browser page on an allowed origin may send and read (CORS); bearer tokens,
# never cookies, so no credentials mode.
CORS_HEADERS = ("authorization", "content-type", "accept", "x-request-id", PURPOSE_HEADER)
CORS_EXPOSED = ("x-request-id", "retry-after")


def create_app(
    settings: Settings | None = None,
    *,
    engine: AsyncEngine | None = None,
    tracer_provider: TracerProvider | None = None,
) -> Starlette:
    """The service. ``tracer_provider``: where traces go (default: as ``OTEL_*`` say)."""
    settings = settings or get_settings()
    owns_engine = engine is None
    db = engine or create_engine(settings.database_url, pool_size=settings.db_pool_size)
    provider = tracer_provider or tracing.process_provider()
    view = GraphQLView(
        build_schema(settings),
        settings=settings,
        sessions=session_factory(db),
        tracer=tracing.tracer(provider) if provider is not None else None,
    )
    # Web workers defer jobs and never run them on PostgreSQL (`lendgraph worker` does);
    # on SQLite the serving process is the only one, and runs them itself.
    jobs = view.jobs = JobQueue(settings)

    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> JSONResponse:
        try:
            async with db.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError) as exc:
            log.warning("database not reachable", extra={"error": type(exc).__name__})
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
        return JSONResponse({"status": "ready", "database": "ok"})

    token = settings.metrics_token.get_secret_value().encode() if settings.metrics_token else None

    async def metrics_endpoint(request: Request) -> Response:
        if token is None and not settings.is_development:
            # Operation names and volumes are nobody's business: a token is required.
            return PlainTextResponse("Not Found", status_code=404)
        if token is not None:
            scheme, _, given = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), token):
                return PlainTextResponse(
                    "Unauthorized", status_code=401, headers={"www-authenticate": "Bearer"}
                )
        return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        settings.signing_key()  # fail at start, not at the first sign-in
        settings.keys()  # likewise for the keys of personal data
        # Everything alive now lives as long as the process: keep it out of the
        # collector's full passes, which otherwise pause requests for 100 ms and more.
        gc.collect()
        gc.freeze()
        # Alerts raised in any process reach this one's subscribers (LISTEN on PostgreSQL).
        previous_hub = events.set_hub(events.EventHub(settings.database_url))
        metrics.worker_started()
        if settings.database_url.startswith("postgresql"):
            # Signed-in viewers are kept while PostgreSQL says nothing changed.
            await view.viewers.start(events.hub())
        runner = None
        if jobs.embedded:
            runner = InProcessRunner(jobs, Runtime(settings, view.sessions))
            await runner.start()
        app.state.job_runner = runner
        yield
        if runner is not None:
            await runner.stop()
        await jobs.close()
        await view.viewers.stop()
        await events.hub().aclose()
        events.set_hub(previous_hub)
        metrics.worker_stopped()
        if provider is not None:
            tracing.uninstrument_engines()
            provider.force_flush()
        if owns_engine:
            await db.dispose()

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/graphql", view),
        Route("/oauth/token", token_endpoint(settings, view.sessions), methods=["POST"]),
        Route(DOWNLOAD_PATH + "{id}", file_endpoint(view), methods=["GET"]),
        WebSocketRoute("/graphql", view),
    ]
    if view.ide is not None:  # development only, like the IDE page that loads them
        routes.append(Route(f"{IDE_PREFIX}/{{path:path}}", view.ide.serve, methods=["GET"]))
    if settings.metrics:
        routes.append(Route("/metrics", metrics_endpoint))
    # Outermost first. A preflight is answered by CORS before the transport guard and
    # the routes see it (/graphql answers OPTIONS with 405), and the guard's refusals
    # pass back through CORS, so a page can read them; every request is logged and counted.
    middleware = [Middleware(RequestLog)]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=("GET", "POST"),
                allow_headers=CORS_HEADERS,
                expose_headers=CORS_EXPOSED,
                max_age=600,
            )
        )
    middleware.append(
        Middleware(
            TransportGuard,
            max_body_bytes=settings.max_body_bytes,
            max_upload_bytes=settings.max_upload_bytes,
            max_json_depth=settings.max_json_depth,
            max_response_bytes=settings.max_response_bytes,
        )
    )
    if provider is not None:
        middleware.insert(0, _traced_requests(provider))
        tracing.instrument_engine(db, provider)
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.engine = db
    app.state.settings = settings
    app.state.view = view
    return app


def _traced_requests(provider: TracerProvider) -> Middleware:
    """The ASGI instrumentation, outermost: one server span per request."""
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.util.http import get_excluded_urls

    paths = frozenset(("/graphql", "/oauth/token", "/healthz", "/readyz", "/metrics"))

    def span_details(scope: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        path = scope.get("path", "")
        route = path if path in paths else None  # an unknown path's text stays out of names
        name = " ".join(p for p in (scope.get("method"), route) if p) or "request"
        return name, ({"http.route": route} if route else {})

    return Middleware(
        OpenTelemetryMiddleware,
        tracer_provider=provider,
        # Request metrics are Prometheus's (kernel.metrics); nor a span per ASGI message.
        meter_provider=NoOpMeterProvider(),
        exclude_spans=["receive", "send"],
        excluded_urls=get_excluded_urls("STARLETTE"),
        default_span_details=span_details,
    )


def app_factory() -> Starlette:
    """Entry point for ``uvicorn --factory`` and worker processes: reads the environment.

    ``serve --workers N`` starts each worker as a fresh process that inherits none of
    the parent's logging set-up, so each one sets up its own here.
    """
    settings = get_settings()
    configure_logging(settings.log_level, hide_parameters=not settings.is_development)
    return create_app(settings)
