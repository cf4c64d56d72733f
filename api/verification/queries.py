"""Verification cases: an officer's queue, an owner's and a claimant's own."""

from __future__ import annotations

import strawberry

from api.access import classified
from api.context import Context
from api.relay import Connection, ListingRequest, decode_pk, listed
from api.verification.inputs import VerificationCaseFilter
from api.verification.types import VerificationCase
from domain.verification import repository as repo


@classified(public=["verification_cases"])
@strawberry.type
class VerificationQueries:
    @strawberry.field(
        description="Cases you may see, newest first: every case for officers, your own and "
        "those about your enterprises for owners."
    )
    async def verification_cases(
        self,
        info: strawberry.Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        filter: VerificationCaseFilter | None = None,
    ) -> Connection[VerificationCase]:
        ctx = info.context
        flt = repo.CaseFilter(
            statuses=filter.statuses if filter else None,
            enterprise_id=decode_pk(
                filter.enterprise_id if filter else None, "Enterprise", field="enterpriseId"
            ),
        )
        request = ListingRequest.read(
            ctx.settings, keyset=repo.NEWEST, flt=flt, first=first, after=after
        )
        return await listed(
            ctx.sessions,
            request,
            page=lambda s: repo.list_cases(
                s,
                viewer=ctx.viewer,
                flt=flt,
                keyset=request.keyset,
                first=request.first,
                after=request.after,
            ),
            count=lambda s: repo.count_cases(s, viewer=ctx.viewer, flt=flt),
            to_node=VerificationCase.from_row,
        )
