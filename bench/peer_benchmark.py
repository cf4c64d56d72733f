"""LendGraph against a peer, PostGraphile 4, serving the same rows of one PostgreSQL database.

Seeds one database (never ``test``: its own, ``lendgraph_peer`` by default, created if
missing), installs PostGraphile 4 with npm into a cache folder once, and starts three
servers on 127.0.0.1, each as its own process group with the same number of workers:
LendGraph (``lendgraph serve``), PostGraphile (``--cluster-workers``) and a floor, a plain
Starlette JSON endpoint on uvicorn. Then, for each case, it first checks every answer
(row count, no errors, and the same rows from both servers), then measures:

- Server CPU per request: the first field of ``/proc/<pid>/task/*/schedstat`` (ns on CPU)
  summed over every thread of every process of a server (workers found through
  ``/proc/<pid>/task/*/children``), read before and after a batch of sequential requests
  from one keep-alive client, divided by the batch size. CPU time, unlike wall time,
  barely moves when a small machine is noisy, and reading only the servers' processes
  leaves the client out. PostgreSQL's own processes are read the same way (when the
  database runs on this machine): PostGraphile moves work into SQL, so the database's
  share is shown beside each server's.
- Throughput and latency under load: wrk (Debian's package) POSTing the same body and
  headers over 32 connections for a few seconds: req/s, p50, p99.

Before either, every request goes through every worker under load for a while: V8 keeps
making PostGraphile cheaper for about 15 s of load (2.3 to 1.75 ms of CPU per 50-row page
on the development machine), so load runs come first and CPU batches last, when both
servers are in their steady state. Both are interleaved (A, B, B, A, ... for
CPU batches; A, B, A, B for load runs) and repeated, so drift falls on both sides alike;
medians are printed with their spread (p10-p90 of the rounds, or min-max for load runs)
and ratios LendGraph/peer (above 1.0 LendGraph costs more, or serves fewer requests).
The database's CPU is left out of the ratio: the issue's goal is about the servers.

Cases: (a) ``applications(first: 50)`` with enterprise, product and institution as a loan
officer of the busiest institution: PostGraphile selects the same rows with
``condition: {institutionId}`` and ``filter: {status: {notEqualTo: "draft"}}`` (the
connection-filter plugin; the officer does not see drafts), newest first, through the
same Relay connection shape with aliases; (b) the same plus two sealed personal fields,
LendGraph only, against PostGraphile's (a); (c) a 20-row page; (d) ``{ __typename }``
with a bearer token against the floor.

    python bench/peer_benchmark.py [--enterprises N] [--database-url URL] [--database NAME]
        [--rounds R] [--batch N] [--duration S] [--load-rounds R] [--warm-up S] [--workers W]
        [--env production|development] [--peer-dir DIR] [--quick]

``--quick`` is CI's smoke run: a small seed, few requests, short load runs (skipped when
wrk is absent); without npm or network it measures LendGraph against the floor only.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from common import KEYS, bench_settings, busiest_institution, prepare, signed_in
from sqlalchemy import func, select
from sqlalchemy.engine import URL, make_url
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from domain.applications.models import ApplicationStatus
from domain.identity.models import Role
from domain.models import Application
from kernel.db import session_factory

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/lendgraph_peer"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
PEER_PACKAGES = ("postgraphile@4", "postgraphile-plugin-connection-filter@2")
PEER_BINARY = Path("node_modules", ".bin", "postgraphile")
# The Relay connection shape (the default, not --simple-collections) is LendGraph's shape.
PEER_OPTIONS = (
    *("--append-plugins", "postgraphile-plugin-connection-filter", "--schema", "public"),
    *("--disable-query-log", "--disable-graphiql"),
)
FLOOR_OPTIONS = (
    *("--factory", "peer_benchmark:floor_app", "--no-access-log", "--log-level", "warning"),
    *("--timeout-worker-healthcheck", "120"),  # as `lendgraph serve`: a busy machine is slow
    "--app-dir",
)
NPM_OPTIONS = ("--no-audit", "--no-fund", "--fetch-retries=1", "--fetch-timeout=30000")
FLOOR_BODY = {"data": {"__typename": "Query"}}
TYPENAME = json.dumps({"query": "{ __typename }"}).encode()


class BenchFailure(Exception):
    """A real error: a wrong answer or a server that does not start."""


# --------------------------------------------------------------------------- servers


def floor_app() -> Starlette:
    """The floor: what serving a small constant JSON costs on Starlette and uvicorn."""

    async def graphql(_: Request) -> JSONResponse:
        return JSONResponse(FLOOR_BODY)

    return Starlette(routes=[Route("/graphql", graphql, methods=["POST"])])


@dataclass
class Server:
    label: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    def log_tail(self, lines: int = 25) -> str:
        with suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


def listen(port: int, workers: str, *, flag: str = "--workers") -> list[str]:
    return ["--host", "127.0.0.1", "--port", str(port), flag, workers]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    label: str, argv: Sequence[str], *, env: dict[str, str], cwd: Path, logs: Path, port: int
) -> Server:
    log = logs / f"{label.split()[0].lower()}.log"
    with log.open("wb") as out:
        # Its own session, so the whole group (workers included) is stopped as one.
        process = subprocess.Popen(  # noqa: S603 - our own argv, no shell
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Server(label, process, port, log)


def wait_ready(server: Server, *, timeout: float = 90.0) -> None:
    """Until ``{ __typename }`` answers 200 (PostgreSQL-backed servers build their schema)."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=5.0) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise BenchFailure(
                    f"{server.label} exited with {server.process.returncode} while starting:\n"
                    + server.log_tail()
                )
            with suppress(httpx.HTTPError):
                response = client.post(
                    server.url, content=TYPENAME, headers={"content-type": "application/json"}
                )
                if response.status_code == 200:
                    return
            time.sleep(0.25)
    raise BenchFailure(
        f"{server.label} did not answer within {timeout:.0f} s:\n{server.log_tail()}"
    )


def stop(server: Server) -> None:
    with suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGTERM)
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
    # Workers that outlived their parent are still in the group.
    with suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGKILL)


# ------------------------------------------------------------------------------ CPU


def process_tree(root: int, *, limit: int = 256) -> list[int]:
    """The process and its descendants, through /proc/<pid>/task/*/children."""
    seen, queue = [root], [root]
    while queue and len(seen) < limit:
        pid = queue.pop()
        for children in Path(f"/proc/{pid}/task").glob("*/children"):
            with suppress(OSError, ValueError):
                for child in map(int, children.read_text().split()):
                    if child not in seen:
                        seen.append(child)
                        queue.append(child)
    return seen


def postgres_pids() -> list[int]:
    """Every process named ``postgres`` visible here (the local server's backends)."""
    pids = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with suppress(OSError):
            if comm.read_text().strip() == "postgres":
                pids.append(int(comm.parent.name))
    return pids


def cpu_ns(pids: Iterable[int]) -> dict[int, int]:
    """Nanoseconds on CPU of every thread of each process (schedstat's first field)."""
    used = {}
    for pid in pids:
        total = 0
        for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
            with suppress(OSError, ValueError, IndexError):
                total += int(stat.read_text().split()[0])
        used[pid] = total
    return used


def cpu_since(before: dict[int, int], now: dict[int, int]) -> int:
    """CPU spent since ``before``: a process started since counts whole, one that ended
    is left out (subtracting its earlier total would make the figure negative)."""
    return sum(ns - before.get(pid, 0) for pid, ns in now.items())


def settle(server: Server, *, timeout: float = 15.0) -> None:
    """Wait until the server is idle (a load run may leave requests queued behind it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = cpu_ns(process_tree(server.process.pid))
        time.sleep(0.2)
        if cpu_since(before, cpu_ns(process_tree(server.process.pid))) < 10_000_000:  # < 5%
            return


# -------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Call:
    """One request as a side of a case sends it, and what a right answer holds."""

    server: Server
    body: bytes
    headers: dict[str, str]
    check: Callable[[dict[str, Any]], list[tuple[Any, ...]]]


def post(client: httpx.Client, call: Call) -> httpx.Response:
    return client.post(call.server.url, content=call.body, headers=call.headers)


def graphql_body(query: str, variables: dict[str, Any] | None = None) -> bytes:
    return json.dumps({"query": query, "variables": variables or {}}).encode()


def primary_key(value: str) -> str:
    """A UUID column as is, or the key inside a Relay global id (base64 of ``Type:key``)."""
    with suppress(ValueError):
        return str(uuid.UUID(value))
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        return value
    return decoded.split(":", 1)[-1]


def page_rows(expected: int, *, personal: bool = False) -> Callable[[dict[str, Any]], list[Any]]:
    """A check of an application page: no errors, ``expected`` rows; the rows, comparable."""

    def check(answer: dict[str, Any]) -> list[tuple[Any, ...]]:
        if answer.get("errors"):
            raise BenchFailure(f"errors: {json.dumps(answer['errors'])[:600]}")
        edges = answer["data"]["applications"]["edges"]
        if len(edges) != expected:
            raise BenchFailure(f"{len(edges)} rows, expected {expected}")
        rows = []
        for edge in edges:
            node = edge["node"]
            enterprise, product, inst = node["enterprise"], node["product"], node["institution"]
            if personal and enterprise.get("legalRepresentativeName") is None:
                raise BenchFailure(f"sealed field not answered: {enterprise}")
            rows.append(
                (
                    primary_key(node["id"]),
                    node["amount"],
                    str(node["status"]).lower(),
                    node["termMonths"],
                    primary_key(enterprise["id"]),
                    enterprise["name"],
                    enterprise["industry"],
                    primary_key(product["id"]),
                    product["name"],
                    primary_key(inst["id"]),
                    inst["name"],
                )
            )
        return rows

    return check


def typename_check(answer: dict[str, Any]) -> list[tuple[Any, ...]]:
    if answer != FLOOR_BODY:
        raise BenchFailure(f"unexpected answer: {json.dumps(answer)[:600]}")
    return [("Query",)]


def lendgraph_page(first: int, *, personal: bool = False) -> str:
    sealed = " contactPhone legalRepresentativeName" if personal else ""
    return f"""query Page {{
  applications(first: {first}) {{
    edges {{ node {{
      id amount status termMonths
      enterprise {{ id name industry{sealed} }}
      product {{ id name }}
      institution {{ id name }}
    }} }}
  }}
}}"""


def postgraphile_page(first: int, relations: dict[str, str]) -> str:
    """The same rows, columns and shape through PostGraphile's Relay connection."""
    draft = ApplicationStatus.DRAFT.value
    return f"""query Page($institution: UUID!) {{
  applications: allApplications(
    first: {first}
    orderBy: PRIMARY_KEY_DESC
    condition: {{institutionId: $institution}}
    filter: {{status: {{notEqualTo: "{draft}"}}}}
  ) {{
    edges {{ node {{
      id amount status termMonths
      enterprise: {relations["enterprise"]} {{ id name industry }}
      product: {relations["product"]} {{ id name }}
      institution: {relations["institution"]} {{ id name }}
    }} }}
  }}
}}"""


def postgraphile_relations(server: Server) -> dict[str, str]:
    """PostGraphile's names for Application's three forward relations (it names them
    from the tables, e.g. ``enterprisByEnterpriseId``), read from its schema."""
    query = """{ application: __type(name: "Application") { fields { name } }
      query: __type(name: "Query") { fields { name args { name } } } }"""
    with httpx.Client(timeout=30.0) as client:
        answer = client.post(server.url, json={"query": query}).json()
    if answer.get("errors") or not answer["data"]["application"]:
        raise BenchFailure(f"PostGraphile's schema has no Application type: {answer}")
    names = [f["name"] for f in answer["data"]["application"]["fields"]]
    args = {f["name"]: {a["name"] for a in f["args"]} for f in answer["data"]["query"]["fields"]}
    if "filter" not in args.get("allApplications", set()):
        raise BenchFailure("PostGraphile's allApplications has no filter: plugin not loaded")
    found = {}
    for relation, column in (
        ("enterprise", "EnterpriseId"),
        ("product", "ProductId"),
        ("institution", "InstitutionId"),
    ):
        matches = [n for n in names if n.endswith(f"By{column}")]
        if len(matches) != 1:
            raise BenchFailure(f"no single relation By{column} on Application: {matches}")
        found[relation] = matches[0]
    return found


def check_answer(client: httpx.Client, call: Call, case: str) -> list[tuple[Any, ...]]:
    response = post(client, call)
    if response.status_code != 200:
        raise BenchFailure(
            f"case {case}, {call.server.label}: HTTP {response.status_code} {response.text[:600]}"
        )
    try:
        return call.check(response.json())
    except BenchFailure as exc:
        raise BenchFailure(f"case {case}, {call.server.label}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise BenchFailure(
            f"case {case}, {call.server.label}: malformed answer ({exc!r}) {response.text[:600]}"
        ) from None


# ------------------------------------------------------------------------ measuring


@dataclass
class CpuSamples:
    server_ms: list[float] = field(default_factory=list)
    db_ms: list[float] = field(default_factory=list)
    wall_ms: list[float] = field(default_factory=list)


def cpu_batch(client: httpx.Client, call: Call, n: int, samples: CpuSamples, db: bool) -> None:
    root = call.server.process.pid
    server_before = cpu_ns(process_tree(root))
    db_before = cpu_ns(postgres_pids() if db else [])
    started = time.perf_counter()
    for _ in range(n):
        response = post(client, call)
        if response.status_code != 200 or b'"errors"' in response.content:
            raise BenchFailure(
                f"{call.server.label} failed while measured: {response.status_code} "
                f"{response.text[:300]}"
            )
    wall = time.perf_counter() - started
    time.sleep(0.05)  # let work after the last response (logs, access log) finish
    server = cpu_since(server_before, cpu_ns(process_tree(root)))
    database = cpu_since(db_before, cpu_ns(postgres_pids() if db else []))
    samples.server_ms.append(server / n / 1e6)
    samples.db_ms.append(database / n / 1e6)
    samples.wall_ms.append(wall / n * 1000)


def measure_cpu(
    ours: Call, theirs: Call | None, *, rounds: int, batch: int, db: bool
) -> tuple[CpuSamples, CpuSamples]:
    """Interleaved batches, the order swapped every round (A B, B A, ...)."""
    calls = (ours, theirs) if theirs is not None else (ours,)
    results = (CpuSamples(), CpuSamples())
    with httpx.Client(timeout=60.0) as a, httpx.Client(timeout=60.0) as b:
        clients = (a, b)
        for side, call in enumerate(calls):  # warm caches, pools, JITs
            for _ in range(max(10, batch)):
                post(clients[side], call)
        for r in range(rounds):
            order = range(len(calls)) if r % 2 == 0 else reversed(range(len(calls)))
            for side in order:
                cpu_batch(clients[side], calls[side], batch, results[side], db)
    return results


@dataclass
class LoadResult:
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    requests: int
    errors: int


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def parse_wrk(output: str) -> LoadResult:
    def percentile(p: int) -> float | None:
        match = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.MULTILINE)
        return float(match.group(1)) * _UNITS[match.group(2)] if match else None

    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    done = re.search(r"(\d+) requests in", output)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    errors = int(non2xx.group(1)) if non2xx else 0
    errors += sum(int(g) for g in sockets.groups()) if sockets else 0
    return LoadResult(
        rps=float(rps.group(1)) if rps else 0.0,
        p50_ms=percentile(50),
        p99_ms=percentile(99),
        requests=int(done.group(1)) if done else 0,
        errors=errors,
    )


def wrk_script(call: Call, folder: Path) -> Path:
    body = call.body.decode()
    assert "]==]" not in body
    lines = ['wrk.method = "POST"', f"wrk.body = [==[{body}]==]"]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in call.headers.items()]
    path = folder / f"wrk-{uuid.uuid4().hex[:8]}.lua"
    path.write_text("\n".join(lines) + "\n")
    return path


def run_wrk(wrk: str, call: Call, script: Path, *, connections: int, duration: float) -> LoadResult:
    argv = [wrk, "-t2", f"-c{connections}", f"-d{duration:g}s", "--timeout", "10s", "--latency"]
    done = subprocess.run(  # noqa: S603 - our own argv, no shell
        [*argv, "-s", str(script), call.server.url],
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=False,
    )
    if done.returncode != 0:
        raise BenchFailure(f"wrk failed against {call.server.label}: {done.stderr[-600:]}")
    return parse_wrk(done.stdout)


async def _httpx_load(call: Call, *, connections: int, duration: float) -> LoadResult:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=10.0) as client:
        deadline = time.monotonic() + duration

        async def worker() -> None:
            nonlocal errors
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    response = await client.post(
                        call.server.url, content=call.body, headers=call.headers
                    )
                    errors += response.status_code != 200
                except httpx.HTTPError:
                    errors += 1
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    ranked = sorted(latencies)

    def at(q: float) -> float | None:
        return ranked[min(len(ranked) - 1, int(q * len(ranked)))] if ranked else None

    return LoadResult(len(ranked) / elapsed, at(0.5), at(0.99), len(ranked), errors)


def run_load(
    wrk: str | None, call: Call, folder: Path, *, connections: int, duration: float
) -> LoadResult:
    if wrk is not None:
        script = wrk_script(call, folder)
        return run_wrk(wrk, call, script, connections=connections, duration=duration)
    return asyncio.run(_httpx_load(call, connections=connections, duration=duration))


def measure_load(
    wrk: str | None,
    ours: Call,
    theirs: Call,
    folder: Path,
    *,
    rounds: int,
    connections: int,
    duration: float,
) -> tuple[list[LoadResult], list[LoadResult]]:
    results: tuple[list[LoadResult], list[LoadResult]] = ([], [])
    for _ in range(rounds):
        for side, call in enumerate((ours, theirs)):
            results[side].append(
                run_load(wrk, call, folder, connections=connections, duration=duration)
            )
            settle(call.server)
    return results


def warm_up(
    wrk: str | None, cases: Sequence[Case], folder: Path, *, seconds: int, connections: int
) -> None:
    """Every request through every worker of its server before anything is measured: V8
    optimises PostGraphile's functions only after many calls, each LendGraph worker keeps
    its own caches, and a keep-alive client later lands on any one of the workers."""
    calls = {id(c): c for case in cases for c in (case.ours, case.theirs) if c is not None}
    for call in calls.values():
        run_load(wrk, call, folder, connections=connections, duration=seconds)
        settle(call.server)


# ---------------------------------------------------------------------- reporting


def spread(values: Sequence[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    deciles = statistics.quantiles(values, n=10, method="inclusive")
    return deciles[0], deciles[-1]


def fmt_ms(values: Sequence[float]) -> str:
    low, high = spread(values)
    digits = 3 if statistics.median(values) < 1 else 2
    return f"{statistics.median(values):.{digits}f} [{low:.{digits}f}-{high:.{digits}f}]"


def fmt_range(values: Sequence[float], digits: int = 1) -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    if len(values) == 1:
        return f"{mid:.{digits}f}"
    return f"{mid:.{digits}f} [{low:.{digits}f}-{high:.{digits}f}]"


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def ratio(ours: float | None, theirs: float | None) -> str:
    if ours is None or theirs is None or theirs == 0:
        return "-"
    return f"{ours / theirs:.2f}x"


# ---------------------------------------------------------------------------- setup


@dataclass(frozen=True)
class Case:
    key: str
    title: str
    ours: Call
    theirs: Call | None
    peer: str  # short name for the tables
    batch: int = 0  # requests per CPU batch; 0: --batch
    goal: str = "<= 1.0"  # issue 17's ratio


@dataclass
class Peer:
    folder: Path
    version: str


def peer_folder(given: str | None) -> Path:
    if given:
        return Path(given).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "lendgraph-bench" / "postgraphile"


def install_peer(folder: Path, *, timeout: float) -> Peer | None:
    """PostGraphile 4 and its connection-filter plugin, installed once into ``folder``."""
    binary = folder / PEER_BINARY
    plugin = folder / "node_modules" / "postgraphile-plugin-connection-filter"
    if not (binary.exists() and plugin.exists()):
        npm, node = shutil.which("npm"), shutil.which("node")
        if npm is None or node is None:
            print(
                "note: node/npm not found: PostGraphile skipped, LendGraph against the floor only"
            )
            return None
        folder.mkdir(parents=True, exist_ok=True)
        print(f"installing {', '.join(PEER_PACKAGES)} into {folder} ...", flush=True)
        try:
            done = subprocess.run(  # noqa: S603 - our own argv, no shell
                [npm, "install", "--prefix", str(folder), *PEER_PACKAGES, *NPM_OPTIONS],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            print(f"note: npm install took over {timeout:.0f} s: PostGraphile skipped")
            return None
        if done.returncode != 0 or not binary.exists():
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            print("note: npm install failed, PostGraphile skipped: " + " | ".join(tail))
            return None
    manifest = folder / "node_modules" / "postgraphile" / "package.json"
    return Peer(folder, json.loads(manifest.read_text())["version"])


def bench_database(given: str, name: str) -> URL:
    url = make_url(given)
    if not url.drivername.startswith("postgresql"):
        raise BenchFailure(f"--database-url must be PostgreSQL, not {url.drivername}")
    if url.host not in LOOPBACK:
        raise BenchFailure(f"loopback only: the database host is {url.host!r}")
    if name == "test" or not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise BenchFailure(f"refusing database name {name!r}: the benchmark renews its schema")
    return url.set(drivername="postgresql+asyncpg", database=name)


def dsn(url: URL, scheme: str) -> str:
    return url.set(drivername=scheme).render_as_string(hide_password=False)


async def create_database(url: URL) -> None:
    admin = await asyncpg.connect(dsn(url.set(database="postgres"), "postgresql"))
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", url.database):
            await admin.execute(f'CREATE DATABASE "{url.database}"')
    finally:
        await admin.close()


@dataclass(frozen=True)
class Seeded:
    token: str
    institution: uuid.UUID
    code: str
    visible: int  # applications the officer sees
    postgres: str


# The tables the cases read. PostGraphile is shown only these (an ``@omit`` smart comment on
# every other table): the same rows and relations either way, and the peer is spared
# naming clashes in tables it never serves (a ledger entry reversing another, say).
PEER_TABLES = frozenset({"applications", "enterprises", "products", "institutions"})


async def hide_from_peer(url: URL) -> None:
    connection = await asyncpg.connect(dsn(url, "postgresql"))
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        for (name,) in rows:
            if name not in PEER_TABLES:
                await connection.execute(f"COMMENT ON TABLE \"{name}\" IS '@omit'")
    finally:
        await connection.close()


async def seed(url: URL, enterprises: int) -> Seeded:
    await create_database(url)
    text_url = dsn(url, "postgresql+asyncpg")
    engine = await prepare(text_url, enterprises)
    await hide_from_peer(url)
    try:
        settings = bench_settings(text_url)
        institution, code = await busiest_institution(engine)
        token = await signed_in(engine, settings, Role.LOAN_OFFICER, institution)
        async with session_factory(engine)() as s:
            visible = await s.scalar(
                select(func.count())
                .select_from(Application)
                .where(
                    Application.institution_id == institution,
                    Application.status != ApplicationStatus.DRAFT,
                )
            )
            version = await s.scalar(select(func.current_setting("server_version")))
    finally:
        await engine.dispose()
    return Seeded(token, institution, code, int(visible or 0), str(version))


def git_commit() -> str:
    """The commit measured, and whether the working tree (outside bench/) differed from it."""
    git = shutil.which("git")
    if git is None:
        return "unknown"

    def output(*argv: str) -> str:
        done = subprocess.run(  # noqa: S603 - our own argv, no shell
            [git, "-C", str(ROOT), *argv], capture_output=True, text=True, check=False
        )
        return done.stdout

    changed = [
        line[3:]
        for line in output("status", "--porcelain", "--untracked-files=no").splitlines()
        if not line[3:].startswith("bench/")
    ]
    dirty = f" (+ uncommitted changes to {', '.join(changed)})" if changed else ""
    return (output("log", "-1", "--oneline").strip() or "unknown") + dirty


@contextmanager
def servers_stopped_after() -> Iterator[list[Server]]:
    started: list[Server] = []
    try:
        yield started
    finally:
        for server in started:
            stop(server)


# ----------------------------------------------------------------------------- main


def terminated(signum: int, _: object) -> None:
    raise SystemExit(128 + signum)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--enterprises", type=int, default=2000)
    parser.add_argument("--database-url", default=DEFAULT_URL, help="the PostgreSQL server")
    parser.add_argument(
        "--database", default="lendgraph_peer", help="database used (created; schema renewed)"
    )
    parser.add_argument("--rounds", type=int, default=7, help="interleaved CPU rounds")
    parser.add_argument("--batch", type=int, default=30, help="requests per CPU batch (50 rows)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per load run")
    parser.add_argument("--load-rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--warm-up", type=int, default=10, help="seconds of load per request")
    parser.add_argument("--workers", type=int, default=2, help="workers of every server")
    parser.add_argument("--env", choices=("production", "development"), default="production")
    parser.add_argument("--peer-dir", help="where npm installs PostGraphile (cached)")
    parser.add_argument("--quick", action="store_true", help="a smoke run for CI")
    args = parser.parse_args()
    if args.quick:
        args.enterprises, args.rounds, args.batch = 200, 2, 4
        args.duration, args.load_rounds, args.warm_up = 2, 1, 1

    # A CI timeout sends SIGTERM: unwind, so the finally blocks stop every server.
    signal.signal(signal.SIGTERM, terminated)
    try:
        with tempfile.TemporaryDirectory(prefix="peer-bench-") as tmp:
            return run(args, Path(tmp))
    except BenchFailure as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return 1


def run(args: argparse.Namespace, tmp: Path) -> int:
    started = time.monotonic()
    url = bench_database(args.database_url, args.database)
    commit = git_commit()
    seeded = asyncio.run(seed(url, args.enterprises))
    print(
        f"database {url.database} (PostgreSQL {seeded.postgres}), {args.enterprises} enterprises "
        f"seeded; loan officer of {seeded.code}, who sees {seeded.visible} applications"
    )
    peer = install_peer(peer_folder(args.peer_dir), timeout=60 if args.quick else 300)
    wrk = shutil.which("wrk")
    if wrk is None and args.quick:
        print("note: wrk not found: load runs skipped in --quick (apt-get install wrk)")
    elif wrk is None:
        print("note: wrk not found: load from an asyncio httpx generator in this process,")
        print("      which may be the bottleneck against the faster server")
    local_db = bool(postgres_pids())

    base_env = {k: v for k, v in os.environ.items() if not k.startswith("LENDGRAPH_")}
    settings = bench_settings(dsn(url, "postgresql+asyncpg"))
    assert settings.secret_key is not None
    lendgraph_env = {
        **base_env,
        "PYTHONPATH": str(ROOT),
        "LENDGRAPH_ENV": args.env,
        "LENDGRAPH_DATABASE_URL": dsn(url, "postgresql+asyncpg"),
        "LENDGRAPH_SECRET_KEY": settings.secret_key.get_secret_value(),
        "LENDGRAPH_MASTER_KEYS": KEYS.env_values()["master_keys"],
        "LENDGRAPH_BLIND_INDEX_KEY": KEYS.env_values()["blind_index_key"],
        "LENDGRAPH_RISK_SCAN_INTERVAL": "0",  # no background scans while measuring
        # common.signed_in mints an hour's token; a token may not outlive this setting.
        "LENDGRAPH_ACCESS_TOKEN_TTL": "3600",
        "LENDGRAPH_MODEL_DIR": str(tmp / "models"),
    }
    workers = str(args.workers)
    with servers_stopped_after() as servers:
        port = free_port()
        ours = start_server(
            "LendGraph",
            [sys.executable, "-m", "api.cli", "serve", *listen(port, workers)],
            env=lendgraph_env,
            cwd=tmp,
            logs=tmp,
            port=port,
        )
        servers.append(ours)
        port = free_port()
        floor = start_server(
            "Starlette floor",
            [sys.executable, "-m", "uvicorn", *FLOOR_OPTIONS, str(BENCH), *listen(port, workers)],
            env={**base_env, "PYTHONPATH": str(ROOT)},
            cwd=tmp,
            logs=tmp,
            port=port,
        )
        servers.append(floor)
        theirs: Server | None = None
        if peer is not None:
            port = free_port()
            theirs = start_server(
                f"PostGraphile {peer.version}",
                [
                    *(shutil.which("node") or "node", str(peer.folder / PEER_BINARY)),
                    *PEER_OPTIONS,
                    *("-c", dsn(url, "postgres"), *listen(port, workers, flag="--cluster-workers")),
                ],
                env={**base_env, "NODE_ENV": "production"},
                cwd=tmp,
                logs=tmp,
                port=port,
            )
            servers.append(theirs)
        for server in servers:
            wait_ready(server)
        print(f"servers up after {time.monotonic() - started:.0f} s", flush=True)

        cases = build_cases(args, seeded, ours, floor, theirs)
        verify(cases)
        print(f"warming up: {args.warm_up} s of load per request and server", flush=True)
        warm_up(wrk, cases, tmp, seconds=args.warm_up, connections=args.connections)
        cpu_rows, load_rows = measure(args, cases, tmp, wrk, local_db)

        print(f"\nLendGraph peer benchmark at {commit}")
        print(
            f"{os.cpu_count()} cores; PostgreSQL {seeded.postgres} at {url.host}:{url.port}, "
            f"database {url.database}, {args.enterprises} enterprises; every server on "
            f"127.0.0.1 with {args.workers} workers"
        )
        print(
            f"LendGraph: lendgraph serve, LENDGRAPH_ENV={args.env}"
            + (" (adds extensions.debug)" if args.env == "development" else "")
            + ", request log at INFO; "
            + (
                f"PostGraphile {peer.version} (+ connection-filter, NODE_ENV=production); "
                if peer
                else "PostGraphile: not available; "
            )
            + "floor: Starlette JSONResponse on uvicorn"
        )
        print("\nCases (a-c as a loan officer of the busiest institution, its 50 newest rows):")
        for case in cases:
            against = case.theirs.server.label if case.theirs else "none"
            print(f"  {case.key}  {case.title}; peer: {against}")
        print(
            f"\nServer CPU per request, ms: median [p10-p90] of {args.rounds} interleaved rounds "
            "of sequential requests (schedstat of every thread of the server's processes);\n"
            "db: PostgreSQL's processes, median ms per request; wall: client-side ms per "
            "sequential request, median"
        )
        print(table(cpu_rows))
        if load_rows:
            tool = "wrk -t2" if wrk else "asyncio httpx generator (wrk absent)"
            print(
                f"\nUnder load: {tool}, {args.connections} connections, {args.duration:g} s per "
                f"run, {args.load_rounds} interleaved runs each: median [min-max]; the load "
                f"generator shares the {os.cpu_count()} cores with the servers"
            )
            print(table(load_rows))
        print(
            "\nratio = LendGraph / peer (CPU, latency: above 1 costs more; req/s: below 1 "
            "serves fewer). Goals of issue 17: CPU ratio <= 1.0 (a), <= 1.5 (b vs "
            "PostGraphile a), <= 4.0 against the floor (d); p99 ratio <= 1.0 (a)."
        )
        if not local_db:
            print("db CPU: PostgreSQL's processes are not visible here, so not measured")
    print(f"wall time {time.monotonic() - started:.0f} s")
    return 0


def build_cases(
    args: argparse.Namespace,
    seeded: Seeded,
    ours: Server,
    floor: Server,
    theirs: Server | None,
) -> list[Case]:
    json_headers = {"Content-Type": "application/json", "Accept": "application/json"}
    signed = {**json_headers, "Authorization": f"Bearer {seeded.token}"}
    peer_calls: dict[int, Call] = {}
    if theirs is not None:
        relations = postgraphile_relations(theirs)
        for first in (50, 20):
            peer_calls[first] = Call(
                theirs,
                graphql_body(
                    postgraphile_page(first, relations), {"institution": str(seeded.institution)}
                ),
                json_headers,
                page_rows(min(first, seeded.visible)),
            )
    peer = "PostGraphile" if theirs else "-"

    def page(first: int, personal: bool = False) -> Call:
        return Call(
            ours,
            graphql_body(lendgraph_page(first, personal=personal)),
            signed,
            page_rows(min(first, seeded.visible), personal=personal),
        )

    selection = "enterprise { id name industry }, product { id name }, institution { id name }"
    sealed = "a + enterprise { contactPhone legalRepresentativeName } (sealed)"
    typename = "{ __typename } with a bearer token"
    lendgraph_typename = Call(ours, TYPENAME, signed, typename_check)
    floor_typename = Call(floor, TYPENAME, json_headers, typename_check)
    n = args.batch
    return [
        Case("a", f"applications(first: 50) with {selection}", page(50), peer_calls.get(50), peer),
        Case(
            "b",
            sealed,
            page(50, personal=True),
            peer_calls.get(50),
            f"{peer} (a)" if theirs else "-",
            goal="<= 1.5",
        ),
        Case("c", "a with first: 20", page(20), peer_calls.get(20), peer, n * 2, goal="-"),
        Case("d", typename, lendgraph_typename, floor_typename, "floor", n * 10, goal="<= 4.0"),
    ]


def verify(cases: Sequence[Case]) -> None:
    """Every answer right before anything is timed; both servers answer the same rows."""
    with httpx.Client(timeout=60.0) as client:
        for case in cases:
            rows = check_answer(client, case.ours, case.key)
            if case.theirs is None:
                continue
            peer_rows = check_answer(client, case.theirs, case.key)
            if case.key in ("a", "c") and rows != peer_rows:
                differing = next((r, p) for r, p in zip(rows, peer_rows, strict=True) if r != p)
                raise BenchFailure(
                    f"case {case.key}: LendGraph and {case.theirs.server.label} answer different "
                    f"rows, first difference: {differing}"
                )
    compared = [c.key for c in cases if c.key in ("a", "c") and c.theirs is not None]
    same = f"; {' and '.join(compared)}: the same rows from both servers" if compared else ""
    print(f"answers checked: row counts, no errors{same}")


def measure(
    args: argparse.Namespace, cases: Sequence[Case], tmp: Path, wrk: str | None, local_db: bool
) -> tuple[list[list[str]], list[list[str]]]:
    cpu_rows = [["case", "LendGraph", "peer", "peer ms", "ratio", "goal"]]
    cpu_rows[0] += ["db LG", "db peer", "wall LG", "wall peer"]
    load_rows = [["case", "server", "req/s", "p50 ms", "p99 ms", "errors"]]
    # Load first: the CPU batches then find both servers in their steady state.
    for case in cases:
        if (wrk is None and args.quick) or case.theirs is None:
            continue
        print(f"case {case.key}: load, LendGraph against {case.peer}", flush=True)
        ours_load, peer_load = measure_load(
            wrk,
            case.ours,
            case.theirs,
            tmp,
            rounds=args.load_rounds,
            connections=args.connections,
            duration=args.duration,
        )
        for label, results in (("LendGraph", ours_load), (case.peer, peer_load)):
            load_rows.append([case.key, label, *load_cells(results)])
        load_rows.append([case.key, "ratio", *load_ratios(ours_load, peer_load), ""])

    for case in cases:
        print(f"case {case.key}: CPU, LendGraph against {case.peer}", flush=True)
        mine, other = measure_cpu(
            case.ours, case.theirs, rounds=args.rounds, batch=case.batch or args.batch, db=local_db
        )
        mid = statistics.median
        row = [case.key, fmt_ms(mine.server_ms), case.peer, "-", "-", case.goal]
        row += [f"{mid(mine.db_ms):.2f}" if local_db else "-", "-", f"{mid(mine.wall_ms):.2f}", "-"]
        if case.theirs is not None:
            row[3] = fmt_ms(other.server_ms)
            row[4] = ratio(mid(mine.server_ms), mid(other.server_ms))
            row[7] = f"{mid(other.db_ms):.2f}" if local_db else "-"
            row[9] = f"{mid(other.wall_ms):.2f}"
        cpu_rows.append(row)
    return cpu_rows, load_rows if len(load_rows) > 1 else []


def load_cells(results: Sequence[LoadResult]) -> list[str]:
    def cell(values: list[float | None]) -> str:
        known = [v for v in values if v is not None]
        return fmt_range(known) if known else "-"

    return [
        cell([r.rps for r in results]),
        cell([r.p50_ms for r in results]),
        cell([r.p99_ms for r in results]),
        str(sum(r.errors for r in results)),
    ]


def load_ratios(ours: Sequence[LoadResult], theirs: Sequence[LoadResult]) -> list[str]:
    def median(values: Iterable[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return statistics.median(known) if known else None

    return [
        ratio(median(r.rps for r in ours), median(r.rps for r in theirs)),
        ratio(median(r.p50_ms for r in ours), median(r.p50_ms for r in theirs)),
        ratio(median(r.p99_ms for r in ours), median(r.p99_ms for r in theirs)),
    ]


if __name__ == "__main__":
    raise SystemExit(main())
