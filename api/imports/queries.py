import strawberry

from api.access import classified
from api.context import Context
from api.imports.types import ImportRun
from api.relay import Connection, connection, decode_after, decode_global_id, page_size
from domain.imports import repository as repo
from kernel.errors import NotFound
from kernel.pagination import page_from


@classified(internal=["import_runs", "import_run"])
@strawberry.type
class ImportQueries:
    @strawberry.field(description="Bulk imports you may see (your institution's), newest first.")
    async def import_runs(
        self,
        info: strawberry.Info[Context, None],
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[ImportRun]:
        ctx = info.context
        size = page_size(first, ctx.settings.page_size_max)
        after_key = decode_after(repo.NEWEST, after)
        async with ctx.sessions() as session:
            rows = await repo.list_runs(session, viewer=ctx.viewer, first=size, after=after_key)

        async def count() -> int:
            async with ctx.sessions() as session:
                return await repo.count_runs(session, viewer=ctx.viewer)

        return connection(
            page_from(rows, size),
            keyset=repo.NEWEST,
            to_node=ImportRun.from_row,
            count=count,
            after=after,
        )

    @strawberry.field(description="One bulk import by id, if you may see it.")
    async def import_run(
        self, info: strawberry.Info[Context, None], id: strawberry.ID
    ) -> ImportRun:
        ctx = info.context
        pk = decode_global_id(id, expected="ImportRun")[1]
        async with ctx.sessions() as session:
            rows = await repo.runs_by_ids(session, viewer=ctx.viewer, ids=[pk])
        if not rows:
            # The same answer whether the run is absent or hidden: ids leak nothing.
            raise NotFound(f"no ImportRun with id {id}")
        return ImportRun.from_row(rows[0])
