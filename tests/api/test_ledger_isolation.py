"""Tenant isolation of the books as a property: whatever is asked, no other book shows.

Hypothesis draws a viewer (a risk officer of bank A or of bank B, a borrower, an
auditor) and a question -- a trial balance of any bank, journal entries filtered by
any bank, any loan or nothing, ``node(id:)`` of any entry -- and checks the answer
against the tenancy rule stated here on names: staff read their own bank's book,
platform roles every book, borrowers none. Hypothesis runs in a worker thread while
the test's event loop serves the app.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, note
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.identity.models import Role
from domain.ledger.models import JournalEntry
from domain.settings import Settings
from kernel.base import utcnow
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient
from tests.domain.ledger.books import lent

BANKS = ("bank_a", "bank_b")
VIEWERS = {"risk_a": "bank_a", "risk_b": "bank_b", "owner": None, "auditor": "*"}
EXAMPLES = 60


@dataclass(frozen=True)
class Books:
    bank_ids: dict[str, str]  # bank -> global id
    loan_ids: dict[str, str]  # bank -> its loan's global id
    entries: dict[str, str]  # entry global id -> bank
    tokens: dict[str, str]


def sees(viewer: str, bank: str) -> bool:
    holds = VIEWERS[viewer]
    return holds == "*" or holds == bank


async def populate(db: AsyncEngine, settings: Settings) -> Books:
    start = utcnow().date() - timedelta(days=10)
    bank_ids, loan_ids, entries, tokens = {}, {}, {}, {}
    async with session_factory(db)() as s, s.begin():
        for bank_name in BANKS:
            bank = await f.institution(s)
            loan, owner = await lent(s, bank, on=start)
            bank_ids[bank_name] = f.global_id("Institution", bank.id)
            loan_ids[bank_name] = f.global_id("Loan", loan.id)
            if bank_name == "bank_a":
                tokens["owner"] = await f.access_token(s, settings, owner)
            staff = await f.user(s, roles=[(Role.RISK_OFFICER, bank.id)])
            tokens[f"risk_{bank_name[-1]}"] = await f.access_token(s, settings, staff)
            found: uuid.UUID = (
                await s.scalars(select(JournalEntry.id).where(JournalEntry.loan_id == loan.id))
            ).one()
            entries[f.global_id("JournalEntry", found)] = bank_name
        auditor = await f.user(s, roles=[(Role.AUDITOR, None)])
        tokens["auditor"] = await f.access_token(s, settings, auditor)
    return Books(bank_ids=bank_ids, loan_ids=loan_ids, entries=entries, tokens=tokens)


@dataclass(frozen=True)
class Ask:
    viewer: str
    root: str  # trial, entries, node
    bank: str | None  # of the trial balance, or of the filter
    by_loan: bool  # entries: filter by the bank's loan instead of the bank


asks = st.builds(
    Ask,
    viewer=st.sampled_from(sorted(VIEWERS)),
    root=st.sampled_from(("trial", "entries", "node")),
    bank=st.one_of(st.none(), st.sampled_from(BANKS)),
    by_loan=st.booleans(),
)


def document(ask: Ask, world: Books) -> tuple[str, dict[str, Any], set[str]]:
    """The query, its variables and the banks whose entries the answer may hold."""
    if ask.root == "trial":
        bank = ask.bank or "bank_a"
        query = "query($id: ID!) { trialBalance(institutionId: $id) { debits balanced } }"
        return query, {"id": world.bank_ids[bank]}, {bank}
    if ask.root == "node":
        entry = next(e for e, b in world.entries.items() if b == (ask.bank or "bank_b"))
        query = "query($id: ID!) { node(id: $id) { id ... on JournalEntry { kind } } }"
        return query, {"id": entry}, {world.entries[entry]}
    flt: dict[str, str] = {}
    if ask.bank is not None:
        key = "loanId" if ask.by_loan else "institutionId"
        flt[key] = (world.loan_ids if ask.by_loan else world.bank_ids)[ask.bank]
    query = (
        "query($f: JournalEntryFilter) { journalEntries(filter: $f) "
        "{ totalCount edges { node { id loan { id } } } } }"
    )
    return query, {"f": flt}, set(BANKS) if ask.bank is None else {ask.bank}


def check(ask: Ask, world: Books, body: dict[str, Any], asked: set[str]) -> None:
    allowed = {bank for bank in asked if sees(ask.viewer, bank)}
    data = body.get("data") or {}
    codes = [e["extensions"]["code"] for e in body.get("errors", [])]
    if ask.root in ("trial", "node"):
        if allowed:
            assert not codes, body
            assert (data.get("trialBalance") or data.get("node")) is not None
        else:
            assert codes == ["NOT_FOUND"], body
        return
    assert not codes, body
    listed = data["journalEntries"]
    banks = [world.entries[edge["node"]["id"]] for edge in listed["edges"]]
    assert sorted(banks) == sorted(allowed)
    assert listed["totalCount"] == len(allowed)


async def test_no_question_shows_an_entry_of_another_book(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    world = await populate(db, settings)
    loop = asyncio.get_running_loop()
    seen: set[tuple[str, str]] = set()

    @hypothesis_settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(ask=asks)
    def isolated(ask: Ask) -> None:
        query, variables, asked = document(ask, world)
        note(f"{ask}: {query} {variables}")
        request = gql.as_(world.tokens[ask.viewer]).post(query, variables)
        body = asyncio.run_coroutine_threadsafe(request, loop).result(timeout=60)
        note(f"answer: {body}")
        check(ask, world, body, asked)
        seen.add((ask.viewer, ask.root))

    # when / then
    await asyncio.to_thread(isolated)

    # and: every viewer asked every kind of question
    assert len(seen) == len(VIEWERS) * 3
