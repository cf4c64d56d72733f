"""Journal entries, their lines, and trial balances as GraphQL types."""

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Self

import strawberry
from strawberry import relay

from api.access import classified
from api.context import Context
from api.identity.types import Institution
from api.lending.types import Loan
from domain.ledger import service
from domain.ledger.chart import SPEC, AccountCode, AccountType
from domain.ledger.models import EntryKind
from domain.ledger.models import JournalEntry as JournalEntryRow
from domain.ledger.repository import LineRow
from kernel.errors import NotFound

ChartAccountGQL = strawberry.enum(
    AccountCode, name="ChartAccount", description="An account of every institution's chart."
)
LedgerAccountTypeGQL = strawberry.enum(AccountType, name="LedgerAccountType")
JournalEntryKindGQL = strawberry.enum(
    EntryKind, name="JournalEntryKind", description="The movement of money an entry books."
)


async def _institution(info: strawberry.Info[Context, None], pk: uuid.UUID) -> Institution:
    row = await info.context.loaders.institution.load(pk)
    if row is None:
        raise NotFound("institution not found")
    return Institution.from_row(row)


@classified(internal=["account", "gl_code", "debit", "credit"])
@strawberry.type(description="One side of a journal entry: a debit or a credit to one account.")
class JournalLine:
    account: AccountCode
    gl_code: str = strawberry.field(description="The account's general-ledger code.")
    debit: Decimal
    credit: Decimal

    @classmethod
    def from_row(cls, row: LineRow) -> Self:
        return cls(account=row.code, gl_code=row.gl_code, debit=row.debit, credit=row.credit)


@classified(
    public=["id"],
    internal=[
        "kind",
        "effective_on",
        "posted_at",
        "source",
        "memo",
        "institution",
        "loan",
        "reverses",
        "reversed_by",
        "lines",
    ],
)
@strawberry.type(
    description="A balanced posting to an institution's ledger. Never changed: a "
    "correction is a reversal, an entry of its own."
)
class JournalEntry(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    kind: EntryKind
    effective_on: date = strawberry.field(description="The accounting day it counts on.")
    posted_at: datetime
    source: str = strawberry.field(
        description="What posted it (a repayment, a close); one entry per source."
    )
    memo: str | None
    institution_id: strawberry.Private[uuid.UUID]
    loan_id: strawberry.Private[uuid.UUID | None]
    reverses_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field
    async def institution(self, info: strawberry.Info[Context, None]) -> Institution:
        return await _institution(info, self.institution_id)

    @strawberry.field(description="The loan whose movement it books, if any.")
    async def loan(self, info: strawberry.Info[Context, None]) -> Loan | None:
        if self.loan_id is None:
            return None
        row = await info.context.loaders.loan.load(self.loan_id)
        return None if row is None else Loan.from_row(row)

    @strawberry.field(description="The entry this one reverses.")
    async def reverses(self, info: strawberry.Info[Context, None]) -> "JournalEntry | None":
        if self.reverses_id is None:
            return None
        row = await info.context.loaders.journal_entry.load(self.reverses_id)
        return None if row is None else JournalEntry.from_row(row)

    @strawberry.field(description="The entry reversing this one, once one does.")
    async def reversed_by(self, info: strawberry.Info[Context, None]) -> "JournalEntry | None":
        row = await info.context.loaders.journal_reversal.load(self.pk)
        return None if row is None else JournalEntry.from_row(row)

    @strawberry.field(description="Its debits and credits, in the order posted.")
    async def lines(self, info: strawberry.Info[Context, None]) -> list[JournalLine]:
        rows = await info.context.loaders.journal_lines.load(self.pk)
        return [JournalLine.from_row(r) for r in rows]

    @classmethod
    def from_row(cls, row: JournalEntryRow) -> Self:
        return cls(
            pk=row.id,
            kind=row.kind,
            effective_on=row.effective_on,
            posted_at=row.created_at,
            source=row.source,
            memo=row.memo,
            institution_id=row.institution_id,
            loan_id=row.loan_id,
            reverses_id=row.reverses_id,
        )


@classified(internal=["account", "gl_code", "name", "type", "debits", "credits", "balance"])
@strawberry.type(description="What was posted to one account up to a day.")
class LedgerAccountBalance:
    account: AccountCode
    gl_code: str
    name: str
    type: AccountType
    debits: Decimal
    credits: Decimal
    balance: Decimal = strawberry.field(
        description="On the account's normal side: positive for an asset's debit balance "
        "or an income's credit balance."
    )

    @classmethod
    def from_domain(cls, found: service.AccountBalance) -> Self:
        return cls(
            account=found.code,
            gl_code=found.gl_code,
            name=found.name,
            type=SPEC[found.code].type,
            debits=found.debits,
            credits=found.credits,
            balance=found.balance,
        )


@classified(internal=["institution", "as_of", "debits", "credits", "balanced", "accounts"])
@strawberry.type(
    description="An institution's trial balance: each account's debits and credits posted "
    "with an effective day up to asOf, and whether debit balances equal credit balances."
)
class TrialBalance:
    institution_id: strawberry.Private[uuid.UUID]
    as_of: date
    debits: Decimal = strawberry.field(description="The sum of the debit balances.")
    credits: Decimal = strawberry.field(description="The sum of the credit balances.")
    balanced: bool
    accounts: list[LedgerAccountBalance]

    @strawberry.field
    async def institution(self, info: strawberry.Info[Context, None]) -> Institution:
        return await _institution(info, self.institution_id)

    @classmethod
    def from_domain(cls, found: service.TrialBalance) -> Self:
        return cls(
            institution_id=found.institution_id,
            as_of=found.as_of,
            debits=found.debits,
            credits=found.credits,
            balanced=found.balanced,
            accounts=[LedgerAccountBalance.from_domain(a) for a in found.accounts],
        )
