"""The portfolio scan: every active loan's indicators, rules and warning score, in chunks.

A scan walks the active loans by id in chunks (keyset, never OFFSET). For each chunk it
reads the indicator inputs in a handful of set-wise statements (``domain/risk/queries.py``),
evaluates the rules compiled once for the whole scan, scores the chunk's warning
indicators with numpy, and writes the changed warning scores and the new alerts in bulk,
in one transaction per chunk: a crash loses at most the chunk in hand, and a rerun picks
up where the data stands.

Incremental by default: only loans whose row, borrower's assessments or borrower's
statements changed since the previous scan started. When the rules or the warning system
changed since then, or there is no previous scan, the scan is full.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import insert, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.audit import service as audit
from domain.base import new_id, utcnow
from domain.errors import DomainError
from domain.risk import queries
from domain.risk.catalogue import CATALOGUE, default_warning_system
from domain.risk.feed import announce
from domain.risk.indicators import IndicatorRule, Level, WarningSystem
from domain.risk.models import (
    AlertActionKind,
    AlertSeverity,
    AlertStatus,
    RiskAlertAction,
    RiskRule,
    RiskScan,
    WarningSystemVersion,
)
from domain.risk.rules import CompiledRule, Values, compile_rule
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

    @classmethod
    def of(cls, row: RiskRule) -> ActiveRule:
        return cls(
            row_id=row.id,
            code=row.code,
            version=row.version,
            name=row.name,
            institution_id=row.institution_id,
            severity=row.severity,
            action=row.action,
            compiled=compile_rule(row.expression, CATALOGUE),
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


def _ratio(num: Decimal, den: Decimal, *, when_zero: float | None = None) -> float | None:
    """num / den; when den <= 0, ``when_zero`` if num > 0, else unknown."""
    if den > 0:
        return min(float(num / den), RATIO_CAP)
    return when_zero if num > 0 else None


def _day_start(day: date) -> datetime:
    return datetime.combine(day, dtime.min, tzinfo=UTC)


@dataclass(frozen=True)
class Shares:
    industry: Mapping[tuple[uuid.UUID, str], float]
    region: Mapping[tuple[uuid.UUID, str], float]


async def chunk_values(
    session: AsyncSession, loans: Sequence[queries.LoanFacts], *, as_of: date, shares: Shares
) -> list[dict[str, object]]:
    """Every catalogue indicator of each loan, in three statements for the whole chunk
    (loans in id order, as ``queries.loan_chunk`` gives them)."""
    enterprises = {loan.enterprise_id for loan in loans}
    end = _day_start(as_of + timedelta(days=1))
    now, d30, d90 = await queries.assessments_in_force(
        session,
        enterprise_ids=enterprises,
        cutoffs=(end, end - timedelta(days=30), end - timedelta(days=90)),
    )
    statements = await queries.latest_statements(
        session, enterprise_ids=enterprises, through_year=as_of.year
    )
    dues = await queries.dues_within(
        session,
        first=loans[0].id,
        last=loans[-1].id,
        start=as_of,
        end=as_of + timedelta(days=365),
    )
    out: list[dict[str, object]] = []
    for loan in loans:
        current = now.get(loan.enterprise_id)
        past30 = d30.get(loan.enterprise_id)
        past90 = d90.get(loan.enterprise_id)
        filed = statements.get(loan.enterprise_id, [])
        latest = filed[0] if filed else None
        values: dict[str, object] = {
            "days_past_due": loan.days_past_due,
            "delinquency_bucket": loan.delinquency_bucket,
            "outstanding": float(loan.outstanding),
            "industry": loan.industry,
            "region": loan.region,
            "product_type": loan.product_type,
            "industry_share": shares.industry.get((loan.institution_id, loan.industry)),
            "region_share": shares.region.get((loan.institution_id, loan.region)),
            "pd": current[0] if current else None,
            "grade": current[1] if current else None,
            "pd_change_30d": current[0] - past30[0] if current and past30 else None,
            "pd_change_90d": current[0] - past90[0] if current and past90 else None,
            "grade_downgrade_90d": (
                _GRADES[current[1]] - _GRADES[past90[1]]
                if current and past90 and current[1] in _GRADES and past90[1] in _GRADES
                else None
            ),
            "debt_to_asset": None,
            "current_ratio": None,
            "interest_coverage": None,
            "revenue_change": None,
            "repayment_to_revenue": None,
        }
        if latest is not None:
            values["debt_to_asset"] = _ratio(
                latest.total_liabilities, latest.total_assets, when_zero=RATIO_CAP
            )
            values["current_ratio"] = _ratio(
                latest.current_assets, latest.current_liabilities, when_zero=RATIO_CAP
            )
            values["interest_coverage"] = _ratio(
                latest.operating_profit, latest.interest_expense, when_zero=RATIO_CAP
            )
            values["repayment_to_revenue"] = _ratio(
                dues.get(loan.id, Decimal(0)), latest.revenue, when_zero=RATIO_CAP
            )
            # Growth is year on year: a gap in the filings leaves it unknown.
            if len(filed) > 1 and filed[1].fiscal_year == latest.fiscal_year - 1:
                growth = _ratio(latest.revenue, filed[1].revenue)
                values["revenue_change"] = None if growth is None else growth - 1.0
        out.append(values)
    return out


def score_chunk(
    system: WarningSystem, chunk: Sequence[Values]
) -> tuple[np.ndarray, list[Level], list[dict[str, str]]]:
    """``system.assess`` for a whole chunk at once: the same levels, scores and cut points."""
    n = len(chunk)
    total = np.zeros(n)
    per_rule: dict[str, np.ndarray] = {}
    for rule in system.rules:
        raw = np.array(
            [_as_float(values.get(rule.name)) for values in chunk], dtype=np.float64
        ).reshape(n)
        signed = raw * rule.direction
        yellow, orange, red = (t * rule.direction for t in rule.thresholds)
        level = np.where(
            signed >= red, 3, np.where(signed >= orange, 2, np.where(signed >= yellow, 1, 0))
        )
        level = np.where(np.isnan(raw), 0, level)  # unknown counts green
        per_rule[rule.name] = level
        total += system.weights[rule.name] * level / 3 * 100
    # Rounded so a sum that lands on a cut point lands there as exactly as math.fsum does.
    scores = np.clip(np.round(total, 9), 0.0, 100.0)
    y, o, r = system.cut_points
    overall = [
        Level.RED if s >= r else Level.ORANGE if s >= o else Level.YELLOW if s >= y else Level.GREEN
        for s in scores
    ]
    names = {int(lv): lv.name.lower() for lv in Level}
    levels = [{name: names[int(arr[k])] for name, arr in per_rule.items()} for k in range(n)]
    return scores, overall, levels


def _as_float(value: object) -> float:
    if value is None or isinstance(value, str | bool):
        return math.nan
    return float(value)  # type: ignore[arg-type]


def fingerprint(rules: Sequence[ActiveRule], system_version: int) -> str:
    keys = sorted(f"{r.row_id}" for r in rules)
    return hashlib.sha256("|".join([*keys, f"system:{system_version}"]).encode()).hexdigest()


def _json_safe(values: Mapping[str, object]) -> dict[str, object]:
    return {
        k: (round(v, 6) if isinstance(v, float) else v)
        for k, v in values.items()
        if not (isinstance(v, float) and math.isnan(v))
    }


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
) -> ScanReport:
    """Scan the active portfolio; see the module doc. Raises ScanRunning if one is running."""
    async with _exclusive(sessions):
        return await _scan(
            sessions, as_of=as_of, full=full, trigger=trigger, chunk=chunk_size, lag=commit_lag
        )


async def _scan(
    sessions: async_sessionmaker[AsyncSession],
    *,
    as_of: date,
    full: bool,
    trigger: str,
    chunk: int,
    lag: timedelta,
) -> ScanReport:
    started = time.perf_counter()
    begun = utcnow()
    async with sessions() as session, session.begin():
        rules = [ActiveRule.of(row) for row in await queries.current_rules(session)]
        system, system_version = warning_system_of(await queries.current_warning_system(session))
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
    since = None if full or previous is None else previous.started_at - lag
    shares = Shares(industry, region)
    report = ScanReport(
        scan_id=scan_id, as_of=as_of, full=full, rules=len(rules), system_version=system_version
    )
    after: uuid.UUID | None = None
    while True:
        async with sessions() as session, session.begin():
            loans = await queries.loan_chunk(session, after=after, limit=chunk, changed_since=since)
            if not loans:
                break
            after = loans[-1].id
            await _scan_chunk(session, loans, rules, system, system_version, shares, report)
    async with sessions() as session, session.begin():
        await session.execute(
            update(RiskScan)
            .where(RiskScan.id == scan_id)
            .values(
                finished_at=utcnow(),
                loans_scanned=report.loans_scanned,
                alerts_raised=report.alerts_raised,
            )
        )
    report.seconds = time.perf_counter() - started
    log.info(
        "risk scan finished",
        extra={
            "scan": str(scan_id),
            "full": full,
            "loans": report.loans_scanned,
            "alerts": report.alerts_raised,
            "seconds": round(report.seconds, 3),
        },
    )
    return report


async def _scan_chunk(
    session: AsyncSession,
    loans: Sequence[queries.LoanFacts],
    rules: Sequence[ActiveRule],
    system: WarningSystem,
    system_version: int,
    shares: Shares,
    report: ScanReport,
) -> None:
    ids = [loan.id for loan in loans]
    values = await chunk_values(session, loans, as_of=report.as_of, shares=shares)
    scores, overall, levels = score_chunk(system, values)
    before = await queries.previous_digests(session, loan_ids=ids)
    now = utcnow()
    warnings: list[dict[str, Any]] = []
    for k, loan in enumerate(loans):
        score = round(float(scores[k]), 4)
        level = overall[k].name.lower()
        report.levels[level] += 1
        shown = _json_safe(values[k])
        digest = hashlib.blake2b(
            repr(
                (score, level, system_version, sorted(levels[k].items()), sorted(shown.items()))
            ).encode(),
            digest_size=16,
        ).hexdigest()
        if before.get(loan.id) == digest:
            continue
        warnings.append(
            {
                "loan_id": loan.id,
                "institution_id": loan.institution_id,
                "score": score,
                "level": level,
                "levels": levels[k],
                "indicators": shown,
                "system_version": system_version,
                "digest": digest,
                "scanned_at": now,
            }
        )
    await queries.upsert_warnings(session, warnings)
    report.warnings_written += len(warnings)
    report.loans_scanned += len(loans)

    open_keys = await queries.open_alert_keys(session, loan_ids=ids) if rules else set()
    alerts: list[dict[str, Any]] = []
    for rule in rules:
        evaluate = rule.compiled.evaluate
        for k, loan in enumerate(loans):
            if rule.institution_id is not None and rule.institution_id != loan.institution_id:
                continue
            if (loan.id, rule.code) in open_keys or not evaluate(values[k]):
                continue
            alerts.append(_alert_row(rule, loan, values[k], now))
    raised = await queries.insert_alerts(session, alerts)
    if raised:
        await session.execute(
            insert(RiskAlertAction),
            [
                {
                    "id": new_id(),
                    "alert_id": alert_id,
                    "kind": AlertActionKind.RAISE,
                    "to_status": AlertStatus.OPEN,
                    "note": f"raised by scan {report.scan_id}",
                    "at": now,
                }
                for alert_id in raised
            ],
        )
        owner = {row["id"]: row["institution_id"] for row in alerts}
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
    rule: ActiveRule, loan: queries.LoanFacts, values: Values, now: datetime
) -> dict[str, Any]:
    fired = {name: values.get(name) for name in sorted(rule.compiled.indicators)}
    shown = ", ".join(f"{name} = {_show(value)}" for name, value in fired.items())
    return {
        "id": new_id(),
        "institution_id": loan.institution_id,
        "loan_id": loan.id,
        "enterprise_id": loan.enterprise_id,
        "rule_code": rule.code,
        "rule_version": rule.version,
        "severity": rule.severity,
        "status": AlertStatus.OPEN,
        "title": rule.name[:200],
        "detail": f"{rule.compiled.text} ({shown})",
        "action": rule.action,
        "indicators": _json_safe(fired),
        "opened_at": now,
        "due_at": now + SLA[rule.severity],
        "escalations": 0,
        "version": 1,
    }


def _show(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "unknown" if value is None else str(value)
