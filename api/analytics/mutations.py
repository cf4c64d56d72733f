"""``startPortfolioReport``: the HTML portfolio report, made by a job and kept with it;
``startMonthEndClose``: an institution's month-end close (accrue, age, stage, provision,
snapshot)."""

from datetime import date
from typing import Annotated

import strawberry

from api.access import mutation
from api.context import Context
from api.identity.types import InvalidInputError
from api.jobs.types import Job
from api.relay import decode_pk
from domain.analytics.service import (
    ANALYSTS,
    PortfolioFilter,
    analysable_institutions,
    resolve_period,
)
from domain.jobs import tasks
from domain.jobs.errors import QueueUnavailable
from kernel.errors import InvalidInput


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


@strawberry.input(description="Whose month to close, and which month end.")
class StartMonthEndCloseInput:
    institution_id: strawberry.ID = strawberry.field(description="One of your institutions.")
    as_of: date = strawberry.field(description="The last day of the month closed.")


StartMonthEndCloseResult = Annotated[
    Job | InvalidInputError, strawberry.union("StartMonthEndCloseResult")
]


@strawberry.type
class AnalyticsMutations:
    @mutation(
        "startMonthEndClose",
        description="Queue the month-end close of an institution's book as one job: its "
        "steps in order (age the loans, stage them and compute their expected credit loss, "
        "post the change in loss allowance to the ledger, keep the month's snapshot). "
        "Repeatable for the same month end: nothing is posted twice. For the "
        "institution's risk officers and admins.",
    )
    async def start_month_end_close(
        self, info: strawberry.Info[Context, None], input: StartMonthEndCloseInput
    ) -> StartMonthEndCloseResult:
        from domain.provisioning.close import check_date

        ctx = info.context
        try:
            institution = decode_pk(input.institution_id, "Institution", field="institutionId")
            check_date(input.as_of)
        except InvalidInput as exc:
            return InvalidInputError.of(exc, field=exc.field or "institutionId")
        assert institution is not None  # a required ID
        if not ctx.viewer.institution_roles.get(institution, frozenset()) & ANALYSTS:
            return InvalidInputError.at(
                "you close no such institution's book", "institutionId", code="BAD_USER_INPUT"
            )
        if ctx.jobs is None:
            raise QueueUnavailable("this service runs no job queue")
        run = await ctx.jobs.submit(
            ctx.sessions,
            tasks.CLOSE,
            params={"as_of": input.as_of.isoformat(), "institution": str(institution)},
            trigger="api",
            requested_by=ctx.viewer.user_id,
            institution_id=institution,
        )
        return Job.from_row(run)

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
