"""The ASGI application factory."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute

from api.guards import TransportGuard
from api.logs import configure_logging
from api.middleware import RequestLog
from api.oauth import token_endpoint
from api.schema import build_schema
from api.view import GraphQLView
from domain import events
from domain.db import create_engine, session_factory
from domain.jobs.queue import InProcessRunner, JobQueue, Runtime
from domain.settings import Settings, get_settings

log = logging.getLogger("lendgraph")


def create_app(settings: Settings | None = None, *, engine: AsyncEngine | None = None) -> Starlette:
    settings = settings or get_settings()
    owns_engine = engine is None
    db = engine or create_engine(settings.database_url, pool_size=settings.db_pool_size)
    view = GraphQLView(build_schema(settings), settings=settings, sessions=session_factory(db))
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
        if owns_engine:
            await db.dispose()

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/graphql", view),
            Route("/oauth/token", token_endpoint(settings, view.sessions), methods=["POST"]),
            WebSocketRoute("/graphql", view),
        ],
        middleware=[
            Middleware(RequestLog),
            Middleware(
                TransportGuard,
                max_body_bytes=settings.max_body_bytes,
                max_upload_bytes=settings.max_upload_bytes,
                max_json_depth=settings.max_json_depth,
                max_response_bytes=settings.max_response_bytes,
            ),
        ],
        lifespan=lifespan,
    )
    app.state.engine = db
    app.state.settings = settings
    app.state.view = view
    return app


def app_factory() -> Starlette:
    """Entry point for ``uvicorn --factory`` and worker processes: reads the environment.

    ``serve --workers N`` starts each worker as a fresh process that inherits none of
    the parent's logging set-up, so each one sets up its own here.
    """
    settings = get_settings()
    configure_logging(settings.log_level, hide_parameters=not settings.is_development)
    return create_app(settings)
