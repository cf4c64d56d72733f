import uuid
from datetime import datetime
from typing import Self, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from api.access import classified
from domain.jobs.models import JobRun, JobState

JobStateGQL = strawberry.enum(JobState, name="JobState")


@classified(internal=["done", "total"])
@strawberry.type(description="How far a job got: chunks (or steps) done of the total.")
class JobProgress:
    done: int
    total: int | None = strawberry.field(description="Null until the job knows its size.")


@classified(
    public=["id"],
    internal=[
        "kind",
        "state",
        "trigger",
        "progress",
        "attempts",
        "created_at",
        "started_at",
        "finished_at",
        "error",
        "result",
    ],
)
@strawberry.type(
    description="A background job (a scan, ageing, drift check...) on the job queue: "
    "queued, running, then succeeded with its result or failed with its error."
)
class Job(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    kind: str = strawberry.field(
        description="risk_scan, risk_escalation, loan_ageing, model_drift, model_training, "
        "blind_index_rotation, data_key_replacement or subject_request_escalation."
    )
    state: JobState
    trigger: str = strawberry.field(description="schedule, api or cli.")
    progress: JobProgress
    attempts: int = strawberry.field(description="Runs so far; a retried job runs again.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None = strawberry.field(description="The last failure, if any.")
    result: JSON | None = strawberry.field(description="What the job did, once it is done.")

    @classmethod
    def from_row(cls, row: JobRun) -> Self:
        return cls(
            pk=row.id,
            kind=row.kind,
            state=row.state,
            trigger=row.trigger,
            progress=JobProgress(done=row.done, total=row.total),
            attempts=row.attempts,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            error=row.error,
            result=cast(JSON, row.result),
        )
