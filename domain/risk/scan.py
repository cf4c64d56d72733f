"""The portfolio scan: every active loan's indicators, rules and warning score, in chunks.

A scan walks the active loans by id in chunks (keyset, never OFFSET). Each chunk's
indicator inputs come in one statement (``queries.chunk_inputs``); the indicators, the
rules (compiled once per scan into column operations, ``domain/risk/vector.py``) and the
warning scores are computed with numpy over the whole chunk, in a thread while the
database reads the next chunk; the changed warning scores and the new alerts are written
in bulk, one transaction per chunk: a crash loses at most the chunk in hand, and a rerun
picks up where the data stands.

Incremental by default: only loans whose row, borrower's assessments or borrower's
statements changed since the previous scan started. When the rules or the warning system
changed since then, or there is no previous scan, the scan is full.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.audit import service as audit
from domain.risk import queries
from domain.risk.catalogue import CATALOGUE, default_warning_system
from domain.risk.feed import announce
from domain.risk.indicators import IndicatorRule, Level, WarningSystem
from domain.risk.models import (
    AlertActionKind,
    AlertSeverity,
    AlertStatus,
    LoanWarning,
    RiskAlert,
    RiskAlertAction,
    RiskRule,
    RiskScan,
    WarningSystemVersion,
)
from domain.risk.rules import CompiledRule, IndicatorType, compile_rule
from domain.risk.vector import ColumnRule, vectorise
from kernel import bulk, metrics
from kernel.base import new_id, utcnow
from kernel.errors import DomainError
from scoring.scorecard import MasterScale

log = logging.getLogger("lendgraph.risk")

# Time to resolve an alert before it escalates by itself.
SLA: Mapping[AlertSeverity, timedelta] = {
    AlertSeverity.CRITICAL: timedelta(hours=4),
    AlertSeverity.HIGH: timedelta(hours=24),
    AlertSeverity.MEDIUM: timedelta(hours=72),
    AlertSeverity.LOW: timedelta(days=7),
}
CHUNK = 5000
COMMIT_LAG = timedelta(hours=1)
_SCAN_LOCK_KEY = 0x4C47_5343  # "LGSC": one scan at a time across processes (PostgreSQL)
_local_lock = asyncio.Lock()  # the same within one process (SQLite)
_GRADES = {name: rank for rank, name in enumerate(MasterScale().names)}


class ScanRunning(DomainError):
    code = "SCAN_RUNNING"


@dataclass(frozen=True)
class ActiveRule:
    row_id: uuid.UUID
    code: str
    version: int
    name: str
    institution_id: uuid.UUID | None
    severity: AlertSeverity
    action: Any
    compiled: CompiledRule
    columns: ColumnRule  # the same rule over a whole chunk

    @classmethod
    def of(cls, row: RiskRule) -> ActiveRule:
        compiled = compile_rule(row.expression, CATALOGUE)
        return cls(
            row_id=row.id,
            code=row.code,
            version=row.version,
            name=row.name,
            institution_id=row.institution_id,
            severity=row.severity,
            action=row.action,
            compiled=compiled,
            columns=vectorise(compiled, CATALOGUE),
        )


@dataclass
class ScanReport:
    scan_id: uuid.UUID
    as_of: date
    full: bool
    rules: int
    system_version: int
    loans_scanned: int = 0
    alerts_raised: int = 0
    warnings_written: int = 0
    levels: dict[str, int] = field(default_factory=lambda: {lv.name.lower(): 0 for lv in Level})
    seconds: float = 0.0
    alert_ids: list[uuid.UUID] = field(default_factory=list, repr=False)


def warning_system_of(row: WarningSystemVersion | None) -> tuple[WarningSystem, int]:
    """The configured warning system and its version; the documented default is version 0."""
    if row is None:
        return default_warning_system(), 0
    rules = [
        IndicatorRule(i["name"], int(i["direction"]), tuple(float(t) for t in i["thresholds"]))  # type: ignore[arg-type]
        for i in row.indicators
    ]
    cut = tuple(float(c) for c in row.cut_points)
    return WarningSystem(rules, row.weights, cut), row.version  # type: ignore[arg-type]


# Where a denominator is zero or below, a ratio is not unknown when the numerator says
# which way it goes: owing with nothing to own is the worst leverage there is, earning with
# no interest to pay the best coverage. Capped values stand for "beyond any threshold".
RATIO_CAP = 1000.0


@dataclass(frozen=True)
class Shares:
    industry: Mapping[tuple[uuid.UUID, str], float]
    region: Mapping[tuple[uuid.UUID, str], float]


Columns = dict[str, NDArray[Any]]
_NUMBERS = tuple(name for name, kind in CATALOGUE.items() if kind is IndicatorType.NUMBER)
_TEXTS = tuple(name for name, kind in CATALOGUE.items() if kind is not IndicatorType.NUMBER)
_WHOLE = frozenset({"days_past_due", "grade_downgrade_90d"})  # shown as integers


def _floats(values: Sequence[Any]) -> NDArray[np.float64]:
    return np.array(values, dtype=np.float64)  # None becomes NaN, unknown


def _texts(values: Sequence[Any]) -> NDArray[np.object_]:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _ratio(
    num: NDArray[np.float64], den: NDArray[np.float64], *, when_zero: float | None = None
) -> NDArray[np.float64]:
    """num / den; where den <= 0, ``when_zero`` if num > 0, else unknown (NaN)."""
    out = np.full(len(num), np.nan)
    positive = den > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        out[positive] = np.minimum(num[positive] / den[positive], RATIO_CAP)
    if when_zero is not None:
        out[~positive & (num > 0)] = when_zero
    return out


def _ranks(grades: Sequence[str | None]) -> NDArray[np.float64]:
    return np.fromiter(
        (_GRADES.get(g, np.nan) if g is not None else np.nan for g in grades),
        dtype=np.float64,
        count=len(grades),
    )


def chunk_columns(inputs: queries.ChunkInputs, *, shares: Shares) -> Columns:
    """Every catalogue indicator of a chunk of loans, one array per indicator (row k is the
    chunk's loan k): number indicators float64 with NaN for unknown, the others objects
    with None. Pure numpy over the inputs ``queries.chunk_inputs`` read."""
    c = inputs.columns
    n = len(inputs)
    institutions, industries, regions = c["institution_id"], c["industry"], c["region"]
    pd, pd30, pd90 = _floats(c["pd"]), _floats(c["pd_30d_ago"]), _floats(c["pd_90d_ago"])
    revenue, dues = _floats(c["revenue"]), _floats(c["dues"])
    year, prior_year = _floats(c["fiscal_year"]), _floats(c["prior_fiscal_year"])
    filed = ~np.isnan(year)
    # Growth is year on year: a gap in the filings leaves it unknown.
    consecutive = prior_year == year - 1
    growth = _ratio(revenue, _floats(c["prior_revenue"]))
    return {
        "days_past_due": _floats(c["days_past_due"]),
        "delinquency_bucket": _texts(c["delinquency_bucket"]),
        "outstanding": _floats(c["outstanding"]),
        "industry": _texts(industries),
        "region": _texts(regions),
        "product_type": _texts(c["product_type"]),
        "industry_share": np.fromiter(
            (
                shares.industry.get(key, np.nan)
                for key in zip(institutions, industries, strict=True)
            ),
            dtype=np.float64,
            count=n,
        ),
        "region_share": np.fromiter(
            (shares.region.get(key, np.nan) for key in zip(institutions, regions, strict=True)),
            dtype=np.float64,
            count=n,
        ),
        "pd": pd,
        "grade": _texts(c["grade"]),
        "pd_change_30d": pd - pd30,
        "pd_change_90d": pd - pd90,
        "grade_downgrade_90d": _ranks(c["grade"]) - _ranks(c["grade_90d_ago"]),
        "debt_to_asset": _ratio(
            _floats(c["total_liabilities"]), _floats(c["total_assets"]), when_zero=RATIO_CAP
        ),
        "current_ratio": _ratio(
            _floats(c["current_assets"]), _floats(c["current_liabilities"]), when_zero=RATIO_CAP
        ),
        "interest_coverage": _ratio(
            _floats(c["operating_profit"]), _floats(c["interest_expense"]), when_zero=RATIO_CAP
        ),
        "revenue_change": np.where(consecutive, growth - 1.0, np.nan),
        "repayment_to_revenue": np.where(
            filed, _ratio(np.nan_to_num(dues), revenue, when_zero=RATIO_CAP), np.nan
        ),
    }


def score_chunk(
    system: WarningSystem, columns: Mapping[str, NDArray[Any]], n: int
) -> tuple[NDArray[np.float64], NDArray[np.int64], dict[str, NDArray[np.int64]]]:
    """``system.assess`` for a whole chunk at once: the same scores, overall levels and
    per-indicator levels (as ``Level`` numbers), and the same cut points."""
    total = np.zeros(n)
    per_rule: dict[str, NDArray[np.int64]] = {}
    for rule in system.rules:
        raw = (
            np.asarray(columns[rule.name], dtype=np.float64)
            if rule.name in columns
            else np.full(n, np.nan)
        )
        signed = raw * rule.direction
        yellow, orange, red = (t * rule.direction for t in rule.thresholds)
        with np.errstate(invalid="ignore"):
            level = np.select([signed >= red, signed >= orange, signed >= yellow], [3, 2, 1], 0)
        level = np.where(np.isnan(raw), 0, level)  # unknown counts green
        per_rule[rule.name] = level.astype(np.int64)
        total += system.weights[rule.name] * level / 3 * 100
    # Rounded so a sum that lands on a cut point lands there as exactly as math.fsum does.
    scores = np.clip(np.round(total, 9), 0.0, 100.0)
    y, o, r = system.cut_points
    overall = np.select([scores >= r, scores >= o, scores >= y], [3, 2, 1], 0).astype(np.int64)
    return scores, overall, per_rule


def fingerprint(rules: Sequence[ActiveRule], system_version: int) -> str:
    keys = sorted(f"{r.row_id}" for r in rules)
    return hashlib.sha256("|".join([*keys, f"system:{system_version}"]).encode()).hexdigest()


_LEVEL_NAMES = {int(lv): lv.name.lower() for lv in Level}


@dataclass
class _Shown:
    """A chunk's indicators as JSON-ready Python values, read a row at a time."""

    columns: dict[str, list[Any]]

    @classmethod
    def of(cls, columns: Columns) -> _Shown:
        out: dict[str, list[Any]] = {}
        for name in _NUMBERS:
            values = np.round(columns[name], 6)
            out[name] = [
                None if v != v else int(v) if name in _WHOLE else v for v in values.tolist()
            ]
        for name in _TEXTS:
            out[name] = columns[name].tolist()
        return cls(out)

    def row(self, k: int) -> dict[str, object]:
        """Every indicator of loan k, unknown ones as None."""
        return {name: values[k] for name, values in self.columns.items()}

    def value(self, name: str, k: int) -> object:
        return self.columns[name][k]


def _digests(
    columns: Columns,
    scores: NDArray[np.float64],
    overall: NDArray[np.int64],
    per_rule: Mapping[str, NDArray[np.int64]],
    system_version: int,
) -> list[str]:
    """A digest per loan of everything its warning shows, so unchanged ones are not
    rewritten: one matrix of numbers (NaN for unknown) and one string of texts per row."""
    n = len(scores)
    matrix = np.column_stack(
        [
            np.round(scores, 4),
            overall.astype(np.float64),
            np.full(n, float(system_version)),
            *(per_rule[name].astype(np.float64) for name in sorted(per_rule)),
            *(np.round(columns[name], 6) for name in _NUMBERS),
        ]
    )
    matrix[np.isnan(matrix)] = np.nan  # one NaN bit pattern
    width = matrix.shape[1] * 8
    raw = matrix.tobytes()
    texts = [
        "\x1f".join("\x00" if v is None else v for v in row)
        for row in zip(*(columns[name].tolist() for name in _TEXTS), strict=True)
    ]
    blake = hashlib.blake2b
    return [
        blake(raw[k * width : (k + 1) * width] + texts[k].encode(), digest_size=16).hexdigest()
        for k in range(n)
    ]


@asynccontextmanager
async def _exclusive(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[None]:
    """One scan at a time: a session-level advisory lock on PostgreSQL, a lock in process."""
    if _local_lock.locked():
        raise ScanRunning("a portfolio scan is already running")
    async with _local_lock:
        engine = sessions.kw.get("bind")
        if not isinstance(engine, AsyncEngine) or engine.dialect.name != "postgresql":
            yield
            return
        async with engine.connect() as conn:
            got = await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": _SCAN_LOCK_KEY})
            await conn.commit()  # the lock is the connection's; no transaction stays open
            if not got:
                raise ScanRunning("a portfolio scan is already running in another process")
            try:
                yield
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _SCAN_LOCK_KEY})
                await conn.commit()


async def run_scan(
    sessions: async_sessionmaker[AsyncSession],
    *,
    as_of: date,
    full: bool = False,
    trigger: str = "manual",
    chunk_size: int = CHUNK,
    commit_lag: timedelta = COMMIT_LAG,
    progress: Callable[[int], None] | None = None,
) -> ScanReport:
    """Scan the active portfolio; see the module doc. Raises ScanRunning if one is running.

    ``progress`` hears the number of loans scanned so far after every chunk written.
    """
    async with _exclusive(sessions):
        started = time.perf_counter()
        plan, report = await begin_scan(
            sessions, as_of=as_of, full=full, trigger=trigger, commit_lag=commit_lag
        )
        await scan_range(
            sessions, plan, report, after=None, upto=None, chunk=chunk_size, progress=progress
        )
        await finish_scan(
            sessions, plan.scan_id, loans=report.loans_scanned, alerts=report.alerts_raised
        )
        report.seconds = time.perf_counter() - started
    metrics.scan_finished(
        full=plan.full,
        seconds=report.seconds,
        loans=report.loans_scanned,
        alerts=report.alerts_raised,
        levels=report.levels,
    )
    log.info(
        "risk scan finished",
        extra={
            "scan": str(plan.scan_id),
            "full": plan.full,
            "loans": report.loans_scanned,
            "alerts": report.alerts_raised,
            "seconds": round(report.seconds, 3),
        },
    )
    return report


@dataclass(frozen=True)
class ScanPlan:
    """What every range of one scan shares; JSON, so a split scan's chunk jobs carry it."""

    scan_id: uuid.UUID
    as_of: date
    full: bool
    since: datetime | None
    shares: Shares

    def to_json(self) -> dict[str, Any]:
        return {
            "scan_id": str(self.scan_id),
            "as_of": self.as_of.isoformat(),
            "full": self.full,
            "since": self.since.isoformat() if self.since else None,
            "industry": [[str(i), k, v] for (i, k), v in self.shares.industry.items()],
            "region": [[str(i), k, v] for (i, k), v in self.shares.region.items()],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ScanPlan:
        def shares(rows: Sequence[Sequence[Any]]) -> dict[tuple[uuid.UUID, str], float]:
            return {(uuid.UUID(i), k): float(v) for i, k, v in rows}

        return cls(
            scan_id=uuid.UUID(data["scan_id"]),
            as_of=date.fromisoformat(data["as_of"]),
            full=bool(data["full"]),
            since=datetime.fromisoformat(data["since"]) if data["since"] else None,
            shares=Shares(shares(data["industry"]), shares(data["region"])),
        )


async def _rules_and_system(
    session: AsyncSession,
) -> tuple[list[ActiveRule], WarningSystem, int]:
    rules = [ActiveRule.of(row) for row in await queries.current_rules(session)]
    system, system_version = warning_system_of(await queries.current_warning_system(session))
    return rules, system, system_version


async def begin_scan(
    sessions: async_sessionmaker[AsyncSession],
    *,
    as_of: date,
    full: bool,
    trigger: str,
    commit_lag: timedelta = COMMIT_LAG,
) -> tuple[ScanPlan, ScanReport]:
    """Record a scan and decide what it covers (full when the rules or system changed)."""
    begun = utcnow()
    async with sessions() as session, session.begin():
        rules, _, system_version = await _rules_and_system(session)
        previous = await queries.last_finished_scan(session)
        industry, region = await queries.concentrations(session)
        print_ = fingerprint(rules, system_version)
        full = full or previous is None or previous.fingerprint != print_
        scan = RiskScan(
            started_at=begun, as_of=as_of, full=full, fingerprint=print_, trigger=trigger
        )
        session.add(scan)
        await session.flush()
        scan_id = scan.id
    # Rows are stamped when written but seen when committed: a writer's transaction open
    # across the previous scan's start is caught by looking back this far (alerts are
    # deduplicated, so rescanning a loan costs nothing else).
    since = None if full or previous is None else previous.started_at - commit_lag
    plan = ScanPlan(scan_id, as_of, full, since, Shares(industry, region))
    report = ScanReport(
        scan_id=scan_id, as_of=as_of, full=full, rules=len(rules), system_version=system_version
    )
    return plan, report


async def scan_range(
    sessions: async_sessionmaker[AsyncSession],
    plan: ScanPlan,
    report: ScanReport,
    *,
    after: uuid.UUID | None,
    upto: uuid.UUID | None,
    chunk: int = CHUNK,
    progress: Callable[[int], None] | None = None,
) -> ScanReport:
    """Scan the active loans with ids in (after, upto] (None: unbounded), adding to
    ``report`` (``progress`` hears its loans scanned so far after each chunk). Each chunk
    commits on its own; running a range again raises no alert twice (the partial unique
    index) and rewrites no unchanged warning (digests)."""
    async with sessions() as session:
        rules, system, system_version = await _rules_and_system(session)

    async def read(start: uuid.UUID | None) -> queries.ChunkInputs:
        async with sessions() as session:
            return await queries.chunk_inputs(
                session,
                after=start,
                upto=upto,
                limit=chunk,
                as_of=plan.as_of,
                changed_since=plan.since,
            )

    async def write(done: ChunkResult) -> None:
        async with sessions() as session, session.begin():
            await _write_chunk(session, done, report)
        if progress is not None:
            progress(report.loans_scanned)

    # Three stages overlap: the database reads chunk k+1 and writes chunk k-1 while a
    # thread evaluates chunk k (numpy letting go of the interpreter). Writes stay in order.
    reading = asyncio.create_task(read(after))
    writing: asyncio.Task[None] | None = None
    try:
        while len(inputs := await reading):
            reading = asyncio.create_task(read(inputs.ids[-1]))
            done = await asyncio.to_thread(
                evaluate_chunk, inputs, rules, system, system_version, plan.shares, utcnow()
            )
            if writing is not None:
                await writing
            writing = asyncio.create_task(write(done))
        if writing is not None:
            await writing
    finally:
        for task in (reading, writing):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
    return report


async def finish_scan(
    sessions: async_sessionmaker[AsyncSession], scan_id: uuid.UUID, *, loans: int, alerts: int
) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            update(RiskScan)
            .where(RiskScan.id == scan_id)
            .values(finished_at=utcnow(), loans_scanned=loans, alerts_raised=alerts)
        )


async def close_scan(session: AsyncSession, scan_id: uuid.UUID) -> RiskScan:
    """A split scan's last range done: the scan is finished (the next one's watermark)."""
    await session.execute(
        update(RiskScan).where(RiskScan.id == scan_id).values(finished_at=utcnow())
    )
    row = await session.get(RiskScan, scan_id, populate_existing=True)
    assert row is not None
    return row


def raised_note(scan_id: uuid.UUID) -> str:
    """The raise action's note: which scan raised the alert, read back by ``raised_in``."""
    return f"raised by scan {scan_id}"


async def raised_in(
    session: AsyncSession, scan_id: uuid.UUID, *, after: uuid.UUID | None, upto: uuid.UUID | None
) -> int:
    """Alerts the scan raised on loans in (after, upto]: what a range raised over all its
    attempts, where a retried attempt's own count misses what the failed one wrote."""
    stmt = (
        select(func.count())
        .select_from(RiskAlertAction)
        .join(RiskAlert, RiskAlert.id == RiskAlertAction.alert_id)
        .where(
            RiskAlertAction.kind == AlertActionKind.RAISE,
            RiskAlertAction.note == raised_note(scan_id),
        )
    )
    if after is not None:
        stmt = stmt.where(RiskAlert.loan_id > after)
    if upto is not None:
        stmt = stmt.where(RiskAlert.loan_id <= upto)
    return int(await session.scalar(stmt) or 0)


async def add_to_scan(
    session: AsyncSession, scan_id: uuid.UUID, *, loans: int, alerts: int
) -> None:
    """A split scan's range counted on its scan row, in the caller's transaction."""
    await session.execute(
        update(RiskScan)
        .where(RiskScan.id == scan_id)
        .values(
            loans_scanned=RiskScan.loans_scanned + loans,
            alerts_raised=RiskScan.alerts_raised + alerts,
        )
    )


@dataclass
class ChunkResult:
    """What a chunk's evaluation leaves to write: first and changed warnings, new alerts."""

    loans: int
    at: datetime
    levels: Counter[str]
    first_warnings: list[dict[str, Any]]  # loans with no warning stored yet
    changed_warnings: list[dict[str, Any]]
    alerts: list[dict[str, Any]]


def evaluate_chunk(
    inputs: queries.ChunkInputs,
    rules: Sequence[ActiveRule],
    system: WarningSystem,
    system_version: int,
    shares: Shares,
    now: datetime,
) -> ChunkResult:
    """A chunk's indicators, warning scores and firing rules; pure, so a thread runs it.

    Only warnings whose digest changed are kept, and only alerts for a (loan, rule) with
    no unresolved alert already (the partial unique index still decides on insert)."""
    n = len(inputs)
    c = inputs.columns
    columns = chunk_columns(inputs, shares=shares)
    scores, overall, per_rule = score_chunk(system, columns, n)
    digests = _digests(columns, scores, overall, per_rule, system_version)
    level_names = [_LEVEL_NAMES[v] for v in overall.tolist()]
    ids, institutions, stored = c["id"], c["institution_id"], c["digest"]
    rewrite = [k for k in range(n) if stored[k] != digests[k]]
    open_rules = {k: set(codes.split(" ")) for k, codes in enumerate(c["open_rules"]) if codes}
    owners = np.array(institutions, dtype=object)
    to_raise: list[tuple[ActiveRule, int]] = []
    for rule in rules:
        fires = rule.columns.fires(columns, n)
        if rule.institution_id is not None:
            fires &= owners == rule.institution_id
        to_raise += [
            (rule, k)
            for k in np.flatnonzero(fires).tolist()
            if rule.code not in open_rules.get(k, ())
        ]
    first: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    if not rewrite and not to_raise:  # a quiet chunk, as most are once the book is scanned
        return ChunkResult(n, now, Counter(level_names), first, changed, alerts)
    shown = _Shown.of(columns)
    rule_levels = {name: [_LEVEL_NAMES[v] for v in arr.tolist()] for name, arr in per_rule.items()}
    score_values = np.round(scores, 4).tolist()
    for k in rewrite:
        (first if stored[k] is None else changed).append(
            {
                "loan_id": ids[k],
                "institution_id": institutions[k],
                "score": score_values[k],
                "level": level_names[k],
                "levels": {name: names[k] for name, names in rule_levels.items()},
                "indicators": shown.row(k),
                "system_version": system_version,
                "digest": digests[k],
                "scanned_at": now,
            }
        )
    for rule, k in to_raise:
        fired = {name: shown.value(name, k) for name in sorted(rule.compiled.indicators)}
        alerts.append(_alert_row(rule, c, k, fired, now))
    return ChunkResult(n, now, Counter(level_names), first, changed, alerts)


async def _write_chunk(session: AsyncSession, done: ChunkResult, report: ScanReport) -> None:
    # Only scans write warnings, one at a time: a loan with none stored when the chunk
    # was read has none now, and its first is a plain (COPY) insert.
    await bulk.insert_rows(session, LoanWarning, done.first_warnings)
    await queries.upsert_warnings(session, done.changed_warnings)
    report.warnings_written += len(done.first_warnings) + len(done.changed_warnings)
    report.loans_scanned += done.loans
    for level, count in done.levels.items():
        report.levels[level] += count
    raised = await queries.insert_alerts(session, done.alerts)
    if raised:
        now = done.at
        await bulk.insert_rows(
            session,
            RiskAlertAction,
            [
                {
                    "id": new_id(),
                    "alert_id": alert_id,
                    "kind": AlertActionKind.RAISE,
                    "to_status": AlertStatus.OPEN,
                    "note": raised_note(report.scan_id),
                    "at": now,
                }
                for alert_id in raised
            ],
        )
        owner = {row["id"]: row["institution_id"] for row in done.alerts}
        await audit.record_many(
            session,
            action="risk_alert.raise",
            entity_type="RiskAlert",
            entries=((alert_id, {"scan": str(report.scan_id)}) for alert_id in raised),
            at=now,
        )
        await announce(session, ((alert_id, owner[alert_id]) for alert_id in raised))
    report.alerts_raised += len(raised)
    report.alert_ids.extend(raised[: max(0, 1000 - len(report.alert_ids))])


def _alert_row(
    rule: ActiveRule,
    inputs: Mapping[str, Sequence[Any]],
    k: int,
    fired: Mapping[str, object],
    now: datetime,
) -> dict[str, Any]:
    shown = ", ".join(f"{name} = {_show(value)}" for name, value in fired.items())
    return {
        "id": new_id(),
        "institution_id": inputs["institution_id"][k],
        "loan_id": inputs["id"][k],
        "enterprise_id": inputs["enterprise_id"][k],
        "rule_code": rule.code,
        "rule_version": rule.version,
        "severity": rule.severity,
        "status": AlertStatus.OPEN,
        "title": rule.name[:200],
        "detail": f"{rule.compiled.text} ({shown})",
        "action": rule.action,
        "indicators": dict(fired),
        "opened_at": now,
        "due_at": now + SLA[rule.severity],
        "escalations": 0,
        "version": 1,
    }


def _show(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "unknown" if value is None else str(value)
