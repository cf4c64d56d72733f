from __future__ import annotations

import strawberry

from api.access import classified
from api.applications.inputs import ApplicationFilter
from api.applications.types import Application
from api.context import Context
from api.relay import (
    Connection,
    ListingRequest,
    decode_pk,
    listed_for,
)
from domain.applications import repository as repo
from domain.settings import Settings


def _domain_filter(flt: ApplicationFilter | None) -> repo.ApplicationFilter:
    if flt is None:
        return repo.ApplicationFilter()
    return repo.ApplicationFilter(
        statuses=flt.statuses,
        institution_id=decode_pk(flt.institution_id, "Institution"),
        enterprise_id=decode_pk(flt.enterprise_id, "Enterprise"),
        product_id=decode_pk(flt.product_id, "Product"),
    )


def listing_request(
    settings: Settings,
    first: int | None = None,
    after: str | None = None,
    filter: ApplicationFilter | None = None,
) -> ListingRequest[repo.ApplicationFilter]:
    return ListingRequest.read(
        settings, keyset=repo.NEWEST, flt=_domain_filter(filter), first=first, after=after
    )


@classified(public=["applications"])
@strawberry.type
class ApplicationQueries:
    @strawberry.field(description="Applications you may see, newest first.")
    async def applications(
        self,
        info: strawberry.Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        filter: ApplicationFilter | None = None,
    ) -> Connection[Application]:
        ctx = info.context
        asked = listing_request(ctx.settings, first, after, filter)
        return await listed_for(
            ctx.sessions,
            ctx.viewer,
            asked,
            repo.list_applications,
            repo.count_applications,
            Application.from_row,
        )
