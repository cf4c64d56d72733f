from __future__ import annotations

import strawberry

from api.access import classified
from api.context import Context
from api.disclosure import selects_any
from api.enterprises.inputs import EnterpriseFilter
from api.enterprises.types import PROTECTED_FIELDS, Enterprise
from api.relay import Connection, ListingRequest, connection
from domain.enterprises import repository as repo
from domain.enterprises.service import id_number_indexes
from domain.settings import Settings
from privacy.keys import KeyProvider


def listing_request(
    settings: Settings,
    keys: KeyProvider,
    first: int | None = None,
    after: str | None = None,
    filter: EnterpriseFilter | None = None,
) -> ListingRequest[repo.EnterpriseFilter]:
    id_number = filter.legal_representative_id_number if filter else None
    flt = repo.EnterpriseFilter(
        industry=filter.industry if filter else None,
        region=filter.region if filter else None,
        # A blind index: found by an exact match, nothing decrypted to search.
        legal_representative_id_bidx=id_number_indexes(keys, id_number) if id_number else None,
    )
    return ListingRequest.read(settings, keyset=repo.NEWEST, flt=flt, first=first, after=after)


@classified(public=["enterprises"])
@strawberry.type
class EnterpriseQueries:
    @strawberry.field(description="Enterprises you may see, newest first.")
    async def enterprises(
        self,
        info: strawberry.Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        filter: EnterpriseFilter | None = None,
    ) -> Connection[Enterprise]:
        ctx = info.context
        asked = listing_request(ctx.settings, ctx.keys, first, after, filter)
        flt = asked.flt
        async with ctx.sessions() as session:
            page = await repo.list_enterprises(
                session, viewer=ctx.viewer, flt=flt, first=asked.first, after=asked.after
            )
        if selects_any(info.selected_fields, PROTECTED_FIELDS):
            # One batch for the page's keys and consents: its personal fields then
            # resolve synchronously instead of one awaited lookup per value.
            await ctx.disclosure.prefetch([row.id for row in page.rows])

        async def count() -> int:
            async with ctx.sessions() as session:
                return await repo.count_enterprises(session, viewer=ctx.viewer, flt=flt)

        return connection(
            page, keyset=repo.NEWEST, to_node=Enterprise.from_row, count=count, after=after
        )
