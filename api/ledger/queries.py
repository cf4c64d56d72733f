"""``trialBalance`` and ``journalEntries``: an institution's book, to those who keep it."""

from datetime import date

import strawberry

from api.access import classified
from api.context import Context
from api.ledger.types import JournalEntry, TrialBalance
from api.relay import Connection, ListingRequest, decode_pk, listed_for
from domain.ledger import repository as repo
from domain.ledger import service
from domain.ledger.models import EntryKind
from kernel.base import utcnow
from kernel.errors import NotFound


@strawberry.input
class JournalEntryFilter:
    institution_id: strawberry.ID | None = None
    loan_id: strawberry.ID | None = None
    kinds: list[EntryKind] | None = None
    effective_from: date | None = strawberry.field(
        default=None, description="Entries effective on or after this day."
    )
    effective_to: date | None = strawberry.field(
        default=None, description="Entries effective on or before this day."
    )


def _domain_filter(flt: JournalEntryFilter | None) -> repo.EntryFilter:
    if flt is None:
        return repo.EntryFilter()
    return repo.EntryFilter(
        institution_id=decode_pk(flt.institution_id, "Institution", field="filter.institutionId"),
        loan_id=decode_pk(flt.loan_id, "Loan", field="filter.loanId"),
        kinds=flt.kinds,
        effective_from=flt.effective_from,
        effective_to=flt.effective_to,
    )


@classified(public=["trial_balance", "journal_entries"])
@strawberry.type
class LedgerQueries:
    @strawberry.field(
        description="An institution's trial balance as of a day (today when left out)."
    )
    async def trial_balance(
        self,
        info: strawberry.Info[Context, None],
        institution_id: strawberry.ID,
        as_of: date | None = None,
    ) -> TrialBalance:
        ctx = info.context
        pk = decode_pk(institution_id, "Institution", field="institutionId")
        assert pk is not None
        # An institution whose book the viewer may not see is one that does not exist.
        if not repo.sees_book(ctx.viewer, pk) or await ctx.loaders.institution.load(pk) is None:
            raise NotFound("no such institution")
        async with ctx.sessions() as session:
            found = await service.trial_balance(
                session, institution_id=pk, as_of=as_of or utcnow().date()
            )
        return TrialBalance.from_domain(found)

    @strawberry.field(description="Journal entries of the books you may see, newest first.")
    async def journal_entries(
        self,
        info: strawberry.Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        filter: JournalEntryFilter | None = None,
    ) -> Connection[JournalEntry]:
        ctx = info.context
        asked = ListingRequest.read(
            ctx.settings, keyset=repo.NEWEST, flt=_domain_filter(filter), first=first, after=after
        )
        return await listed_for(
            ctx.sessions,
            ctx.viewer,
            asked,
            repo.list_entries,
            repo.count_entries,
            JournalEntry.from_row,
        )
