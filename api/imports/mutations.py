from typing import Annotated, cast

import strawberry
from starlette.datastructures import UploadFile
from strawberry.file_uploads import Upload

from api.access import mutation
from api.context import Context
from api.identity.types import InvalidInputError
from api.imports.types import MalformedImportFile
from api.jobs.types import Job
from api.relay import decode_pk
from domain.imports import service
from domain.imports.errors import FileProblem, MalformedFile
from domain.jobs import tasks
from domain.jobs.errors import QueueUnavailable
from domain.jobs.files import NewFile
from domain.jobs.models import FileRole
from kernel.base import new_id
from kernel.errors import InvalidInput

# Rows per transaction of an import started here (the CLI lets an operator choose).
BATCH_SIZE = 1000


@strawberry.input(description="A CSV (UTF-8) or .xlsx file of enterprises and statements.")
class ImportEnterprisesInput:
    file: Upload = strawberry.field(
        description="Sent as a GraphQL multipart request (the `operations` and `map` parts)."
    )
    institution_id: strawberry.ID | None = strawberry.field(
        default=None, description="The institution you import for; needed if you admin several."
    )
    delimiter: str = strawberry.field(default=",", description="The CSV delimiter.")


ImportEnterprisesResult = Annotated[
    Job | MalformedImportFile | InvalidInputError,
    strawberry.union("ImportEnterprisesResult"),
]


def too_large(size: int | None, limit: int) -> bool:
    return size is not None and size > limit


@strawberry.type
class ImportMutations:
    @mutation(
        "importEnterprises",
        description="Queue an import of enterprises and their statements: the file is kept "
        "with the job (sealed) and a worker checks, cleans, merges and writes it in batches. "
        "Follow it with `job(id:)`: progress is rows done of the file's rows, `importRun` the "
        "counts and every row that was fixed, flagged or rejected; a file that is not a "
        "readable table fails the job with MALFORMED_FILE. Importing the same file again "
        "changes nothing.",
    )
    async def import_enterprises(
        self, info: strawberry.Info[Context, None], input: ImportEnterprisesInput
    ) -> ImportEnterprisesResult:
        ctx = info.context
        upload = cast(UploadFile, input.file)
        limit = ctx.settings.job_file_max_bytes
        try:
            institution_id = service.importing_institution(
                ctx.viewer, decode_pk(input.institution_id, "Institution", field="institutionId")
            )
            # The part's size as received; read, it is measured again (a client's
            # part may come without one).
            content = b"" if too_large(upload.size, limit) else await upload.read()
            if too_large(upload.size, limit) or too_large(len(content), limit):
                raise MalformedFile(
                    FileProblem.TOO_LARGE,
                    f"the file is over {limit // (1024 * 1024)} MB (LENDGRAPH_JOB_FILE_MAX_BYTES)",
                )
        except MalformedFile as exc:
            return MalformedImportFile(message=exc.message, code=exc.code, problem=exc.problem)
        except InvalidInput as exc:
            return InvalidInputError.of(exc)
        if ctx.jobs is None:
            raise QueueUnavailable("this service runs no job queue")
        actor = ctx.viewer.user_id or ctx.viewer.service_account_id
        run = await ctx.jobs.submit(
            ctx.sessions,
            tasks.IMPORT,
            params={
                "delimiter": input.delimiter,
                "batch_size": BATCH_SIZE,
                "actor": None if actor is None else str(actor),
                "request_id": ctx.request_id,
                # Named now, so `Job.importRun` finds the run while it runs.
                "import_run": str(new_id()),
            },
            trigger="api",
            requested_by=ctx.viewer.user_id,
            institution_id=institution_id,
            files=[
                NewFile(
                    role=FileRole.INPUT,
                    name=upload.filename or "upload",
                    content_type=upload.content_type or "application/octet-stream",
                    content=content,
                    personal=True,  # legal representatives, phones, accounts
                )
            ],
        )
        return Job.from_row(run)
