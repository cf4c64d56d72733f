import strawberry

from api.access import classified
from api.context import Context
from api.jobs.types import Job
from api.relay import Connection, connection, decode_after, decode_global_id, page_size
from domain.jobs import repository as repo
from kernel.errors import NotFound
from kernel.pagination import page_from


@classified(internal=["jobs", "job"])
@strawberry.type
class JobQueries:
    @strawberry.field(
        description="Background jobs you may see (your institution's and your own), newest "
        "first; `node(id:)` fetches one."
    )
    async def jobs(
        self,
        info: strawberry.Info[Context, None],
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Job]:
        ctx = info.context
        size = page_size(first, ctx.settings.page_size_max)
        after_key = decode_after(repo.NEWEST, after)
        async with ctx.sessions() as session:
            rows = await repo.list_jobs(session, viewer=ctx.viewer, first=size, after=after_key)

        async def count() -> int:
            async with ctx.sessions() as session:
                return await repo.count_jobs(session, viewer=ctx.viewer)

        return connection(
            page_from(rows, size),
            keyset=repo.NEWEST,
            to_node=Job.from_row,
            count=count,
            after=after,
        )

    @strawberry.field(description="One background job by id, if you may see it.")
    async def job(self, info: strawberry.Info[Context, None], id: strawberry.ID) -> Job:
        ctx = info.context
        pk = decode_global_id(id, expected="Job")[1]
        row = await ctx.loaders.job.load(pk)
        if row is None:
            # The same answer whether the job is absent or hidden: ids leak nothing.
            raise NotFound(f"no Job with id {id}")
        return Job.from_row(row)
