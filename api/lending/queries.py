from __future__ import annotations

import strawberry

from api.access import classified
from api.context import Context
from api.lending.inputs import LoanFilter
from api.lending.types import Loan
from api.relay import (
    Connection,
    ListingRequest,
    connection,
    decode_pk,
)
from domain.lending import repository as repo
from domain.settings import Settings


def _domain_filter(flt: LoanFilter | None) -> repo.LoanFilter:
    if flt is None:
        return repo.LoanFilter()
    return repo.LoanFilter(
        statuses=flt.statuses,
        buckets=flt.delinquency_buckets,
        institution_id=decode_pk(flt.institution_id, "Institution"),
        enterprise_id=decode_pk(flt.enterprise_id, "Enterprise"),
    )


def listing_request(
    settings: Settings,
    first: int | None = None,
    after: str | None = None,
    filter: LoanFilter | None = None,
) -> ListingRequest[repo.LoanFilter]:
    return ListingRequest.read(
        settings, keyset=repo.NEWEST, flt=_domain_filter(filter), first=first, after=after
    )


@classified(public=["loans"])
@strawberry.type
class LoanQueries:
    @strawberry.field(description="Loans you may see, newest first.")
    async def loans(
        self,
        info: strawberry.Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        filter: LoanFilter | None = None,
    ) -> Connection[Loan]:
        ctx = info.context
        asked = listing_request(ctx.settings, first, after, filter)
        flt = asked.flt
        async with ctx.sessions() as session:
            page = await repo.list_loans(
                session, viewer=ctx.viewer, flt=flt, first=asked.first, after=asked.after
            )

        async def count() -> int:
            async with ctx.sessions() as session:
                return await repo.count_loans(session, viewer=ctx.viewer, flt=flt)

        return connection(page, keyset=repo.NEWEST, to_node=Loan.from_row, count=count, after=after)
