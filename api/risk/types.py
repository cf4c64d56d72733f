import uuid
from datetime import datetime
from typing import Self

import strawberry
from strawberry import relay

from api.access import classified
from domain.risk.models import RiskAssessment as RiskAssessmentRow


@classified(public=["feature", "text", "impact"])
@strawberry.type(description="One factor behind a score, strongest first.")
class ScoreReason:
    feature: str
    text: str = strawberry.field(description="The factor in plain language.")
    impact: float = strawberry.field(description="How much it raised the risk (log-odds).")


@classified(
    public=["id", "grade", "reasons", "assessed_at"],
    internal=["probability_of_default", "score", "model_version"],
)
@strawberry.type(description="A credit risk assessment of an application.")
class RiskAssessment(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    probability_of_default: float
    score: int = strawberry.field(description="Scorecard points.")
    grade: str = strawberry.field(description="Rating grade, AAA (best) to C.")
    reasons: list[ScoreReason]
    model_version: str
    assessed_at: datetime

    @classmethod
    def from_row(cls, row: RiskAssessmentRow) -> Self:
        return cls(
            pk=row.id,
            probability_of_default=row.probability_of_default,
            score=row.score,
            grade=row.grade,
            reasons=[
                ScoreReason(feature=r["feature"], text=r["text"], impact=float(r["impact"]))
                for r in row.reasons
            ],
            model_version=row.model_version,
            assessed_at=row.assessed_at,
        )
