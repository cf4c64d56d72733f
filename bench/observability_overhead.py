"""What metrics and traces cost a GraphQL request, in microseconds.

Two figures, each the median of several rounds, in CPU time of this process (its
threads included: SQLite's, the span exporter's), which a busy machine moves far less
than wall time:

1. The metrics one request records (api.middleware's ``observe_http``: the request
   counter, the latency and statement histograms, the HTTP counter) and the cache
   look-ups on the compiled read path (document, plan, statement), timed alone, with
   prometheus-client in single-process mode and in multiprocess mode (the values then
   written into memory-mapped files, as under ``serve --workers N``).
2. A whole compiled read (``products(first: 10)``) through the ASGI app on an embedded
   SQLite database, with traces off (the default) and on (spans for the request, the
   operation and each statement, exported in batches to an exporter that drops them):
   what switching traces on adds per request.

Usage: ``python bench/observability_overhead.py`` (a few seconds; nothing is left behind).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Sequence
from pathlib import Path

ROUNDS = 7


def observe_cost() -> tuple[float, float]:
    """Microseconds of one request's metrics (in this process's prometheus mode):
    the best and the median round."""
    from kernel import metrics

    def request() -> None:
        metrics.DOCUMENT_CACHE.hit()
        metrics.PLAN_CACHE.hit()
        metrics.STATEMENT_CACHE.hit()
        metrics.observe_http(
            path="/graphql",
            status=200,
            seconds=0.0012,
            operation="Catalog",
            reached_execution=True,
            outcome=None,
            executor="compiled",
            sql_statements=2,
        )

    number = 20_000
    repeats = timeit.repeat(request, number=number, repeat=ROUNDS, timer=time.process_time)
    rounds = [t / number * 1e6 for t in repeats]
    return min(rounds), statistics.median(rounds)


async def request_costs(requests: int = 300) -> dict[str, list[float]]:
    """Microseconds of CPU per compiled read through the ASGI app, traces off and
    on, the rounds of the two interleaved so that a noisy machine weighs on both alike."""
    import httpx
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    from api.app import create_app
    from domain.settings import load_settings
    from kernel import tracing
    from kernel.db import create_engine
    from migrations.runner import upgrade

    class Dropped(SpanExporter):
        def export(self, spans: Sequence[object]) -> SpanExportResult:  # type: ignore[override]
            return SpanExportResult.SUCCESS

    body = {"query": "query Catalog { products(first: 10) { totalCount edges { node { name } } } }"}
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'bench.db'}"
        settings = load_settings(
            database_url=url,
            secret_key="bench-signing-key-" + "b" * 32,
            key_file=Path(folder) / "keys.json",  # development: generated there
        )
        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(Dropped()))
        engines = {"off": create_engine(url), "on": create_engine(url)}
        await upgrade(engines["off"])
        apps = {
            "off": create_app(settings, engine=engines["off"]),
            "on": create_app(settings, engine=engines["on"], tracer_provider=provider),
        }
        timings: dict[str, list[float]] = {"off": [], "on": []}
        clients = {
            name: httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b")
            for name, app in apps.items()
        }
        for name, client in clients.items():
            for _ in range(50):  # warm: documents parsed, plans and statements made
                answer = (await client.post("/graphql", json=body)).json()
            assert "errors" not in answer, answer
            assert answer["extensions"]["debug"]["executor"] == "compiled", (name, answer)
        for _ in range(ROUNDS):
            for name, client in clients.items():
                started = time.process_time()
                for _ in range(requests):
                    await client.post("/graphql", json=body)
                timings[name].append((time.process_time() - started) / requests * 1e6)
        for client in clients.values():
            await client.aclose()
        provider.shutdown()
        tracing.uninstrument_engines()
        for engine in engines.values():
            await engine.dispose()
    return timings


def main() -> None:
    if os.environ.get("_OBS_CHILD"):
        best, median = observe_cost()
        print(f"{best:.1f} us (median {median:.1f} us)")
        return
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    single = subprocess.run(  # noqa: S603  # this script, run again
        [sys.executable, __file__], env={**env, "_OBS_CHILD": "1"}, capture_output=True, text=True
    )
    with tempfile.TemporaryDirectory() as directory:
        multi = subprocess.run(  # noqa: S603
            [sys.executable, __file__],
            env={**env, "_OBS_CHILD": "1", "PROMETHEUS_MULTIPROC_DIR": directory},
            capture_output=True,
            text=True,
        )
    print(f"metrics of one request, single process: {single.stdout.strip()}")
    print(f"metrics of one request, multiprocess:   {multi.stdout.strip()}")
    timings = asyncio.run(request_costs())
    off, on = (statistics.median(timings[k]) for k in ("off", "on"))
    for name, median in (("off", off), ("on", on)):
        best = min(timings[name])
        print(f"compiled read through the app, traces {name}: {median:.0f} us (best {best:.0f})")
    print(f"traces on add {on - off:.0f} us per request (medians)")


if __name__ == "__main__":
    main()
