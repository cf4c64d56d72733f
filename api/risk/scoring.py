import uuid
from datetime import datetime
from typing import Annotated, Any, Self, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from api.access import classified, mutation
from api.context import Context
from api.identity.types import InvalidInputError
from api.outcomes import perform, pk_of
from api.risk.types import RiskAssessment
from domain.risk import assessment, registry
from domain.risk.models import RiskAssessment as RiskAssessmentRow
from scoring.calibration import Calibrator
from scoring.features import EXTERNAL_FEATURES, PLATFORM_FEATURES
from scoring.models import ModelStatus
from scoring.models import ScoringModelRecord as ModelRow

ModelStatusGQL = strawberry.enum(ModelStatus, name="ModelStatus")
ModelCalibratorGQL = strawberry.enum(
    Calibrator,
    name="ModelCalibrator",
    description="How a model turns its log-odds into a PD, as chosen on inner folds: "
    "PLATT (a sigmoid) or ISOTONIC (an isotonic regression map).",
)


@classified(internal=["name", "kind", "monotone", "label"])
@strawberry.type(description="One input of a scoring model.")
class ModelFeature:
    name: str
    kind: str
    monotone: int = strawberry.field(
        description="+1: the PD may only rise with it; -1: only fall; 0: free."
    )
    label: str


@classified(
    public=["id"],
    internal=[
        "version",
        "status",
        "source",
        "created_at",
        "promoted_at",
        "retired_at",
        "data_fingerprint",
        "artifact_sha256",
        "features",
        "params",
        "metrics",
        "calibrator",
    ],
)
@strawberry.type(description="A registered credit scoring model and its validation report.")
class ScoringModel(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    version: str
    status: ModelStatus
    source: str = strawberry.field(description="What it was trained on.")
    created_at: datetime
    promoted_at: datetime | None
    retired_at: datetime | None
    data_fingerprint: str = strawberry.field(description="SHA-256 of the training data.")
    artifact_sha256: str
    features: list[ModelFeature]
    params: JSON
    calibrator: Calibrator = strawberry.field(
        description="The calibrator training chose by cross-fitted log loss on inner folds; "
        "with ISOTONIC a reason's impact is its part in the log-odds before the map, "
        "scaled per application so the parts add up to the calibrated log-odds."
    )
    metrics: JSON = strawberry.field(
        description="Validation: AUC (cross-validated mean and spread), KS, Brier, "
        "calibration error, and the logistic baseline on the same folds."
    )

    @classmethod
    def from_row(cls, row: ModelRow) -> Self:
        return cls(
            pk=row.id,
            version=row.version,
            status=row.status,
            source=row.source,
            created_at=row.created_at,
            promoted_at=row.promoted_at,
            retired_at=row.retired_at,
            data_fingerprint=row.data_fingerprint,
            artifact_sha256=row.artifact_sha256,
            features=[ModelFeature(**f) for f in row.features],
            params=cast(JSON, row.params),
            calibrator=row.calibrator,
            metrics=cast(JSON, row.metrics),
        )


@classified(internal=["scoring_models"])
@strawberry.type
class ScoringQueries:
    @strawberry.field(description="Every registered model, newest first.")
    async def scoring_models(self, info: strawberry.Info[Context, None]) -> list[ScoringModel]:
        async with info.context.sessions() as session:
            rows = await registry.listing(session)
        return [ScoringModel.from_row(r) for r in rows]


@strawberry.input
class PromoteScoringModelInput:
    version: str
    keep_previous_as_challenger: bool = strawberry.field(
        default=True, description="The replaced champion keeps scoring, in shadow."
    )


@strawberry.input
class AssessApplicationInput:
    application_id: strawberry.ID


PromoteScoringModelResult = Annotated[
    ScoringModel | InvalidInputError, strawberry.union("PromoteScoringModelResult")
]
AssessApplicationResult = Annotated[
    RiskAssessment | InvalidInputError, strawberry.union("AssessApplicationResult")
]


@strawberry.type
class ScoringMutations:
    @mutation(
        "promoteScoringModel",
        description="Make a registered model the champion that scores every application.",
    )
    async def promote_scoring_model(
        self, info: strawberry.Info[Context, None], input: PromoteScoringModelInput
    ) -> PromoteScoringModelResult:
        result: Any = await perform(
            info,
            lambda s, a: registry.promote(
                s,
                input.version,
                keep_previous_as_challenger=input.keep_previous_as_challenger,
                actor_id=a.user_id,
                request_id=a.request_id,
                features=PLATFORM_FEATURES,
                optional=EXTERNAL_FEATURES,
            ),
        )
        return ScoringModel.from_row(result) if isinstance(result, ModelRow) else result

    @mutation(
        "assessApplication",
        description="Score an application again with the champion model (and challengers, "
        "in shadow); the new assessment becomes its latest.",
    )
    async def assess_application(
        self, info: strawberry.Info[Context, None], input: AssessApplicationInput
    ) -> AssessApplicationResult:
        pk = pk_of(input.application_id, "Application", field="applicationId")
        scoring = info.context.scoring
        result: Any = await perform(
            info, lambda s, a: assessment.reassess(s, a, pk, scoring=scoring)
        )
        if isinstance(result, RiskAssessmentRow):
            return RiskAssessment.from_row(result)
        return result
