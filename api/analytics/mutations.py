"""``startPortfolioReport``: the HTML portfolio report, made by a job and kept with it."""

from datetime import date
from typing import Annotated

import strawberry

from api.access import mutation
from api.context import Context
from api.identity.types import InvalidInputError
from api.jobs.types import Job
from api.relay import decode_pk
from domain.analytics.service import PortfolioFilter, analysable_institutions, resolve_period
from domain.errors import InvalidInput
from domain.jobs import tasks
from domain.jobs.errors import QueueUnavailable


@strawberry.input(description="The period and book of a portfolio report.")
class StartPortfolioReportInput:
    start: date | None = strawberry.field(
        default=None, description="First day; default: a year before the end."
    )
    end: date | None = strawberry.field(default=None, description="Last day; default: today.")
    institution_id: strawberry.ID | None = strawberry.field(
        default=None, description="One institution's book (staff: one of their own)."
    )


StartPortfolioReportResult = Annotated[
    Job | InvalidInputError, strawberry.union("StartPortfolioReportResult")
]


@strawberry.type
class AnalyticsMutations:
    @mutation(
        "startPortfolioReport",
        description="Queue the portfolio report (figures and charts as one HTML page) over "
        "the book you may analyse; the job's output file is the page, downloaded from "
        "`Job.files.download` with your token.",
    )
    async def start_portfolio_report(
        self, info: strawberry.Info[Context, None], input: StartPortfolioReportInput
    ) -> StartPortfolioReportResult:
        ctx = info.context
        try:
            institution = decode_pk(input.institution_id, "Institution", field="institutionId")
            flt = PortfolioFilter(start=input.start, end=input.end, institution_id=institution)
            period = resolve_period(flt)
        except InvalidInput as exc:
            return InvalidInputError.of(exc, field=exc.field or "start")
        # The book the requester may analyse now is the report's, whenever it runs.
        scope = analysable_institutions(ctx.viewer)
        if scope is not None and institution is not None and institution not in scope:
            return InvalidInputError.at(
                "you analyse no such institution's book", "institutionId", code="BAD_USER_INPUT"
            )
        if ctx.jobs is None:
            raise QueueUnavailable("this service runs no job queue")
        owner = institution or (
            next(iter(scope)) if scope is not None and len(scope) == 1 else None
        )
        run = await ctx.jobs.submit(
            ctx.sessions,
            tasks.REPORT,
            params={
                "start": period.start.isoformat(),
                "end": period.end.isoformat(),
                "institution": None if institution is None else str(institution),
                "institutions": None if scope is None else sorted(str(i) for i in scope),
            },
            trigger="api",
            requested_by=ctx.viewer.user_id,
            institution_id=owner,
        )
        return Job.from_row(run)
