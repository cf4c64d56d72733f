"""Prometheus metrics, reported by every layer (api, domain, scoring, the job queue).

Kept in ``domain`` beside settings and the database set-up so that the domain and
scoring can report without importing ``api``.

Several processes: ``lendgraph serve --workers N`` sets ``PROMETHEUS_MULTIPROC_DIR``
before the workers start (api.cli); prometheus-client then keeps every value in a
memory-mapped file per process, and :func:`exposition` merges the files of all of
them. The variable must be set before this module is first imported in a process,
since prometheus-client chooses its value class at import.

Cost: a recorded value is a dict look-up and an add (a write into the mapped file with
several processes), one to three microseconds; label children used on hot paths are
bound once here.

Cardinality: label values come from the code (caches, executors, error codes, tasks)
or, for operation names, from clients; those are bounded by :class:`BoundedNames`
(a GraphQL name, at most 64 characters, at most ``OPERATION_NAMES`` distinct per
process, the rest counted as ``other``). No label ever holds a value of a person or
an id.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    start_http_server,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST
OPERATION_NAMES = 200
OTHER = "other"
_GRAPHQL_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
_CODE = re.compile(r"[A-Z][A-Z0-9_]{0,47}")

# Seconds: a compiled read answers in about a millisecond, an import can take seconds.
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
STATEMENT_BUCKETS = (0, 1, 2, 3, 4, 6, 8, 12, 16, 32, 64, 128)
JOB_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)

# ---------------------------------------------------------------- requests

GRAPHQL_REQUESTS = Counter(
    "lendgraph_graphql_requests",
    "GraphQL requests over HTTP, by operation name, outcome (ok or the first error's "
    "extensions.code) and executor (compiled, reference, none: refused before either).",
    ["operation", "outcome", "executor"],
)
GRAPHQL_SECONDS = Histogram(
    "lendgraph_graphql_request_duration_seconds",
    "Time from the request's arrival to its last byte, by operation name.",
    ["operation"],
    buckets=LATENCY_BUCKETS,
)
GRAPHQL_SQL_STATEMENTS = Histogram(
    "lendgraph_graphql_sql_statements",
    "SQL statements one GraphQL request ran (the count in extensions.debug.sqlStatements).",
    ["executor"],
    buckets=STATEMENT_BUCKETS,
)
HTTP_REQUESTS = Counter(
    "lendgraph_http_requests",
    "HTTP requests by route (other: any path the service does not serve) and status.",
    ["route", "status"],
)
CACHE_LOOKUPS = Counter(
    "lendgraph_cache_lookups",
    "Look-ups in the per-worker caches (document: parsed and validated documents; plan: "
    "compiled plans; statement: compiled SQL texts; viewer: signed-in viewers), by result.",
    ["cache", "result"],
)
WORKERS = Gauge(
    "lendgraph_workers",
    "Web worker processes alive (a dead worker's value is dropped).",
    multiprocess_mode="livesum",
)

# ---------------------------------------------------------------- risk and scoring

RISK_SCANS = Counter(
    "lendgraph_risk_scans", "Early-warning scans finished, by kind (full or incremental).", ["kind"]
)
RISK_SCAN_SECONDS = Histogram(
    "lendgraph_risk_scan_duration_seconds",
    "Duration of an early-warning scan, by kind.",
    ["kind"],
    buckets=JOB_BUCKETS,
)
RISK_SCAN_LOANS = Counter("lendgraph_risk_scan_loans", "Loans evaluated by early-warning scans.")
RISK_ALERTS = Counter("lendgraph_risk_alerts_raised", "Alerts raised by early-warning scans.")
RISK_LEVELS = Counter(
    "lendgraph_risk_scan_warning_levels",
    "Warning levels the scans evaluated loans at, by level.",
    ["level"],
)
SCORING_ASSESSMENTS = Counter(
    "lendgraph_scoring_assessments",
    "Credit assessments made by the scoring model, by mode (single or batch) and grade.",
    ["mode", "grade"],
)
SCORING_SECONDS = Histogram(
    "lendgraph_scoring_duration_seconds",
    "Time to score one application (single) or one chunk of a batch (batch).",
    ["mode"],
    buckets=LATENCY_BUCKETS,
)

# ---------------------------------------------------------------- jobs

JOBS = Counter(
    "lendgraph_jobs",
    "Background jobs finished, by task and outcome (succeeded, failed, cancelled...).",
    ["task", "outcome"],
)
JOB_SECONDS = Histogram(
    "lendgraph_job_duration_seconds",
    "Duration of background jobs, by task.",
    ["task"],
    buckets=JOB_BUCKETS,
)
JOB_QUEUE_DEPTH = Gauge(
    "lendgraph_job_queue_depth",
    "Jobs in the queue by queue and status, as last counted by any process.",
    ["queue", "status"],
    multiprocess_mode="mostrecent",
)


class BoundedNames:
    """Label values from outside, bounded: valid names pass until ``limit`` are known."""

    def __init__(self, limit: int, *, missing: str) -> None:
        self.limit = limit
        self.missing = missing
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, name: str | None) -> str:
        if name is None:
            return self.missing
        if name in self._known:
            return name
        if not _GRAPHQL_NAME.fullmatch(name):
            return OTHER
        with self._lock:
            if len(self._known) >= self.limit:
                return OTHER
            self._known.add(name)
        return name


operation_label = BoundedNames(OPERATION_NAMES, missing="anonymous")
_task_label = BoundedNames(OPERATION_NAMES, missing="unknown")
_ROUTES = frozenset({"/graphql", "/oauth/token", "/healthz", "/readyz", "/metrics"})


def outcome_label(code: object) -> str:
    """``ok``, or an error code (the API's codes are upper snake case; others: OTHER)."""
    if code is None:
        return "ok"
    return code if isinstance(code, str) and _CODE.fullmatch(code) else "OTHER"


class CacheCounter:
    """Hits and misses of one cache, with their label children bound once."""

    __slots__ = ("hit", "miss")

    def __init__(self, cache: str) -> None:
        self.hit = CACHE_LOOKUPS.labels(cache, "hit").inc
        self.miss = CACHE_LOOKUPS.labels(cache, "miss").inc


DOCUMENT_CACHE = CacheCounter("document")
PLAN_CACHE = CacheCounter("plan")
STATEMENT_CACHE = CacheCounter("statement")
VIEWER_CACHE = CacheCounter("viewer")


_Child = Any
_children: dict[tuple[object, ...], _Child] = {}


def _child(metric: Counter | Histogram, *labels: str) -> _Child:
    """``metric.labels(*labels)``, kept: prometheus-client checks and locks on every call
    (a few microseconds), a dict look-up does not. Bounded as the labels are."""
    key = (metric, *labels)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*labels)
    return child


def observe_http(
    *,
    path: str,
    status: int,
    seconds: float,
    operation: str | None,
    reached_execution: bool,
    outcome: str | None,
    executor: str | None,
    sql_statements: int | None,
) -> None:
    """One HTTP request, as the request log line sees it (api.middleware)."""
    route = path if path in _ROUTES else OTHER
    _child(HTTP_REQUESTS, route, str(status)).inc()
    if route != "/graphql":
        return
    name = operation_label(operation) if reached_execution else "unknown"
    if outcome is None and status >= 400:
        outcome = f"HTTP_{status}"
    used = executor or "none"
    _child(GRAPHQL_REQUESTS, name, outcome_label(outcome), used).inc()
    _child(GRAPHQL_SECONDS, name).observe(seconds)
    if sql_statements is not None:
        _child(GRAPHQL_SQL_STATEMENTS, used).observe(sql_statements)


# ---------------------------------------------------------------- for the job queue


def job_finished(task: str, outcome: str, seconds: float) -> None:
    """A job ended: ``outcome`` is the queue's word for it (succeeded, failed, ...)."""
    label = _task_label(task)
    JOBS.labels(label, outcome_label_lower(outcome)).inc()
    JOB_SECONDS.labels(label).observe(seconds)


def queue_depth(queue: str, status: str, jobs: int) -> None:
    """How many jobs the queue holds in ``status`` now (whoever counted last wins)."""
    JOB_QUEUE_DEPTH.labels(_task_label(queue), outcome_label_lower(status)).set(jobs)


@contextlib.contextmanager
def job_observed(task: str) -> Iterator[None]:
    """Time a job and count its outcome (succeeded, failed or cancelled) and trace it
    (kernel.tracing, when traces are on): what a job runner wraps each job in."""
    from kernel import tracing

    started = time.perf_counter()
    outcome = "failed"
    try:
        with tracing.span(f"job {task}", {"lendgraph.job.task": task}):
            yield
        outcome = "succeeded"
    except BaseException as exc:
        if _is_cancellation(exc):
            outcome = "cancelled"
        raise
    finally:
        job_finished(task, outcome, time.perf_counter() - started)


def _is_cancellation(exc: BaseException) -> bool:
    return isinstance(exc, asyncio.CancelledError | KeyboardInterrupt)


def outcome_label_lower(value: str) -> str:
    return value if re.fullmatch(r"[a-z][a-z0-9_]{0,31}", value) else OTHER


# ---------------------------------------------------------------- risk and scoring


def scan_finished(
    *, full: bool, seconds: float, loans: int, alerts: int, levels: dict[str, int]
) -> None:
    kind = "full" if full else "incremental"
    RISK_SCANS.labels(kind).inc()
    RISK_SCAN_SECONDS.labels(kind).observe(seconds)
    RISK_SCAN_LOANS.inc(loans)
    RISK_ALERTS.inc(alerts)
    for level, count in levels.items():
        if count:
            RISK_LEVELS.labels(outcome_label_lower(level)).inc(count)


def scored(mode: str, grades: Mapping[str, int], seconds: float) -> None:
    """Assessments made in one call (single) or one chunk (batch), counted by grade."""
    for grade, count in grades.items():
        if count:
            SCORING_ASSESSMENTS.labels(mode, grade if len(grade) <= 8 else OTHER).inc(count)
    SCORING_SECONDS.labels(mode).observe(seconds)


# ---------------------------------------------------------------- processes


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def prepare_multiprocess_dir(path: Path) -> None:
    """Make ``path`` ready for a new set of workers: values of a previous run removed."""
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()


def worker_started() -> None:
    """This process serves from now; workers that died without saying so are dropped."""
    directory = multiprocess_dir()
    if directory is not None:
        for pid in _dead_pids(directory):
            multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
    WORKERS.set(1)


def worker_stopped() -> None:
    directory = multiprocess_dir()
    if directory is not None:
        multiprocess.mark_process_dead(os.getpid(), directory)  # type: ignore[no-untyped-call]
    else:
        WORKERS.set(0)


def _dead_pids(directory: str) -> set[int]:
    dead = set()
    for path in glob.glob(os.path.join(directory, "gauge_live*_*.db")):
        pid = int(path.rsplit("_", 1)[1].removesuffix(".db"))
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            dead.add(pid)
        except PermissionError:  # alive, someone else's
            continue
    return dead


def _registry() -> CollectorRegistry:
    directory = multiprocess_dir()
    if directory is None:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    return registry


def exposition() -> bytes:
    """The text a scrape gets: every process's values with several workers, else ours."""
    return generate_latest(_registry())


def serve(port: int, host: str = "127.0.0.1") -> WSGIServer:
    """Serve /metrics on a port of its own, from a thread: for a process without an HTTP
    app, such as a job worker on another machine (on the web workers' machine it may
    share their PROMETHEUS_MULTIPROC_DIR instead, and be scraped with them). Returns
    the server, to ``shutdown()`` when the process ends its work."""
    server, _thread = start_http_server(port, addr=host, registry=_registry())
    return server
