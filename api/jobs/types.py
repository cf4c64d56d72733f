import uuid
from datetime import datetime
from typing import Self, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from api.access import classified
from api.context import Context
from api.imports.types import ImportRun
from api.relay import encode_pk
from domain.jobs.models import FileRole, JobRun, JobState
from domain.jobs.models import JobFile as JobFileRow

JobStateGQL = strawberry.enum(JobState, name="JobState")
JobFileRoleGQL = strawberry.enum(FileRole, name="JobFileRole")

# Where a file's content is served (api.jobs.files); the path ends with the file's id.
DOWNLOAD_PATH = "/jobs/files/"


@classified(internal=["done", "total"])
@strawberry.type(description="How far a job got: chunks (or steps) done of the total.")
class JobProgress:
    done: int
    total: int | None = strawberry.field(description="Null until the job knows its size.")


@classified(
    public=["id"],
    internal=[
        "role",
        "name",
        "content_type",
        "size",
        "sha256",
        "created_at",
        "expires_at",
        "download",
    ],
)
@strawberry.type(
    description="A job's input (an upload) or output (a report), kept in the database "
    "until `expiresAt`, sealed at rest when it can hold personal data."
)
class JobFile(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    role: FileRole
    name: str
    content_type: str
    size: int = strawberry.field(description="Bytes of the content.")
    sha256: str = strawberry.field(description="Hex SHA-256 of the content, to check a copy.")
    created_at: datetime
    expires_at: datetime = strawberry.field(
        description="When the retention purge deletes it (LENDGRAPH_JOB_FILE_RETENTION_DAYS)."
    )
    download: str = strawberry.field(
        description="The path to GET with your bearer token for the content; whether you "
        "may is decided there as for a field (JobFile.download)."
    )

    @classmethod
    def from_row(cls, row: JobFileRow) -> Self:
        pk = row.id
        return cls(
            pk=pk,
            role=row.role,
            name=row.name,
            content_type=row.content_type,
            size=row.size,
            sha256=row.sha256,
            created_at=row.created_at,
            expires_at=row.expires_at,
            download=DOWNLOAD_PATH + str(encode_pk(pk, "JobFile")),
        )


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
        "files",
        "import_run",
    ],
)
@strawberry.type(
    description="A background job (a scan, ageing, drift check, import, report...) on the "
    "job queue: queued, running, then succeeded with its result or failed with its error."
)
class Job(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    kind: str = strawberry.field(
        description="risk_scan, risk_escalation, loan_ageing, model_drift, model_training, "
        "enterprise_import, portfolio_report, portfolio_scoring, job_files_purge, "
        "log_sealing, blind_index_rotation, data_key_replacement, "
        "subject_request_escalation or retention."
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
    import_run_id: strawberry.Private[uuid.UUID | None] = None

    @strawberry.field(description="Its input and output files (an upload, a report).")
    async def files(self, info: strawberry.Info[Context, None]) -> list[JobFile]:
        rows = await info.context.loaders.job_files.load(self.pk)
        return [JobFile.from_row(row) for row in rows]

    @strawberry.field(
        description="An import job's run: its counts and the rows worth a look (with their "
        "row numbers and notes); null for other jobs, and until the file is checked."
    )
    async def import_run(self, info: strawberry.Info[Context, None]) -> ImportRun | None:
        if self.import_run_id is None:
            return None
        row = await info.context.loaders.import_run.load(self.import_run_id)
        return None if row is None else ImportRun.from_row(row)

    @classmethod
    def from_row(cls, row: JobRun) -> Self:
        named = row.params.get("import_run") if row.params else None
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
            import_run_id=uuid.UUID(str(named)) if named else None,
        )
