from typing import Annotated, cast

import strawberry
from starlette.datastructures import UploadFile
from strawberry.file_uploads import Upload

from api.access import mutation
from api.context import Context
from api.identity.types import InvalidInputError
from api.imports.types import ImportRun, MalformedImportFile
from api.relay import decode_pk
from domain.errors import InvalidInput
from domain.imports import repository as repo
from domain.imports import service
from domain.imports.errors import FileProblem, MalformedFile

# A request holds its import to the end; bigger files go through `lendgraph import`.
MAX_UPLOAD_BYTES = 50 * 1024 * 1024


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
    ImportRun | MalformedImportFile | InvalidInputError,
    strawberry.union("ImportEnterprisesResult"),
]


@strawberry.type
class ImportMutations:
    @mutation(
        "importEnterprises",
        description="Import enterprises and their statements in bulk: rows are cleaned, "
        "merged by credit code and written in batches; the run reports every row that was "
        "fixed, flagged or rejected. Importing the same file again changes nothing.",
    )
    async def import_enterprises(
        self, info: strawberry.Info[Context, None], input: ImportEnterprisesInput
    ) -> ImportEnterprisesResult:
        ctx = info.context
        upload = cast(UploadFile, input.file)
        try:
            institution_id = service.importing_institution(
                ctx.viewer, decode_pk(input.institution_id, "Institution", field="institutionId")
            )
            if upload.size is not None and upload.size > MAX_UPLOAD_BYTES:
                raise MalformedFile(
                    FileProblem.TOO_LARGE,
                    f"the file is over {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; import it with "
                    "the command line (lendgraph import enterprises)",
                )
            report = await service.import_enterprises(
                ctx.sessions,
                upload.file,
                name=upload.filename or "upload",
                keys=ctx.keys,
                delimiter=input.delimiter,
                actor_id=ctx.viewer.user_id or ctx.viewer.service_account_id,
                institution_id=institution_id,
                request_id=ctx.request_id,
            )
        except MalformedFile as exc:
            return MalformedImportFile(message=exc.message, code=exc.code, problem=exc.problem)
        except InvalidInput as exc:
            return InvalidInputError.of(exc)
        async with ctx.sessions() as session:
            rows = await repo.runs_by_ids(session, viewer=ctx.viewer, ids=[report.run_id])
        return ImportRun.from_row(rows[0])
