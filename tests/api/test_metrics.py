"""Prometheus metrics at /metrics: requests by operation and outcome, latency, SQL
statements, cache look-ups, and the figures the job queue, the scan and scoring report."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine

from api.app import create_app
from api.cli.service import _metrics_shared
from domain.identity.models import Role
from domain.risk.scan import run_scan
from kernel import metrics
from kernel.base import utcnow
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import make_settings
from tests.servers import free_port

CATALOG = "query Catalog { products(first: 2) { totalCount edges { node { name } } } }"
TOKEN = "metrics-scraper-token-" + "m" * 24


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def requests_of(operation: str) -> dict[tuple[str, str], float]:
    """The request counter's values for one operation, by (outcome, executor)."""
    found: dict[tuple[str, str], float] = {}
    for family in REGISTRY.collect():
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "lendgraph_graphql_requests_total" and (
                labels.get("operation") == operation
            ):
                found[(labels["outcome"], labels["executor"])] = sample.value
    return found


async def post(http: httpx.AsyncClient, body: object, **headers: str) -> httpx.Response:
    return await http.post("/graphql", json=body, headers=headers)


@pytest.fixture
async def scraper(database_url: str, db: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """The app as production runs it, its metrics behind a token."""
    app = create_app(make_settings(database_url, env="production", metrics_token=TOKEN), engine=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_a_compiled_query_is_counted_with_its_latency_and_statements(
    http: httpx.AsyncClient,
) -> None:
    # given
    ok = {"operation": "Catalog", "outcome": "ok", "executor": "compiled"}
    before = value("lendgraph_graphql_requests_total", **ok)
    latency = value("lendgraph_graphql_request_duration_seconds_count", operation="Catalog")
    statements = value("lendgraph_graphql_sql_statements_sum", executor="compiled")
    # when
    response = await post(http, {"query": CATALOG})
    # then
    assert response.status_code == 200
    assert value("lendgraph_graphql_requests_total", **ok) == before + 1
    assert (
        value("lendgraph_graphql_request_duration_seconds_count", operation="Catalog")
        == latency + 1
    )
    debug = response.json()["extensions"]["debug"]
    assert debug["executor"] == "compiled"
    assert value("lendgraph_graphql_sql_statements_sum", executor="compiled") == (
        statements + debug["sqlStatements"]
    )


async def test_errors_are_counted_by_their_code_and_refusals_by_theirs(
    http: httpx.AsyncClient,
) -> None:
    # given
    invalid = {"operation": "unknown", "outcome": "GRAPHQL_VALIDATION_FAILED"}
    refused = {"operation": "unknown", "outcome": "BAD_REQUEST", "executor": "none"}
    bad_token = {"operation": "unknown", "outcome": "UNAUTHENTICATED", "executor": "none"}
    before = (
        value("lendgraph_graphql_requests_total", **invalid, executor="reference"),
        value("lendgraph_graphql_requests_total", **refused),
        value("lendgraph_graphql_requests_total", **bad_token),
    )
    # when
    await post(http, {"query": "query Broken { noSuchField }"})
    await post(http, [{"query": CATALOG}])  # a batch: the transport guard refuses it
    await post(http, {"query": CATALOG}, authorization="Bearer not-a-token")
    # then
    after = (
        value("lendgraph_graphql_requests_total", **invalid, executor="reference"),
        value("lendgraph_graphql_requests_total", **refused),
        value("lendgraph_graphql_requests_total", **bad_token),
    )
    assert after == (before[0] + 1, before[1] + 1, before[2] + 1)


async def test_a_field_error_is_counted_by_its_code(http: httpx.AsyncClient) -> None:
    # given: node() of an id that is not one
    before = requests_of("Missing")
    # when
    body = (await post(http, {"query": 'query Missing { node(id: "nonsense") { id } }'})).json()
    # then
    code = body["errors"][0]["extensions"]["code"]
    assert code == "BAD_USER_INPUT"
    after = requests_of("Missing")
    executor = body["extensions"]["debug"]["executor"]
    assert after[(code, executor)] == before.get((code, executor), 0) + 1
    assert sum(after.values()) == sum(before.values()) + 1


async def test_documents_and_plans_are_counted_as_hits_the_second_time(
    http: httpx.AsyncClient,
) -> None:
    # given: a document of its own, so that its first sight is a miss
    query = "query CacheProbe { products(first: 1) { totalCount } }"
    await post(http, {"query": query})
    hits = {
        cache: value("lendgraph_cache_lookups_total", cache=cache, result="hit")
        for cache in ("document", "plan", "statement")
    }
    misses = value("lendgraph_cache_lookups_total", cache="plan", result="miss")
    # when
    await post(http, {"query": query})
    # then
    for cache, before in hits.items():
        assert value("lendgraph_cache_lookups_total", cache=cache, result="hit") == before + 1
    assert value("lendgraph_cache_lookups_total", cache="plan", result="miss") == misses


async def test_metrics_are_scraped_in_development(http: httpx.AsyncClient) -> None:
    # given
    await post(http, {"query": CATALOG})
    # when
    response = await http.get("/metrics")
    # then
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    requests = families["lendgraph_graphql_requests"]
    assert any(s.labels.get("operation") == "Catalog" for s in requests.samples)
    assert "lendgraph_graphql_request_duration_seconds" in families
    assert "lendgraph_cache_lookups" in families


async def test_production_metrics_need_the_token(scraper: httpx.AsyncClient) -> None:
    # when
    without = await scraper.get("/metrics")
    wrong = await scraper.get("/metrics", headers={"authorization": "Bearer " + "x" * 46})
    right = await scraper.get("/metrics", headers={"authorization": f"Bearer {TOKEN}"})
    # then
    assert without.status_code == 401
    assert wrong.status_code == 401
    assert right.status_code == 200
    assert "lendgraph_graphql_requests_total" in right.text


async def test_production_without_a_token_serves_no_metrics(
    production: httpx.AsyncClient,
) -> None:
    assert (await production.get("/metrics")).status_code == 404


async def test_metrics_can_be_switched_off(database_url: str, db: AsyncEngine) -> None:
    app = create_app(make_settings(database_url, metrics=False), engine=db)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/metrics")).status_code == 404


def test_operation_names_from_clients_are_bounded() -> None:
    # given
    names = metrics.BoundedNames(3, missing="anonymous")
    # then
    assert names(None) == "anonymous"
    assert names("Catalog") == "Catalog"
    assert names("a" * 65) == metrics.OTHER  # longer than a label should be
    assert names("ann@example.com") == metrics.OTHER  # not a GraphQL name
    assert [names(n) for n in ("B", "C", "D", "Catalog")] == ["B", "C", metrics.OTHER, "Catalog"]
    assert metrics.outcome_label("FORBIDDEN") == "FORBIDDEN"
    assert metrics.outcome_label("free text from somewhere") == "OTHER"


async def test_a_job_is_timed_and_counted_by_outcome() -> None:
    # given
    done = value("lendgraph_jobs_total", task="probe_task", outcome="succeeded")
    failed = value("lendgraph_jobs_total", task="probe_task", outcome="failed")
    timed = value("lendgraph_job_duration_seconds_count", task="probe_task")
    # when
    with metrics.job_observed("probe_task"):
        pass
    with pytest.raises(RuntimeError), metrics.job_observed("probe_task"):
        raise RuntimeError("the job failed")
    metrics.queue_depth("default", "todo", 7)
    # then
    assert value("lendgraph_jobs_total", task="probe_task", outcome="succeeded") == done + 1
    assert value("lendgraph_jobs_total", task="probe_task", outcome="failed") == failed + 1
    assert value("lendgraph_job_duration_seconds_count", task="probe_task") == timed + 2
    assert value("lendgraph_job_queue_depth", queue="default", status="todo") == 7


async def test_an_early_warning_scan_reports_its_figures(db: AsyncEngine) -> None:
    # given
    scans = sum(value("lendgraph_risk_scans_total", kind=k) for k in ("full", "incremental"))
    # when
    report = await run_scan(session_factory(db), as_of=utcnow().date())
    # then
    kind = "full" if report.full else "incremental"
    assert sum(value("lendgraph_risk_scans_total", kind=k) for k in ("full", "incremental")) == (
        scans + 1
    )
    assert value("lendgraph_risk_scan_duration_seconds_count", kind=kind) >= 1


def served_by(directory: Path) -> dict[int, float]:
    """GraphQL requests counted in each worker's own file, by process id."""
    counted: dict[int, float] = {}
    for path in directory.glob("counter_*.db"):
        pid = int(path.stem.split("_")[1])
        for _key, _value, _timestamp, _pos in MmapedDict.read_all_values_from_file(str(path)):
            name = json.loads(_key)[0]
            if name == "lendgraph_graphql_requests":
                counted[pid] = counted.get(pid, 0.0) + _value
    return {pid: n for pid, n in counted.items() if n}


def scraped(text: str, name: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    )


@pytest.mark.postgres_only
async def test_serve_with_two_workers_reports_both_and_forgets_a_dead_one(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    # given: the service on two worker processes, metrics kept in a directory of ours
    port = free_port()
    directory = tmp_path / "prometheus"
    directory.mkdir()
    (directory / "counter_1.db").write_bytes(b"left by an earlier run")
    env = {
        **os.environ,
        "LENDGRAPH_DATABASE_URL": database_url,
        "LENDGRAPH_ENV": "production",
        "LENDGRAPH_SECRET_KEY": "workers-test-signing-key-" + "w" * 32,
        "LENDGRAPH_MASTER_KEYS": f.TEST_MASTER_KEYS,
        "LENDGRAPH_BLIND_INDEX_KEY": f.TEST_BLIND_INDEX_KEY,
        "LENDGRAPH_RISK_SCAN_INTERVAL": "0",
        "LENDGRAPH_METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
    }
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "api.cli",
        "serve",
        "--workers",
        "2",
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    scrape = {"authorization": f"Bearer {TOKEN}"}
    base = f"http://127.0.0.1:{port}"
    sent = 0
    try:
        async with httpx.AsyncClient(base_url=base) as client:
            for _ in range(240):  # two fresh interpreters import the service: seconds
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/healthz")).status_code == 200:
                        break
                await asyncio.sleep(0.25)
        # when: requests on many connections at once, until both workers have answered
        for _ in range(20):
            limits = httpx.Limits(max_connections=16)
            async with httpx.AsyncClient(base_url=base, limits=limits) as client:
                answers = await asyncio.gather(
                    *(client.post("/graphql", json={"query": CATALOG}) for _ in range(32))
                )
            assert {a.status_code for a in answers} == {200}
            sent += len(answers)
            if len(served_by(directory)) >= 2:
                break
        async with httpx.AsyncClient(base_url=base) as client:
            text = (await client.get("/metrics", headers=scrape)).text
            # then: one scrape holds every worker's counts, the old run's file gone
            assert len(served_by(directory)) == 2
            assert scraped(text, "lendgraph_graphql_requests_total") == sent
            assert scraped(text, "lendgraph_workers") == 2
            assert not (directory / "counter_1.db").exists()

            # when: a worker dies without a word; uvicorn starts another
            workers = {int(p.stem.rsplit("_", 1)[1]) for p in directory.glob("gauge_live*.db")}
            os.kill(min(workers), signal.SIGKILL)
            for _ in range(240):
                alive = {int(p.stem.rsplit("_", 1)[1]) for p in directory.glob("gauge_live*.db")}
                if len(alive - workers) == 1 and min(workers) not in alive:
                    break
                await asyncio.sleep(0.25)
            text = (await client.get("/metrics", headers=scrape)).text
            # then: two workers alive, the dead one's requests still counted
            assert scraped(text, "lendgraph_workers") == 2
            assert scraped(text, "lendgraph_graphql_requests_total") == sent
    finally:
        server.send_signal(signal.SIGINT)
        await asyncio.wait_for(server.wait(), timeout=60)


async def test_a_process_without_an_app_serves_its_metrics_on_a_port() -> None:
    # given: what a job worker does at start
    port = free_port()
    server = metrics.serve(port)
    metrics.queue_depth("imports", "doing", 2)
    # when
    try:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{port}/metrics")
    finally:
        server.shutdown()
        server.server_close()
    # then
    assert response.status_code == 200
    assert 'lendgraph_job_queue_depth{queue="imports",status="doing"} 2.0' in response.text


@pytest.mark.postgres_only
async def test_a_kept_viewer_counts_as_a_viewer_cache_hit(
    database_url: str, db: AsyncEngine
) -> None:
    # given: a serving app (its lifespan started: it listens for identity changes)
    settings = make_settings(database_url, risk_scan_interval=0)
    app = create_app(settings, engine=db)
    async with app.router.lifespan_context(app):
        view = app.state.view
        for _ in range(200):
            if view.viewers.active:
                break
            await asyncio.sleep(0.05)
        async with session_factory(db)() as s, s.begin():
            bank = await f.institution(s)
            officer = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
            token = await f.access_token(s, settings, officer)
        for _ in range(50):  # the set-up's own notifications, until they have all come in
            epoch = view.viewers.epoch
            await asyncio.sleep(0.2)
            if view.viewers.epoch == epoch:
                break
        hits = value("lendgraph_cache_lookups_total", cache="viewer", result="hit")
        misses = value("lendgraph_cache_lookups_total", cache="viewer", result="miss")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            # when: the same viewer asks twice
            for _ in range(2):
                await post(client, {"query": CATALOG}, authorization=f"Bearer {token}")
    # then: read the first time, kept the second
    assert value("lendgraph_cache_lookups_total", cache="viewer", result="miss") == misses + 1
    assert value("lendgraph_cache_lookups_total", cache="viewer", result="hit") == hits + 1


def test_serve_prepares_the_directory_workers_share(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # given: no directory named
    monkeypatch.delenv(metrics.MULTIPROC_ENV, raising=False)
    # when: one worker, then two
    with _metrics_shared(1):
        assert metrics.multiprocess_dir() is None
    with _metrics_shared(2):
        made = Path(os.environ[metrics.MULTIPROC_ENV])
        assert made.is_dir()
    # then: a directory of its own, removed after
    assert not made.exists()
    assert metrics.MULTIPROC_ENV not in os.environ

    # given: a directory named, holding a previous run's values
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(tmp_path))
    (tmp_path / "counter_4242.db").write_bytes(b"old")
    # when
    with _metrics_shared(1):
        # then: emptied, even for one worker, and kept
        assert not list(tmp_path.glob("*.db"))
    assert tmp_path.is_dir()
