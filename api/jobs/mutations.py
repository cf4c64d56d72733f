from datetime import date
from typing import Annotated

import strawberry

from api.access import mutation
from api.context import Context
from api.identity.types import InvalidInputError
from api.jobs.types import Job
from domain.jobs import tasks
from domain.jobs.errors import QueueUnavailable
from kernel.errors import InvalidInput


@strawberry.input
class StartRiskScanInput:
    full: bool = strawberry.field(
        default=True, description="Every active loan (false: only those that changed)."
    )
    as_of: date | None = strawberry.field(default=None, description="The day judged (today).")


StartRiskScanResult = Annotated[Job | InvalidInputError, strawberry.union("StartRiskScanResult")]


@strawberry.input
class TrainScoringModelInput:
    folds: int = strawberry.field(default=5, description="Stratified folds, 2 to 20.")
    promote: bool = strawberry.field(
        default=False, description="Make it the champion once trained (else a candidate)."
    )
    search_seconds: int = strawberry.field(
        default=0,
        description="Seconds the hyper-parameter search may take, 0 to 3600 (0: the "
        "default configuration only); spent by the validation and again by the final fit.",
    )
    blend: bool = strawberry.field(
        default=False,
        description="Try a blend with the logistic baseline, kept when it is better on "
        "inner folds.",
    )


TrainScoringModelResult = Annotated[
    Job | InvalidInputError, strawberry.union("TrainScoringModelResult")
]


@strawberry.type
class JobMutations:
    @mutation(
        "startRiskScan",
        description="Queue an early-warning scan now, split into chunks that the workers "
        "share; follow it with `node(id:)` or `jobs`.",
    )
    async def start_risk_scan(
        self, info: strawberry.Info[Context, None], input: StartRiskScanInput
    ) -> StartRiskScanResult:
        ctx = info.context
        if ctx.jobs is None:
            raise QueueUnavailable("this service runs no job queue")
        params: dict[str, object] = {"full": input.full}
        if input.as_of is not None:
            params["as_of"] = input.as_of.isoformat()
        run = await ctx.jobs.submit(
            ctx.sessions,
            tasks.SCAN,
            params=params,
            trigger="api",
            requested_by=ctx.viewer.user_id,
        )
        return Job.from_row(run)

    @mutation(
        "trainScoringModel",
        description="Queue the training of a model on the platform's seasoned loans: "
        "validated by k-fold, registered as a candidate (or promoted); the job's result "
        "carries its version and cross-validated AUC.",
    )
    async def train_scoring_model(
        self, info: strawberry.Info[Context, None], input: TrainScoringModelInput
    ) -> TrainScoringModelResult:
        ctx = info.context
        if not 2 <= input.folds <= 20:
            return InvalidInputError.of(
                InvalidInput("folds must be between 2 and 20"), field="folds"
            )
        if not 0 <= input.search_seconds <= 3600:
            return InvalidInputError.of(
                InvalidInput("searchSeconds must be between 0 and 3600"), field="searchSeconds"
            )
        if ctx.jobs is None:
            raise QueueUnavailable("this service runs no job queue")
        run = await ctx.jobs.submit(
            ctx.sessions,
            tasks.TRAINING,
            params={
                "folds": input.folds,
                "promote": input.promote,
                "search_seconds": input.search_seconds,
                "blend": input.blend,
            },
            trigger="api",
            requested_by=ctx.viewer.user_id,
        )
        return Job.from_row(run)

    @mutation(
        "startPortfolioScoring",
        description="Queue the re-scoring of every active loan with the champion model, "
        "split into chunks that the workers share; the job's result carries the version "
        "and the loans scored.",
    )
    async def start_portfolio_scoring(self, info: strawberry.Info[Context, None]) -> Job:
        ctx = info.context
        if ctx.jobs is None:
            raise QueueUnavailable("this service runs no job queue")
        run = await ctx.jobs.submit(
            ctx.sessions, tasks.RESCORING, trigger="api", requested_by=ctx.viewer.user_id
        )
        return Job.from_row(run)
