"""Running LendGraph: the GraphQL service, job workers, the providers' simulator, and the
schema file the service answers to."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from api.cli.common import console, guarded, schema_is_current, settings_or_exit
from api.cli.database import prepare_demo
from kernel.db import create_engine, session_factory

SCHEMA_FILE = Path("schema.graphql")


def serve(
    host: Annotated[str | None, typer.Option(help="Overrides LENDGRAPH_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Overrides LENDGRAPH_PORT.")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64)] = 1,
    demo: Annotated[
        bool, typer.Option(help="Migrate, and seed demo data when the database is empty.")
    ] = False,
) -> None:
    """Run the GraphQL service."""
    import uvicorn

    from api.logs import configure_logging

    settings = settings_or_exit()
    configure_logging(settings.log_level, hide_parameters=not settings.is_development)
    if workers > 1 and settings.is_sqlite:
        console.print("[red]--workers > 1 needs PostgreSQL (LENDGRAPH_DATABASE_URL)[/red]")
        raise typer.Exit(2)
    if demo:
        prepare_demo(settings)
    elif not asyncio.run(schema_is_current(settings)):
        console.print("[red]the database schema is not current: run `lendgraph migrate`[/red]")
        raise typer.Exit(2)
    bind_host = host or settings.host
    bind_port = port or settings.port
    console.print(f"GraphQL endpoint: http://{bind_host}:{bind_port}/graphql")
    if settings.is_development:
        console.print(f"GraphiQL (development): open http://{bind_host}:{bind_port}/graphql")
    providers: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if demo and settings.provider_url is None:
        providers = _demo_providers(bind_port + 1)  # the simulator prints its address
    with providers, _metrics_shared(workers):
        uvicorn.run(
            "api.app:app_factory",
            factory=True,
            host=bind_host,
            port=bind_port,
            workers=workers,
            log_config=None,
            access_log=False,
            # A worker imports the model runtime and the schema before it answers the
            # supervisor's pings: on a loaded machine that took 30 s, and uvicorn's
            # default (5 s) killed each new worker before it could serve, forever.
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        )


WORKER_HEALTHCHECK_SECONDS = 120


@contextlib.contextmanager
def _metrics_shared(workers: int) -> Iterator[None]:
    """Several workers: a directory where each keeps its metrics for /metrics to merge.

    ``PROMETHEUS_MULTIPROC_DIR`` if set (emptied first, whatever the number of workers:
    values of a previous run would be counted again), else a temporary directory removed
    at exit. The workers are new processes that inherit the variable before they import
    prometheus-client.
    """
    from kernel import metrics

    given = metrics.multiprocess_dir()
    if workers == 1 and given is None:
        yield
        return
    directory = Path(given) if given else Path(tempfile.mkdtemp(prefix="lendgraph-metrics-"))
    metrics.prepare_multiprocess_dir(directory)
    os.environ[metrics.MULTIPROC_ENV] = str(directory)
    try:
        yield
    finally:
        if given is None:
            shutil.rmtree(directory, ignore_errors=True)
            del os.environ[metrics.MULTIPROC_ENV]


def provider_simulator(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 9180,
    seed: Annotated[int, typer.Option(help="Same seed, same answers.")] = 7,
) -> None:
    """Serve simulated registry, bureau and bank-statement providers (POST /faults breaks them)."""
    import uvicorn

    from seed.provider_simulator import create_simulator

    console.print(f"external data providers (simulated): http://{host}:{port}")
    # A slow answer it was told to give is not waited for when it is stopped.
    uvicorn.run(
        create_simulator(seed=seed),
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=1,
    )


@contextlib.contextmanager
def _demo_providers(port: int) -> Iterator[None]:
    """The demo's providers: the simulator in a child process, named to the app's workers."""
    child = subprocess.Popen(  # noqa: S603 (our own command line, no shell)
        [sys.executable, "-m", "api.cli", "provider-simulator", "--port", str(port)]
    )
    os.environ["LENDGRAPH_PROVIDER_URL"] = f"http://127.0.0.1:{port}"
    try:
        yield
    finally:
        del os.environ["LENDGRAPH_PROVIDER_URL"]
        child.terminate()
        child.wait(timeout=10)


def export_schema(
    out: Annotated[Path, typer.Option(help="Where to write the SDL.")] = SCHEMA_FILE,
) -> None:
    """Write the GraphQL schema (SDL) that frontends build against."""
    from api.schema import build_schema

    out.write_text(build_schema(settings_or_exit()).as_str() + "\n", encoding="utf-8")
    console.print(f"wrote {out}")


def worker(
    concurrency: Annotated[
        int, typer.Option(min=1, max=64, help="Jobs this process runs at once.")
    ] = 2,
    queue: Annotated[
        list[str] | None,
        typer.Option(
            "--queue",
            help="Only these queues (repeatable): `default` (scans, ageing, drift, "
            "escalation) or `chunks` (a split scan's ranges). All of them by default.",
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="Serve Prometheus metrics (job counts, durations, queue depth) on this port.",
        ),
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Where --metrics-port listens.")] = "127.0.0.1",
) -> None:
    """Run jobs from the queue on PostgreSQL (start as many as you like, anywhere)."""
    from api.logs import configure_logging
    from domain.jobs.queue import JobQueue, Runtime

    settings = settings_or_exit()
    configure_logging(settings.log_level, hide_parameters=not settings.is_development)
    if settings.is_sqlite:
        console.print(
            "[red]QUEUE_UNAVAILABLE[/red]: `lendgraph worker` needs PostgreSQL; on SQLite "
            "`lendgraph serve` runs the jobs itself"
        )
        raise typer.Exit(2)

    if metrics_port is not None:  # a worker has no HTTP app to scrape: a port of its own
        from kernel import metrics

        metrics.serve(metrics_port, metrics_host)

    async def work() -> None:
        from kernel import tracing

        engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
        provider = tracing.process_provider()  # None unless OTEL_* switch traces on
        if provider is not None:
            tracing.instrument_engine(engine, provider)
        jobs = JobQueue(settings)
        try:
            await jobs.run_worker(
                Runtime(settings, session_factory(engine)), concurrency=concurrency, queues=queue
            )
        finally:
            await jobs.close()
            await engine.dispose()
            if provider is not None:
                provider.shutdown()  # the last spans sent before the process ends

    console.print(f"worker: concurrency {concurrency}, queues {', '.join(queue or ['all'])}")
    guarded(settings, work)
