"""Posting money movements to the ledger, inside the caller's transaction.

Every movement of money on a loan calls :func:`post` in the same unit of work as the
movement itself, so the books and the loan can never disagree after a commit. An
entry names the ``source`` that caused it; the same source posts once per institution,
so a job that reruns (month-end close) or a retried request posts nothing twice.
Entries are never changed: :func:`reverse` posts the mirror image of one.

Example (a repayment of 1,050.00 splitting into principal and interest)::

    from domain.ledger import service as ledger
    from domain.ledger.chart import AccountCode
    from domain.ledger.models import EntryKind
    from domain.ledger.service import Leg

    await ledger.post(
        session,
        institution_id=loan.institution_id,
        loan_id=loan.id,
        kind=EntryKind.REPAYMENT,
        effective_on=paid_on,
        source=f"repayment:{repayment.id}",
        legs=[
            Leg.debit(AccountCode.CASH, Decimal("1050.00")),
            Leg.credit(AccountCode.LOANS_RECEIVABLE, Decimal("1000.00")),
            Leg.credit(AccountCode.INTEREST_INCOME, Decimal("50.00")),
        ],
        actor_id=actor.user_id,
    )

Legs of zero are dropped (a payment with no fee part needs no special case); a leg
below zero, one with more than two decimals, or debits that do not equal credits are
refused with ``UnbalancedEntry`` before anything is written.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from domain.ledger import repository as repo
from domain.ledger.chart import SPEC, AccountCode
from domain.ledger.errors import AlreadyReversed, UnbalancedEntry
from domain.ledger.models import EntryKind, JournalEntry, JournalLine
from kernel.base import new_ids, utcnow
from kernel.bulk import insert_rows
from kernel.errors import NotFound

ZERO = Decimal("0.00")
CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class Leg:
    """One side of an entry. Build with ``Leg.debit(...)`` or ``Leg.credit(...)``."""

    account: AccountCode
    debit_amount: Decimal = ZERO
    credit_amount: Decimal = ZERO

    @classmethod
    def debit(cls, account: AccountCode, amount: Decimal) -> Leg:
        return cls(account, debit_amount=amount)

    @classmethod
    def credit(cls, account: AccountCode, amount: Decimal) -> Leg:
        return cls(account, credit_amount=amount)


@dataclass(frozen=True, slots=True)
class Posting:
    """An entry to post: what ``post`` takes, for ``post_many`` to take in bulk."""

    institution_id: uuid.UUID
    kind: EntryKind
    effective_on: date
    source: str
    legs: Sequence[Leg]
    loan_id: uuid.UUID | None = None
    memo: str | None = None
    actor_id: uuid.UUID | None = None
    reverses_id: uuid.UUID | None = None
    kept: tuple[Leg, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "kept", checked_legs(self.legs, self.source))


def checked_legs(legs: Sequence[Leg], source: str) -> tuple[Leg, ...]:
    """The legs with an amount, each in cents and not negative, debits equal to credits."""
    kept = []
    for leg in legs:
        for amount in (leg.debit_amount, leg.credit_amount):
            if not amount.is_finite() or amount < 0 or amount != amount.quantize(CENT):
                raise UnbalancedEntry(
                    f"{source}: {leg.account.value} takes a positive amount in cents, got {amount}"
                )
        if leg.debit_amount and leg.credit_amount:
            raise UnbalancedEntry(f"{source}: a leg is a debit or a credit, not both")
        if leg.debit_amount or leg.credit_amount:
            kept.append(leg)
    debits = sum((leg.debit_amount for leg in kept), ZERO)
    credits = sum((leg.credit_amount for leg in kept), ZERO)
    if debits != credits:
        raise UnbalancedEntry(f"{source}: debits {debits} do not equal credits {credits}")
    return tuple(kept)


async def post(
    session: AsyncSession,
    *,
    institution_id: uuid.UUID,
    kind: EntryKind,
    effective_on: date,
    source: str,
    legs: Sequence[Leg],
    loan_id: uuid.UUID | None = None,
    memo: str | None = None,
    actor_id: uuid.UUID | None = None,
) -> uuid.UUID | None:
    """Post one balanced entry; its id (the earlier one's if ``source`` posted before),
    or None when every leg is zero. See the module docstring for an example."""
    posting = Posting(
        institution_id=institution_id,
        kind=kind,
        effective_on=effective_on,
        source=source,
        legs=legs,
        loan_id=loan_id,
        memo=memo,
        actor_id=actor_id,
    )
    return (await post_many(session, [posting]))[0]


async def post_many(session: AsyncSession, postings: Sequence[Posting]) -> list[uuid.UUID | None]:
    """Post many entries at once (a job's thousands): three statements per institution
    and batch, whatever the number of entries. Answers each posting's entry id."""
    return (await _post_batch(session, postings))[0]


async def post_fresh(session: AsyncSession, postings: Sequence[Posting]) -> list[Posting]:
    """``post_many``, answering the postings it posted now (not those of a source that
    had posted before): what a rerunnable job counts, with no lookup of its own."""
    fresh = (await _post_batch(session, postings))[1]
    return [postings[i] for i in fresh]


async def _post_batch(
    session: AsyncSession, postings: Sequence[Posting]
) -> tuple[list[uuid.UUID | None], list[int]]:
    answers: list[uuid.UUID | None] = [None] * len(postings)
    fresh: list[int] = []
    by_institution: dict[uuid.UUID, list[int]] = defaultdict(list)
    for index, posting in enumerate(postings):
        if posting.kept:
            by_institution[posting.institution_id].append(index)
    if not by_institution:
        return answers, fresh
    accounts = await repo.account_ids(session, list(by_institution))
    for institution_id, indexes in by_institution.items():
        sources = [postings[i].source for i in indexes]
        if len(set(sources)) != len(sources):
            raise ValueError("one batch names a source twice")
        earlier = await repo.posted_sources(session, institution_id, sources)
        for i in indexes:
            posting = postings[i]
            if posting.source in earlier:
                answers[i] = earlier[posting.source]
            else:
                fresh.append(i)
    # Ids for every entry and line at once (``new_ids``: one lock and one read of
    # randomness for a batch of thousands), taken in the order ``new_id`` would make them.
    ids = iter(new_ids(len(fresh) + sum(len(postings[i].kept) for i in fresh)))
    now = utcnow()
    entries: list[dict[str, object]] = []
    lines: list[dict[str, object]] = []
    totals: dict[tuple[uuid.UUID, date], tuple[Decimal, Decimal]] = {}
    for i in fresh:
        posting = postings[i]
        institution_id = posting.institution_id
        entry_id = next(ids)
        answers[i] = entry_id
        entries.append(
            {
                "id": entry_id,
                "created_at": now,
                "institution_id": institution_id,
                "loan_id": posting.loan_id,
                "kind": posting.kind,
                "effective_on": posting.effective_on,
                "source": posting.source,
                "reverses_id": posting.reverses_id,
                "memo": posting.memo,
                "posted_by": posting.actor_id,
            }
        )
        for leg in posting.kept:
            account = accounts[(institution_id, leg.account)]
            lines.append(
                {
                    "id": next(ids),
                    "entry_id": entry_id,
                    "account_id": account,
                    "loan_id": posting.loan_id,
                    "debit": leg.debit_amount,
                    "credit": leg.credit_amount,
                }
            )
            debit, credit = totals.get((account, posting.effective_on), (ZERO, ZERO))
            totals[(account, posting.effective_on)] = (
                debit + leg.debit_amount,
                credit + leg.credit_amount,
            )
    if entries:
        # COPY on PostgreSQL: a close posts an entry per loan, hundreds of thousands.
        await insert_rows(session, JournalEntry, entries)
        await insert_rows(session, JournalLine, lines)
        await repo.add_to_day_totals(session, totals)
    return answers, fresh


async def reverse(
    session: AsyncSession,
    *,
    entry_id: uuid.UUID,
    effective_on: date,
    source: str,
    memo: str | None = None,
    actor_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Post the mirror image of an entry (its debits credited, its credits debited).

    An entry is reversed at most once (``AlreadyReversed``); the reversal keeps the
    original's loan and institution and points back at it.
    """
    entry = await repo.entry_for_change(session, entry_id)
    if entry is None:
        raise NotFound("no such journal entry")
    if entry.kind is EntryKind.REVERSAL:
        raise AlreadyReversed("a reversal is not reversed: post the movement again")
    done = await repo.reversal_of(session, entry_id)
    if done is not None:
        raise AlreadyReversed(f"journal entry {entry_id} was reversed already")
    legs = [
        Leg(line.code, debit_amount=line.credit, credit_amount=line.debit)
        for line in await repo.lines_by_entry_ids(session, [entry_id])
    ]
    posting = Posting(
        institution_id=entry.institution_id,
        kind=EntryKind.REVERSAL,
        effective_on=effective_on,
        source=source,
        legs=legs,
        loan_id=entry.loan_id,
        memo=memo,
        actor_id=actor_id,
        reverses_id=entry.id,
    )
    posted = (await post_many(session, [posting]))[0]
    assert posted is not None  # a posted entry has legs, so its mirror has too
    return posted


async def entry_of(
    session: AsyncSession, institution_id: uuid.UUID, source: str
) -> uuid.UUID | None:
    """The entry ``source`` posted, if it did."""
    return (await repo.posted_sources(session, institution_id, [source])).get(source)


@dataclass(frozen=True, slots=True)
class AccountBalance:
    code: AccountCode
    gl_code: str
    name: str
    debits: Decimal
    credits: Decimal

    @property
    def balance(self) -> Decimal:
        """Signed to the account's normal side: an asset's debit balance is positive."""
        net = self.debits - self.credits
        return -net if SPEC[self.code].credit_normal else net


@dataclass(frozen=True, slots=True)
class TrialBalance:
    institution_id: uuid.UUID
    as_of: date
    accounts: tuple[AccountBalance, ...]

    @property
    def debits(self) -> Decimal:
        """Total of the debit balances (accounts whose debits exceed their credits)."""
        return sum((max(a.debits - a.credits, ZERO) for a in self.accounts), ZERO)

    @property
    def credits(self) -> Decimal:
        return sum((max(a.credits - a.debits, ZERO) for a in self.accounts), ZERO)

    @property
    def balanced(self) -> bool:
        return self.debits == self.credits


async def trial_balance(
    session: AsyncSession, *, institution_id: uuid.UUID, as_of: date
) -> TrialBalance:
    """Every account of the chart with what was posted to it, effective up to ``as_of``."""
    found = {t.code: t for t in await repo.account_totals(session, institution_id, as_of)}
    accounts = []
    for code, spec in SPEC.items():
        total = found.get(code)
        accounts.append(
            AccountBalance(
                code=code,
                gl_code=spec.gl_code,
                name=spec.name,
                debits=total.debit if total else ZERO,
                credits=total.credit if total else ZERO,
            )
        )
    return TrialBalance(institution_id=institution_id, as_of=as_of, accounts=tuple(accounts))


async def loan_balances(
    session: AsyncSession, loan_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[AccountCode, Decimal]]:
    """Each loan's sub-ledger: balance per account, debit minus credit (zeros left out)."""
    found = await repo.loan_balances(session, loan_ids)
    return {i: {c: v for c, v in b.items() if v} for i, b in found.items()}
