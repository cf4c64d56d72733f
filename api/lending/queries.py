from __future__ import annotations

import strawberry

from api.access import classified
from api.context import Context
from api.lending.inputs import LoanFilter
from api.lending.types import Loan
from api.relay import (
    Connection,
    ListingRequest,
    decode_pk,
    listed_for,
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
        return await listed_for(
            ctx.sessions, ctx.viewer, asked, repo.list_loans, repo.count_loans, Loan.from_row
        )
