"""Early-warning configuration: versioned rules, their dry run, and the warning system.

Platform rules (no institution) run on every lender's loans and are kept by platform risk
officers; an institution's risk officers keep rules that run on that institution's loans
only. Saving a rule never edits a row: it adds a version and marks it current, so every
alert names the exact rule text that raised it.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.identity.models import Role
from domain.identity.viewer import Viewer
from domain.risk import queries
from domain.risk.catalogue import CATALOGUE
from domain.risk.indicators import (
    CONSISTENCY_THRESHOLD,
    IndicatorRule,
    WarningSystem,
    ahp_weights,
)
from domain.risk.models import AlertSeverity, DisposalAction, RiskRule, WarningSystemVersion
from domain.risk.rules import IndicatorType, compile_rule
from domain.risk.scan import CHUNK, Shares, chunk_columns
from domain.risk.vector import vectorise
from kernel.errors import Conflict, Forbidden, InvalidInput, NotFound

_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{1,63}$")
RULE_KEEPERS = frozenset({Role.RISK_OFFICER, Role.INSTITUTION_ADMIN})
DRY_RUN_SAMPLE = 20


class InconsistentComparisons(InvalidInput):
    code = "INCONSISTENT_COMPARISONS"

    def __init__(self, ratio: float, offending: Sequence[tuple[str, str, float, float]]) -> None:
        named = "; ".join(
            f"{row} vs {col}: given {given:.3g}, the weights imply {implied:.3g}"
            for row, col, given, implied in offending
        )
        super().__init__(
            f"the comparisons are inconsistent (consistency ratio {ratio:.3f}, must be under "
            f"{CONSISTENCY_THRESHOLD}); revisit {named}",
            field="comparisons",
        )
        self.ratio = ratio
        self.offending = list(offending)


@dataclass(frozen=True)
class RuleDraft:
    code: str
    name: str
    expression: str
    severity: AlertSeverity
    action: DisposalAction
    enabled: bool = True
    institution_id: uuid.UUID | None = None


async def _flush_or_conflict(session: AsyncSession, message: str) -> None:
    """Two saves racing for the same next version: the loser is told, not failed."""
    try:
        await session.flush()
    except IntegrityError:
        raise Conflict(message) from None


def _may_keep(viewer: Viewer, institution_id: uuid.UUID | None) -> None:
    if institution_id is None:
        if not viewer.sees_all_tenants:
            raise Forbidden("platform rules are kept by platform risk officers")
        return
    if viewer.sees_all_tenants:
        return
    if not viewer.institution_roles.get(institution_id, frozenset()) & RULE_KEEPERS:
        raise Forbidden("an institution's rules are kept by its own risk officers")


async def upsert_rule(
    session: AsyncSession, viewer: Viewer, draft: RuleDraft, *, request_id: str | None = None
) -> RiskRule:
    """Save a rule as its next version; saving what is already current changes nothing."""
    if not _CODE.match(draft.code):
        raise InvalidInput(
            "a rule code starts with a letter and has 2-64 letters, digits, '_', '.' or '-'",
            field="code",
        )
    name = draft.name.strip()
    if not 3 <= len(name) <= 200:
        raise InvalidInput("a rule's name has 3 to 200 characters", field="name")
    _may_keep(viewer, draft.institution_id)
    compiled = compile_rule(draft.expression, CATALOGUE)  # RuleError: INVALID_RULE, positioned
    # Each owner names its rules in a namespace of its own, except that a platform rule
    # and an institution's rule run on the same loans, and an alert names its rule by
    # code: there, one code may not stand for two rules. Platform rules are seen by
    # every institution's staff, so saying which is taken tells nobody anything new.
    owner = draft.institution_id
    await queries.lock_rule_code(session, draft.code)
    if await queries.code_across_the_platform(session, code=draft.code, institution_id=owner):
        taken_by = "a platform rule" if owner is not None else "an institution's rule"
        raise InvalidInput(f"rule code {draft.code!r} is taken by {taken_by}", field="code")
    versions = await queries.rule_versions(session, code=draft.code, institution_id=owner)
    latest = versions[0] if versions else None
    if latest is not None and (
        latest.current
        and latest.name == name
        and latest.expression == compiled.text
        and latest.severity == draft.severity
        and latest.action == draft.action
        and latest.enabled == draft.enabled
    ):
        return latest
    await queries.retire_rule_versions(session, code=draft.code, institution_id=owner)
    row = RiskRule(
        code=draft.code,
        version=(latest.version + 1) if latest else 1,
        institution_id=owner,
        name=name,
        expression=compiled.text,
        indicators=sorted(compiled.indicators),
        severity=draft.severity,
        action=draft.action,
        enabled=draft.enabled,
        current=True,
        author_id=viewer.user_id,
    )
    session.add(row)
    await _flush_or_conflict(session, f"rule {draft.code!r} was saved by someone else just now")
    audit.record(
        session,
        action="risk_rule.saved",
        entity_type="RiskRule",
        entity_id=row.id,
        actor_id=viewer.user_id,
        request_id=request_id,
        code=row.code,
        version=row.version,
        expression=row.expression,
        enabled=row.enabled,
    )
    return row


async def visible_rules(session: AsyncSession, viewer: Viewer) -> list[RiskRule]:
    """The current version of every rule that runs on the viewer's loans."""
    return list(await queries.current_rules(session, enabled_only=False, viewer=viewer))


@dataclass(frozen=True)
class DryRun:
    expression: str
    loans_scanned: int
    matched: int
    unknown: int  # loans where missing values left the rule undecided
    sample: list[uuid.UUID]  # the first matched loans, by id
    seconds: float


async def dry_run(
    session: AsyncSession,
    viewer: Viewer,
    expression: str,
    *,
    as_of: date,
    institution_id: uuid.UUID | None = None,
) -> DryRun:
    """How many of the viewer's active loans a rule would fire on now; writes nothing."""
    started = time.perf_counter()
    compiled = compile_rule(expression, CATALOGUE)
    scope: frozenset[uuid.UUID] | None
    if viewer.sees_all_tenants:
        scope = None if institution_id is None else frozenset({institution_id})
    else:
        scope = frozenset(
            i for i, roles in viewer.institution_roles.items() if roles & RULE_KEEPERS
        )
        if institution_id is not None:
            if institution_id not in viewer.institution_ids:
                raise NotFound("no such institution among yours")
            scope &= frozenset({institution_id})
        if not scope:
            raise Forbidden("a dry run is for risk officers, of an institution or the platform")
    industry, region = await queries.concentrations(session)
    shares = Shares(industry, region)
    rule = vectorise(compiled, CATALOGUE)
    matched = unknown = scanned = 0
    sample: list[uuid.UUID] = []
    after: uuid.UUID | None = None
    while True:
        inputs = await queries.chunk_inputs(
            session, after=after, limit=CHUNK, as_of=as_of, institution_ids=scope
        )
        n = len(inputs)
        if not n:
            break
        after = inputs.ids[-1]
        fires, fails = rule.outcome(chunk_columns(inputs, shares=shares), n)
        matched += int(fires.sum())
        unknown += n - int(fires.sum()) - int(fails.sum())
        room = DRY_RUN_SAMPLE - len(sample)
        sample.extend(inputs.ids[k] for k in np.flatnonzero(fires)[:room].tolist())
        scanned += n
    return DryRun(compiled.text, scanned, matched, unknown, sample, time.perf_counter() - started)


# ------------------------------------------------------------------------ warning system


@dataclass(frozen=True)
class IndicatorSetting:
    name: str
    direction: int
    thresholds: tuple[float, float, float]


def _indicator_rules(settings: Sequence[IndicatorSetting]) -> list[IndicatorRule]:
    rules = []
    for n, s in enumerate(settings):
        kind = CATALOGUE.get(s.name)
        if kind is None:
            raise InvalidInput(f"unknown indicator {s.name!r}", field=f"indicators.{n}.name")
        if kind is not IndicatorType.NUMBER:
            raise InvalidInput(
                f"indicator {s.name!r} is not a number and cannot be weighed",
                field=f"indicators.{n}.name",
            )
        rules.append(IndicatorRule(s.name, s.direction, s.thresholds))
    return rules


async def set_warning_system(
    session: AsyncSession,
    viewer: Viewer,
    *,
    indicators: Sequence[IndicatorSetting],
    weights: dict[str, float] | None = None,
    comparisons: Sequence[Sequence[float]] | None = None,
    cut_points: tuple[float, float, float] = (25.0, 50.0, 75.0),
    request_id: str | None = None,
) -> WarningSystemVersion:
    """A new version of the warning system, weighted directly or by AHP comparisons."""
    if not viewer.sees_all_tenants:
        raise Forbidden("the warning indicator system is kept by platform risk officers")
    if (weights is None) == (comparisons is None):
        raise InvalidInput(
            "give either weights or a pairwise comparison matrix, not both", field="comparisons"
        )
    rules = _indicator_rules(indicators)
    ratio: float | None = None
    if comparisons is not None:
        result = ahp_weights([r.name for r in rules], comparisons)
        if not result.consistent:
            raise InconsistentComparisons(result.consistency_ratio, result.offending)
        weights, ratio = dict(result.weights), result.consistency_ratio
    assert weights is not None
    system = WarningSystem(rules, weights, cut_points)  # validates names, weights, cut points
    version = await queries.retire_warning_systems(session) + 1
    row = WarningSystemVersion(
        version=version,
        indicators=[
            {"name": r.name, "direction": r.direction, "thresholds": list(r.thresholds)}
            for r in system.rules
        ],
        weights=system.weights,
        comparisons=[list(map(float, r)) for r in comparisons] if comparisons else None,
        consistency_ratio=ratio,
        cut_points=list(system.cut_points),
        current=True,
        author_id=viewer.user_id,
    )
    session.add(row)
    await _flush_or_conflict(session, "the warning system was changed by someone else just now")
    audit.record(
        session,
        action="warning_system.saved",
        entity_type="WarningSystem",
        entity_id=row.id,
        actor_id=viewer.user_id,
        request_id=request_id,
        version=version,
        weights=system.weights,
        consistency_ratio=ratio,
    )
    return row
