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
    # Nullable: the default policy withholds these from applicants, and a withheld
    # non-null field would take its whole parent down with it.
    probability_of_default: float | None = strawberry.field(
        description="Probability of default within 12 months; staff only."
    )
    score: int | None = strawberry.field(description="Scorecard points; staff only.")
    grade: str = strawberry.field(description="Rating grade, AAA (best) to C.")
    reasons: list[ScoreReason]
    model_version: str | None = strawberry.field(description="The scoring model; staff only.")
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
