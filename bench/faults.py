"""Faults under load: a worker killed, PostgreSQL restarted; nothing lost or doubled.

Runs everything it needs itself, on loopback only: a throwaway PostgreSQL server
(initdb and pg_ctl into a temporary directory, on a free port; as the ``postgres`` OS
user when run as root), migrated and seeded (bench.common.prepare), and
``lendgraph serve --workers 2`` in production mode against it. Clients then record
repayments (each with an idempotency key, sent again with the same key after any
failure until it is acknowledged) and decide applications (``expectedVersion`` from a
fresh read; a Conflict or a failure means read again and carry on) of the institution
with the most applications, as its loan officer and its institution admin.

While they run: one uvicorn worker is killed with SIGKILL (the supervisor starts a new
one), and later the PostgreSQL server is restarted (``pg_ctl restart -m fast``). The
kill goes to the worker holding the most client connections. For each fault: the
requests that ended from it until the next one (one in flight when a worker dies fails
after the kill), how many failed (transport error, a status other than 200, or
top-level GraphQL errors, with their kinds), and the seconds from the fault until the
end of the first success sent after the last failure ended (0.0 when nothing failed);
and the repayments and decisions acknowledged in that time.

Then SQL against the throwaway database checks that nothing was lost or doubled:
one repayment row per idempotency key, every acknowledged repayment stored as
acknowledged, no repayment nobody sent; per application at most one final decision and
one transition into it, no officer deciding twice, the version moved once per change,
and every application a client saw decided stored decided; every loan's outstanding
principal equal to its schedule (principal due less principal paid), and for the loans
paid during the run the principal repaid matching what the schedule took off. Each
check is then shown able to fail: the database is broken one way at a time (a key
stored twice, an amount off by a cent, a decision turned, …) inside a transaction
rolled back after, and the check meant to catch it must fail. Prints a table; exits 1
when a check fails or misses its sabotage.

The machine's own PostgreSQL is never touched; every process started here is stopped
and the temporary directory removed at the end, on error too.

    python bench/faults.py [--enterprises N] [--clients N] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from common import KEYS, bench_settings, busiest_institution, prepare, signed_in
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.identity.models import Role

ROOT = Path(__file__).resolve().parent.parent
LENDGRAPH = ROOT / ".venv" / "bin" / "lendgraph"
SECRET = "bench-" + "k" * 40  # what bench_settings signs tokens with
REQUEST_TIMEOUT = 10.0

REPAY = """
mutation($input: RecordRepaymentInput!) {
  recordRepayment(input: $input) {
    __typename
    ... on RepaymentRecorded { replayed repayment { amount } }
    ... on UserError { code message }
  }
}
"""
READ = """
query($id: ID!) {
  node(id: $id) { ... on Application { status version awaitingSecondApproval } }
}
"""
START = """
mutation($input: ApplicationActionInput!) {
  startApplicationReview(input: $input) {
    __typename ... on Application { status version } ... on UserError { code message }
  }
}
"""
DECIDE = """
mutation($input: DecideApplicationInput!) {
  decideApplication(input: $input) {
    __typename
    ... on Application { status version awaitingSecondApproval }
    ... on UserError { code message }
  }
}
"""
DECIDED = {"APPROVED", "REJECTED"}


def gid(type_name: str, pk: uuid.UUID) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


# ------------------------------------------------------------------------ processes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Postgres:
    """A throwaway server in ``root``; stopped and removed by ``close``."""

    root: Path
    port: int
    prefix: list[str]

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    @classmethod
    def create(cls) -> Postgres:
        if not (shutil.which("initdb") and shutil.which("pg_ctl")):
            raise SystemExit("needs PostgreSQL's initdb and pg_ctl on PATH")
        prefix: list[str] = []
        owner = None
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            if not shutil.which("runuser"):
                raise SystemExit("running as root without runuser")
            owner = pwd.getpwnam("postgres")
            prefix = ["runuser", "-u", "postgres", "--"]
        root = Path(tempfile.mkdtemp(prefix="lendgraph-faults-"))
        if owner is not None:
            os.chown(root, owner.pw_uid, owner.pw_gid)
        server = cls(root, free_port(), prefix)
        try:
            subprocess.run(  # noqa: S603 - fixed programs, arguments of our own
                [*prefix, "initdb", "-D", str(server.data), "-U", "postgres", "-A", "trust"],
                check=True,
                capture_output=True,
            )
        except BaseException:
            shutil.rmtree(root, ignore_errors=True)
            raise
        return server

    def ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(  # noqa: S603 - fixed programs, arguments of our own
            [*self.prefix, "pg_ctl", "-D", str(self.data), "-w", "-t", "60", *args],
            check=check,
            capture_output=True,
        )

    def _options(self) -> list[str]:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data}"
        return ["-o", options, "-l", str(self.root / "server.log")]

    def start(self) -> None:
        self.ctl(*self._options(), "start")

    def restart(self) -> None:
        self.ctl(*self._options(), "-m", "fast", "restart")

    def close(self) -> None:
        try:
            if self.data.exists() and self.ctl("status", check=False).returncode == 0:
                self.ctl("-m", "fast", "stop", check=False)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


class Service:
    """``lendgraph serve --workers 2`` in a process group of its own."""

    def __init__(self, database_url: str, port: int, log: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LENDGRAPH_")}
        env.update(
            {
                "LENDGRAPH_ENV": "production",
                "LENDGRAPH_DATABASE_URL": database_url,
                "LENDGRAPH_SECRET_KEY": SECRET,
                "LENDGRAPH_ACCESS_TOKEN_TTL": "3600",
                "LENDGRAPH_RISK_SCAN_INTERVAL": "0",
                "LENDGRAPH_LOG_LEVEL": "WARNING",
            }
        )
        env.update({"LENDGRAPH_" + k.upper(): v for k, v in KEYS.env_values().items()})
        self.port = port
        self.log = log
        self._out = log.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 - our own program
            [str(LENDGRAPH), "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"],
            cwd=ROOT,
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def clients_of(self, pid: int) -> int:
        """How many established client connections to the service a process holds."""
        inodes = set()
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with contextlib.suppress(OSError):
                for line in Path(table).read_text().splitlines()[1:]:
                    cols = line.split()
                    if cols[3] == "01" and int(cols[1].rsplit(":", 1)[1], 16) == self.port:
                        inodes.add(cols[9])  # ESTABLISHED, local port the service's
        held = 0
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            with contextlib.suppress(OSError):
                held += os.readlink(fd).removeprefix("socket:[").rstrip("]") in inodes
        return held

    def workers(self) -> list[int]:
        """The uvicorn worker processes: children of the supervisor (not its helpers)."""
        found = []
        for pid in children(self.process.pid):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if b"resource_tracker" not in cmdline and b"semaphore_tracker" not in cmdline:
                found.append(pid)
        return found

    async def ready(self, count: int, *, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(base_url=self.base, timeout=2.0) as http:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(
                        f"lendgraph serve exited; see {self.log.read_text()[-2000:]}"
                    )
                try:
                    if (await http.get("/healthz")).status_code == 200 and len(
                        self.workers()
                    ) >= count:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError("lendgraph serve did not become ready: " + self.log.read_text()[-2000:])

    def close(self) -> None:
        try:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGTERM)
                try:
                    self.process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(self.process.pid, signal.SIGKILL)
                    self.process.wait(timeout=10)
        except ProcessLookupError:
            pass
        finally:
            # Workers left behind by a supervisor killed too soon share its group.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self._out.close()


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


# ------------------------------------------------------------------------- workload


@dataclass
class Attempt:
    started: float
    ended: float
    ok: bool
    why: str = ""


@dataclass
class Workload:
    base: str
    tokens: dict[str, str]  # "officer", "admin"
    deadline: float  # monotonic; no request starts after it
    attempts: list[Attempt] = field(default_factory=list)
    worked: set[uuid.UUID] = field(default_factory=set)
    done: list[tuple[float, str]] = field(default_factory=list)  # (when, what) acknowledged
    pace: float = 0.0  # seconds between applications per decider, so decisions span the run
    acknowledged: dict[str, tuple[uuid.UUID, Decimal]] = field(default_factory=dict)
    sent_keys: dict[str, tuple[uuid.UUID, Decimal]] = field(default_factory=dict)
    unacknowledged: set[str] = field(default_factory=set)
    refused: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    seen_decided: dict[uuid.UUID, str] = field(default_factory=dict)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def call(
        self, http: httpx.AsyncClient, who: str, query: str, variables: dict[str, Any]
    ) -> dict[str, Any] | None:
        """One request: its data, or None for a failure (recorded either way)."""
        started = time.monotonic()
        data = None
        why = ""
        try:
            response = await http.post(
                "/graphql",
                json={"query": query, "variables": variables},
                headers={
                    "authorization": f"Bearer {self.tokens[who]}",
                    "accept": "application/graphql-response+json",
                },
            )
            why = f"HTTP {response.status_code}"
            body = response.json()
            if response.status_code == 200 and not body.get("errors") and body.get("data"):
                data = body["data"]
            elif body.get("errors"):
                codes = {(e.get("extensions") or {}).get("code") for e in body["errors"]}
                why += " " + ",".join(sorted(str(c) for c in codes))
        except (httpx.HTTPError, ValueError) as exc:
            why = why or type(exc).__name__
            data = None
        self.attempts.append(Attempt(started, time.monotonic(), data is not None, why))
        return data

    def going(self) -> bool:
        return not self.stop.is_set() and time.monotonic() < self.deadline

    async def pause(self, failures: int) -> None:
        await asyncio.sleep(min(0.05 * 2**failures, 1.0) * (0.5 + random.random()))

    async def repayer(self, http: httpx.AsyncClient, loans: list[uuid.UUID], seed: int) -> None:
        rng = random.Random(seed)
        open_loans = list(loans)
        while open_loans and self.going():
            loan = rng.choice(open_loans)
            key = f"fault-{uuid.uuid4().hex}"
            amount = Decimal(rng.randint(1000, 20000)).scaleb(-2)
            self.sent_keys[key] = (loan, amount)
            variables = {
                "input": {"loanId": gid("Loan", loan), "idempotencyKey": key, "amount": str(amount)}
            }
            failures = 0
            # The same key again until acknowledged, refused, or the deadline.
            while self.going() or (failures and time.monotonic() < self.deadline):
                data = await self.call(http, "officer", REPAY, variables)
                result = data and data["recordRepayment"]
                if result and result["__typename"] == "RepaymentRecorded":
                    self.acknowledged[key] = (loan, amount)
                    self.done.append((time.monotonic(), "repaid"))
                    failures = 0
                    break
                if result and result["__typename"] != "Conflict":
                    # Refused for good (the loan closed): not recorded, and it never will be.
                    self.refused[result["__typename"]] += 1
                    self.sent_keys.pop(key)
                    open_loans.remove(loan)
                    failures = 0
                    break
                failures += 1  # a failure, or a payment racing on the loan: same key again
                await self.pause(failures)
            else:
                self.unacknowledged.add(key)

    async def decider(self, http: httpx.AsyncClient, queue: asyncio.Queue[uuid.UUID]) -> None:
        while self.going():
            try:
                application = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await self.decide_one(http, application)
            await asyncio.sleep(self.pace)

    async def decide_one(self, http: httpx.AsyncClient, application: uuid.UUID) -> None:
        app_id = gid("Application", application)
        self.worked.add(application)
        outcome = "APPROVE" if application.int % 3 else "REJECT"
        failures = 0
        who = "officer"
        four_eyes = 0
        while self.going():
            data = await self.call(http, who, READ, {"id": app_id})
            node = data and data["node"]
            if not node:
                failures += 1
                await self.pause(failures)
                continue
            status, version = node["status"], node["version"]
            if status in DECIDED:
                self.seen_decided[application] = status
                self.done.append((time.monotonic(), "decided"))
                return
            if status == "SUBMITTED":
                query, name = START, "startApplicationReview"
                variables: dict[str, Any] = {
                    "input": {"applicationId": app_id, "expectedVersion": version}
                }
            elif status == "UNDER_REVIEW":
                query, name = DECIDE, "decideApplication"
                variables = {
                    "input": {
                        "applicationId": app_id,
                        "decision": outcome,
                        "reasons": "fault suite decision",
                        "expectedVersion": version,
                    }
                }
            else:
                self.refused[f"application {status}"] += 1
                return
            data = await self.call(http, who, query, variables)
            result = data and data[name]
            if result is None:
                failures += 1
                await self.pause(failures)
                continue  # read again: it may have gone through
            failures = 0
            kind = result["__typename"]
            if kind == "Application":
                if result["status"] in DECIDED:
                    self.seen_decided[application] = result["status"]
                    self.done.append((time.monotonic(), "decided"))
                    return
            elif kind == "FourEyesRequired" and four_eyes < 2:
                four_eyes += 1
                who = "admin" if who == "officer" else "officer"  # the other pair of eyes
            elif kind != "Conflict":
                self.refused[kind] += 1
                return


# ----------------------------------------------------------------------------- runs


@dataclass
class Window:
    name: str
    started: float
    ended: float
    note: str = ""


def figures(window: Window, attempts: list[Attempt]) -> tuple[int, int, float | None]:
    # A request belongs to the window it ended in: one in flight when a worker dies
    # fails after the kill.
    inside = [a for a in attempts if window.started <= a.ended < window.ended]
    failed = [a for a in inside if not a.ok]
    if not failed:
        return len(inside), 0, 0.0
    last = max(a.ended for a in failed)
    after = [a for a in attempts if a.ok and a.started > last]
    if not after:
        return len(inside), len(failed), None
    return len(inside), len(failed), min(a.ended for a in after) - window.started


async def snapshot(engine: AsyncEngine, institution: uuid.UUID) -> dict[str, Any]:
    async with engine.connect() as conn:
        applications = (
            await conn.execute(
                text(
                    "SELECT a.id, a.version, a.status,"
                    " (SELECT count(*) FROM decisions d WHERE d.application_id = a.id),"
                    " (SELECT count(*) FROM application_transitions t"
                    "   WHERE t.application_id = a.id)"
                    " FROM applications a WHERE a.institution_id = :i"
                ),
                {"i": institution},
            )
        ).all()
        loans = (
            await conn.execute(
                text(
                    "SELECT id, outstanding_principal FROM loans"
                    " WHERE institution_id = :i AND status = 'active' ORDER BY id"
                ),
                {"i": institution},
            )
        ).all()
        repayments = (await conn.execute(text("SELECT count(*) FROM repayments"))).scalar_one()
        decision_ids = set((await conn.execute(text("SELECT id FROM decisions"))).scalars())
        transition_ids = set(
            (await conn.execute(text("SELECT id FROM application_transitions"))).scalars()
        )
    return {
        "decision_ids": decision_ids,
        "transition_ids": transition_ids,
        "applications": {row[0]: row[1:] for row in applications},
        "loans": {row[0]: row[1] for row in loans},
        "repayments": repayments,
    }


async def check(
    engine: AsyncEngine, before: dict[str, Any], work: Workload
) -> list[tuple[str, bool, str]]:
    async with engine.connect() as conn:
        return await check_on(conn, before, work)


async def check_on(
    conn: AsyncConnection, before: dict[str, Any], work: Workload
) -> list[tuple[str, bool, str]]:
    checks: list[tuple[str, bool, str]] = []

    async def rows(sql: str, **params: Any) -> list[Any]:
        return list((await conn.execute(text(sql), params)).all())

    # Repayments: one row per key; every acknowledged one stored as acknowledged.
    doubled = await rows(
        "SELECT loan_id, idempotency_key, count(*) FROM repayments"
        " GROUP BY loan_id, idempotency_key HAVING count(*) > 1"
    )
    per_key = await rows(
        "SELECT idempotency_key, loan_id, amount, count(*) OVER (PARTITION BY idempotency_key)"
        " FROM repayments WHERE idempotency_key LIKE 'fault-%'"
    )
    stored = {r[0]: (r[1], r[2], r[3]) for r in per_key}
    across = [k for k, (_, _, n) in stored.items() if n > 1]
    checks.append(
        (
            "one repayment row per idempotency key",
            not doubled and not across,
            f"{len(stored)} keys stored, {len(doubled) + len(across)} doubled",
        )
    )
    missing = [k for k in work.acknowledged if k not in stored]
    wrong = [
        k
        for k, (loan, amount) in work.acknowledged.items()
        if k in stored and stored[k][:2] != (loan, amount)
    ]
    checks.append(
        (
            "every acknowledged repayment stored",
            not missing and not wrong,
            f"{len(work.acknowledged)} acknowledged, {len(missing)} missing, {len(wrong)} differ",
        )
    )
    strangers = [k for k in stored if k not in work.sent_keys]
    total = (await rows("SELECT count(*) FROM repayments"))[0][0]
    unacked_stored = sum(1 for k in work.unacknowledged if k in stored)
    checks.append(
        (
            "no repayment nobody sent",
            not strangers and total == before["repayments"] + len(stored),
            f"{total - before['repayments']} new rows; {len(work.unacknowledged)} never "
            f"acknowledged ({unacked_stored} of them stored)",
        )
    )

    # Decisions.
    now = {
        r[0]: r[1:]
        for r in await rows(
            "SELECT a.id, a.version, a.status,"
            " (SELECT count(*) FROM decisions d WHERE d.application_id = a.id),"
            " (SELECT count(*) FROM application_transitions t"
            "   WHERE t.application_id = a.id)"
            " FROM applications a WHERE a.id = ANY(:ids)",
            ids=list(before["applications"]),
        )
    }
    # What the run added for the applications worked on (the seed's history aside).
    worked = list(work.worked)
    known = before["decision_ids"]
    added = [
        r
        for r in await rows(
            "SELECT id, application_id, officer_id, outcome, awaits_second FROM decisions"
            " WHERE application_id = ANY(:ids)",
            ids=worked,
        )
        if r[0] not in known
    ]
    moves = [
        r
        for r in await rows(
            "SELECT id, application_id, to_status FROM application_transitions"
            " WHERE application_id = ANY(:ids) AND to_status IN ('approved', 'rejected')",
            ids=worked,
        )
        if r[0] not in before["transition_ids"]
    ]
    twice = {(r[1], r[2]) for r in added if sum(x[1:3] == r[1:3] for x in added) > 1}
    finals: dict[uuid.UUID, list[str]] = defaultdict(list)
    for r in added:
        if not r[4]:
            finals[r[1]].append(r[3])
    into: dict[uuid.UUID, list[str]] = defaultdict(list)
    for r in moves:
        into[r[1]].append(r[2])
    bad = [
        app
        for app in worked
        if len(finals[app]) > 1
        or finals[app] != [{"approved": "approve", "rejected": "reject"}[s] for s in into[app]]
        or (now[app][1] in ("approved", "rejected") and into[app] != [now[app][1]])
    ]
    checks.append(
        (
            "one decision per officer, one final per application",
            not twice and not bad,
            f"{len(worked)} applications, {len(added)} decisions added, "
            f"{len(twice)} officer twice, {len(bad)} not one final decision and move",
        )
    )
    firsts_now = {
        r[0]: r[1]
        for r in await rows(
            "SELECT application_id, count(*) FROM decisions WHERE awaits_second"
            " AND application_id = ANY(:ids) GROUP BY application_id",
            ids=list(before["applications"]),
        )
    }
    off = []
    changed = 0
    for app, (version, _status, decisions, transitions) in now.items():
        v0, _s0, d0, t0 = before["applications"][app]
        moved = transitions - t0
        # A change is a move (a transition) or a first approval waiting for a second.
        firsts = firsts_now.get(app, 0) - _firsts_before(before, app)
        if version - v0 != moved + firsts or decisions - d0 > moved + firsts:
            off.append(app)
        changed += version != v0
    checks.append(
        (
            "application version moved once per change",
            not off,
            f"{changed} applications changed, {len(off)} inconsistent",
        )
    )
    lost = [a for a, s in work.seen_decided.items() if now[a][1] != s.lower()]
    checks.append(
        (
            "every decision seen is stored",
            not lost,
            f"{len(work.seen_decided)} decided, {len(lost)} differ",
        )
    )

    # Loans: balances equal schedules.
    unequal = await rows(
        "SELECT l.id FROM loans l LEFT JOIN schedule_installments i ON i.loan_id = l.id"
        " GROUP BY l.id, l.outstanding_principal HAVING l.outstanding_principal"
        " <> coalesce(sum(i.principal_due - i.principal_paid), 0)"
    )
    count = (await rows("SELECT count(*) FROM loans"))[0][0]
    checks.append(
        (
            "outstanding principal = schedule (due - paid)",
            not unequal,
            f"{count} loans, {len(unequal)} differ",
        )
    )
    paid = {
        r[0]: (r[1], r[2])
        for r in await rows(
            "SELECT l.id, l.outstanding_principal,"
            " (SELECT coalesce(sum(r.principal_part), 0) FROM repayments r"
            "   WHERE r.loan_id = l.id AND r.idempotency_key LIKE 'fault-%')"
            " FROM loans l WHERE l.id = ANY(:ids)",
            ids=list(before["loans"]),
        )
    }
    drift = [
        loan
        for loan, (outstanding, principal) in paid.items()
        if before["loans"][loan] - principal != outstanding
    ]
    paid_loans = {loan for loan, _ in work.acknowledged.values()}
    touched = sum(1 for _, p in paid.values() if p)
    checks.append(
        (
            "principal repaid = balance reduction",
            not drift,
            f"{len(paid_loans)} loans paid, {touched} with principal, {len(drift)} differ",
        )
    )
    return checks


# Each check shown able to fail: the run's database broken one way at a time, inside a
# transaction rolled back after, and the check meant to catch that must then say FAILED.
# (check name, sabotage, SQL); :worked, :known, :seen, :paid and :loans come from the run.
SABOTAGE = [
    (
        "one repayment row per idempotency key",
        "a key stored twice (on two loans)",
        "UPDATE repayments SET idempotency_key = (SELECT min(idempotency_key) FROM repayments"
        "   WHERE idempotency_key LIKE 'fault-%')"
        " WHERE id = (SELECT r.id FROM repayments r WHERE r.idempotency_key LIKE 'fault-%'"
        "   AND r.loan_id <> (SELECT loan_id FROM repayments WHERE idempotency_key ="
        "     (SELECT min(idempotency_key) FROM repayments WHERE idempotency_key LIKE 'fault-%')"
        "     LIMIT 1) LIMIT 1)",
    ),
    (
        "every acknowledged repayment stored",
        "an acknowledged repayment lost (its key gone)",
        "UPDATE repayments SET idempotency_key = 'lost'"
        " WHERE id = (SELECT id FROM repayments WHERE idempotency_key = ANY(:paid) LIMIT 1)",
    ),
    (
        "no repayment nobody sent",
        "a repayment under a key no client sent",
        "UPDATE repayments SET idempotency_key = 'fault-nobody-sent-this'"
        " WHERE id = (SELECT id FROM repayments WHERE idempotency_key = ANY(:paid) LIMIT 1)",
    ),
    (
        "one decision per officer, one final per application",
        "a final decision's outcome turned",
        "UPDATE decisions SET outcome = CASE outcome WHEN 'approve' THEN 'reject'"
        "   ELSE 'approve' END"
        " WHERE id = (SELECT id FROM decisions WHERE application_id = ANY(:worked)"
        "   AND NOT awaits_second AND outcome IN ('approve', 'reject')"
        "   AND NOT (id = ANY(:known)) LIMIT 1)",
    ),
    (
        "application version moved once per change",
        "a version moved without a change",
        "UPDATE applications SET version = version + 1"
        " WHERE id = (SELECT id FROM applications WHERE id = ANY(:worked) LIMIT 1)",
    ),
    (
        "every decision seen is stored",
        "a decided application back under review",
        "UPDATE applications SET status = 'under_review'"
        " WHERE id = (SELECT id FROM applications WHERE id = ANY(:seen) LIMIT 1)",
    ),
    (
        "outstanding principal = schedule (due - paid)",
        "a balance off by a cent",
        "UPDATE loans SET outstanding_principal = outstanding_principal + 0.01"
        " WHERE id = (SELECT id FROM loans LIMIT 1)",
    ),
    (
        "principal repaid = balance reduction",
        "a balance lowered by a cent without a repayment",
        "UPDATE loans SET outstanding_principal = outstanding_principal - 0.01"
        " WHERE id = (SELECT id FROM loans WHERE id = ANY(:loans)"
        "   AND outstanding_principal > 0 LIMIT 1)",
    ),
]


async def prove(
    engine: AsyncEngine, before: dict[str, Any], work: Workload
) -> list[tuple[str, bool, str]]:
    """For each check, whether it caught its sabotage (rows changed, check FAILED)."""
    params = {
        "worked": list(work.worked),
        "known": list(before["decision_ids"]),
        "seen": list(work.seen_decided),
        "paid": list(work.acknowledged),
        "loans": list(before["loans"]),
    }
    proofs: list[tuple[str, bool, str]] = []
    for name, how, sql in SABOTAGE:
        async with engine.connect() as conn:
            transaction = await conn.begin()
            try:
                changed = (await conn.execute(text(sql), params)).rowcount
                verdicts = {n: ok for n, ok, _ in await check_on(conn, before, work)}
            except DBAPIError as exc:  # a constraint refused it: this sabotage proves nothing
                proofs.append((name, False, f"{how}: refused ({type(exc.orig).__name__})"))
                continue
            finally:
                await transaction.rollback()
        caught = changed > 0 and verdicts[name] is False
        detail = f"{how}: {changed} row(s) changed, check {'FAILED' if caught else 'passed'}"
        proofs.append((name, caught, detail))
    return proofs


def _firsts_before(before: dict[str, Any], app: uuid.UUID) -> int:
    return int(before.get("first_approvals", {}).get(app, 0))


async def first_approvals(engine: AsyncEngine, ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    async with engine.connect() as conn:
        result = await conn.execute(
            text(
                "SELECT application_id, count(*) FROM decisions WHERE awaits_second"
                " AND application_id = ANY(:ids) GROUP BY application_id"
            ),
            {"ids": ids},
        )
        return {r[0]: r[1] for r in result.all()}


async def run(args: argparse.Namespace) -> int:
    wall = time.monotonic()
    server = Postgres.create()
    service: Service | None = None
    engine: AsyncEngine | None = None
    try:
        server.start()
        print(f"PostgreSQL (throwaway) on 127.0.0.1:{server.port}, data in {server.root}")
        engine = await prepare(server.url, args.enterprises)
        settings = bench_settings(server.url)
        institution, code = await busiest_institution(engine)
        tokens = {
            "officer": await signed_in(engine, settings, Role.LOAN_OFFICER, institution),
            "admin": await signed_in(engine, settings, Role.INSTITUTION_ADMIN, institution),
        }
        before = await snapshot(engine, institution)
        before["first_approvals"] = await first_approvals(engine, list(before["applications"]))
        pending = [
            a
            for a, row in before["applications"].items()
            if row[1] in ("submitted", "under_review")
        ]
        loans = list(before["loans"])
        print(
            f"seeded {args.enterprises} enterprises in {time.monotonic() - wall:.1f} s; "
            f"institution {code}: {len(loans)} active loans, {len(pending)} applications "
            "submitted or under review"
        )
        if not loans or not pending:
            print("nothing to work on: seed more enterprises")
            return 2

        service = Service(server.url, free_port(), server.root / "lendgraph.log")
        try:
            await service.ready(2)
            print(f"lendgraph serve on 127.0.0.1:{service.port}, workers {service.workers()}")

            total = args.warmup + 2 * args.settle
            work = Workload(service.base, tokens, deadline=time.monotonic() + total + 60)
            work.pace = total * args.deciders / len(pending)
            queue: asyncio.Queue[uuid.UUID] = asyncio.Queue()
            for application in pending:
                queue.put_nowait(application)
            limits = httpx.Limits(max_connections=args.clients * 2)
            timeout = httpx.Timeout(REQUEST_TIMEOUT)
            async with httpx.AsyncClient(
                base_url=service.base, limits=limits, timeout=timeout
            ) as http:
                repayers = max(1, args.clients - args.deciders)
                shares = [loans[i::repayers] for i in range(repayers)]
                tasks = [
                    asyncio.create_task(work.repayer(http, share, seed))
                    for seed, share in enumerate(shares)
                    if share
                ]
                tasks += [
                    asyncio.create_task(work.decider(http, queue)) for _ in range(args.deciders)
                ]
                try:
                    windows = await faults(args, server, service, work)
                    work.stop.set()
                    await asyncio.wait_for(asyncio.gather(*tasks), timeout=180)
                finally:
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
            windows[-1].ended = time.monotonic()
        finally:
            service.close()

        await engine.dispose()  # its pooled connections died with the restart
        checks = await check(engine, before, work)
        proofs = await prove(engine, before, work)
        report(windows, work, checks, time.monotonic() - wall, proofs)
        return 0 if all(ok for _, ok, _ in (*checks, *proofs)) else 1
    finally:
        if engine is not None:
            await engine.dispose()
        if service is not None:
            service.close()
        server.close()


async def faults(
    args: argparse.Namespace, server: Postgres, service: Service, work: Workload
) -> list[Window]:
    started = time.monotonic()
    await asyncio.sleep(args.warmup)
    windows = [Window("none (baseline)", started, time.monotonic())]

    # Fault 1: SIGKILL one worker; the supervisor starts another.
    # The worker holding the most client connections: its requests in flight fail.
    held = {pid: service.clients_of(pid) for pid in service.workers()}
    victim = max(held, key=lambda pid: held[pid])
    at = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    replaced = None
    while time.monotonic() - at < args.settle:
        now = service.workers()
        if replaced is None and len(now) >= 2 and victim not in now:
            replaced = time.monotonic() - at
        await asyncio.sleep(0.1)
    note = f"pid {victim} killed (held {held[victim]} of {sum(held.values())} connections); " + (
        f"replaced in {replaced:.1f} s" if replaced is not None else "NOT replaced"
    )
    windows.append(Window("kill -9 one worker", at, time.monotonic(), note))

    # Fault 2: restart PostgreSQL under the running service.
    at = time.monotonic()
    await asyncio.to_thread(server.restart)
    took = time.monotonic() - at
    await asyncio.sleep(max(0.0, args.settle - took))
    windows.append(
        Window("pg_ctl restart -m fast", at, time.monotonic(), f"restart took {took:.1f} s")
    )
    return windows


def report(
    windows: list[Window],
    work: Workload,
    checks: list[tuple[str, bool, str]],
    wall: float,
    proofs: list[tuple[str, bool, str]],
) -> None:
    print()
    print(
        f"{'fault':<24} {'requests':>9} {'failed':>7} {'recover (s)':>12} "
        f"{'repaid':>7} {'decided':>8}  note"
    )
    for window in windows:
        sent, failed, recover = figures(window, work.attempts)
        shown = "never" if recover is None else f"{recover:.2f}"
        if window is windows[0]:
            shown = "-"
        within = [what for when, what in work.done if window.started <= when < window.ended]
        print(
            f"{window.name:<24} {sent:>9} {failed:>7} {shown:>12} "
            f"{within.count('repaid'):>7} {within.count('decided'):>8}  {window.note}"
        )
        whys: dict[str, int] = defaultdict(int)
        for a in work.attempts:
            if window.started <= a.ended < window.ended and not a.ok:
                whys[a.why] += 1
        if whys:
            print(" " * 26 + "failed: " + ", ".join(f"{k} x{v}" for k, v in sorted(whys.items())))
    print()
    refused = ", ".join(f"{k} {v}" for k, v in sorted(work.refused.items())) or "none"
    print(
        f"{len(work.attempts)} requests in all; {len(work.acknowledged)} repayments "
        f"acknowledged; {len(work.seen_decided)} applications decided; refused: {refused}"
    )
    print()
    print(f"{'check':<52} {'result':<7} detail")
    for name, ok, detail in checks:
        print(f"{name:<52} {'OK' if ok else 'FAILED':<7} {detail}")
    print("\neach check made to fail on purpose (rolled back after):")
    for name, caught, detail in proofs:
        print(f"{name:<52} {'CAUGHT' if caught else 'MISSED':<7} {detail}")
    print(f"\nwall time {wall:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--enterprises", type=int, default=600)
    parser.add_argument("--clients", type=int, default=12, help="client tasks in all")
    parser.add_argument("--deciders", type=int, default=3, help="of them deciding")
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds before fault 1")
    parser.add_argument("--settle", type=float, default=15.0, help="seconds after each fault")
    parser.add_argument("--quick", action="store_true", help="a short run")
    args = parser.parse_args()
    if args.quick:
        args.enterprises, args.clients, args.deciders = 200, 6, 2
        args.warmup, args.settle = 4.0, 8.0
    args.clients = max(2, min(args.clients, 64))
    args.deciders = max(1, min(args.deciders, args.clients - 1))
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
