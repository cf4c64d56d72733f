"""Is the champion model still looking at the population it learnt from?"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.risk import registry
from domain.risk.models import (
    AlertSeverity,
    AlertStatus,
    DisposalAction,
    RiskAlert,
    RiskAssessment,
)
from domain.risk.scan import SLA
from kernel.base import utcnow
from kernel.errors import InvalidInput
from scoring import drift
from scoring.models import ModelStatus

DRIFT_RULE = "model_drift"


@dataclass(frozen=True, slots=True)
class Drift:
    version: str
    assessments: int
    indices: dict[str, float]  # "score" and each feature -> PSI
    alert_raised: bool

    @property
    def unstable(self) -> list[str]:
        return [name for name, value in self.indices.items() if drift.verdict(value) == "unstable"]


async def model_drift(session: AsyncSession, *, days: int = 90, raise_alert: bool = True) -> Drift:
    """PSI of the score and of every feature: training sample against the last ``days``
    of the champion's assessments. Raises one open platform alert while it is unstable."""
    champion = next(
        (r for r in await registry.in_service(session) if r.status is ModelStatus.CHAMPION), None
    )
    if champion is None:
        raise InvalidInput("no champion model: train one and promote it")
    reference = champion.metrics.get("reference")
    if not reference:
        raise InvalidInput(f"{champion.version} was registered without a reference sample")
    since = utcnow() - timedelta(days=days)
    recent = (
        await session.execute(
            select(RiskAssessment.features, RiskAssessment.score).where(
                RiskAssessment.model_version == champion.version,
                RiskAssessment.shadow.is_(False),
                RiskAssessment.assessed_at >= since,
            )
        )
    ).all()
    indices = {"score": drift.psi(reference["score"], [float(score) for _, score in recent])}
    for name, ref in reference["features"].items():
        indices[name] = drift.psi(ref, [(features or {}).get(name) for features, _ in recent])
    found = Drift(
        version=champion.version, assessments=len(recent), indices=indices, alert_raised=False
    )
    if not (raise_alert and recent and found.unstable):
        return found
    open_alert = await session.scalar(
        select(RiskAlert.id).where(
            RiskAlert.rule_code == DRIFT_RULE,
            RiskAlert.institution_id.is_(None),
            RiskAlert.status != AlertStatus.RESOLVED,
        )
    )
    if open_alert is None:
        worst = ", ".join(f"{n} {indices[n]:.2f}" for n in found.unstable)
        session.add(
            RiskAlert(
                institution_id=None,
                enterprise_id=None,
                loan_id=None,
                rule_code=DRIFT_RULE,
                severity=AlertSeverity.HIGH,
                status=AlertStatus.OPEN,
                title=f"Scoring model {champion.version} sees a shifted population",
                detail=f"Population stability over the last {days} days above 0.25: {worst}. "
                "Re-validate the model before relying on its grades.",
                action=DisposalAction.MONITOR,
                due_at=utcnow() + SLA[AlertSeverity.HIGH],
            )
        )
        await session.flush()
        return Drift(
            version=found.version,
            assessments=found.assessments,
            indices=indices,
            alert_raised=True,
        )
    return found
