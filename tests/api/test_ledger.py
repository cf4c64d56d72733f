"""The ledger through GraphQL: a repayment posts in its mutation's transaction, and an
institution's book is read by its own risk officers and admins and by platform roles,
never by another institution, a loan officer or a borrower."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.identity.models import Role
from domain.settings import Settings
from kernel.base import utcnow
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient
from tests.domain.ledger.books import lent

REPAY = """
mutation($input: RecordRepaymentInput!) {
  recordRepayment(input: $input) { __typename ... on UserError { code message } }
}
"""
TRIAL = """
query($id: ID!, $asOf: Date) {
  trialBalance(institutionId: $id, asOf: $asOf) {
    asOf debits credits balanced institution { code }
    accounts { account glCode name type debits credits balance }
  }
}
"""
ENTRIES = """
query($filter: JournalEntryFilter, $first: Int, $after: String) {
  journalEntries(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      id kind effectiveOn source loan { id } reverses { id } reversedBy { id }
      lines { account glCode debit credit }
    } }
  }
}
"""


@dataclass(frozen=True)
class Books:
    bank_a: str
    bank_b: str
    loan_a: str
    tokens: dict[str, str]


async def _books(db: AsyncEngine, settings: Settings) -> Books:
    """Bank A and bank B, each with a disbursed loan; viewers of several roles."""
    start = utcnow().date() - timedelta(days=20)
    async with session_factory(db)() as s, s.begin():
        tokens: dict[str, str] = {}
        loans: dict[str, uuid.UUID] = {}
        banks = {}
        for name in ("a", "b"):
            bank = await f.institution(s, code=f"BANK{name.upper()}")
            banks[name] = bank
            loan, owner = await lent(s, bank, on=start)
            loans[name] = loan.id
            if name == "a":
                tokens["owner_a"] = await f.access_token(s, settings, owner)
        for key, role, held_in in (
            ("risk_a", Role.RISK_OFFICER, banks["a"].id),
            ("admin_a", Role.INSTITUTION_ADMIN, banks["a"].id),
            ("officer_a", Role.LOAN_OFFICER, banks["a"].id),
            ("auditor", Role.AUDITOR, None),
        ):
            person = await f.user(s, roles=[(role, held_in)])
            tokens[key] = await f.access_token(s, settings, person)
    return Books(
        bank_a=f.global_id("Institution", banks["a"].id),
        bank_b=f.global_id("Institution", banks["b"].id),
        loan_a=f.global_id("Loan", loans["a"]),
        tokens=tokens,
    )


async def _repay(gql: GraphQLClient, token: str, loan: str, amount: str) -> None:
    answer = await gql.as_(token).data(
        REPAY,
        {
            "input": {
                "loanId": loan,
                "idempotencyKey": f"k-{amount}",
                "amount": amount,
                "paidOn": (utcnow().date() - timedelta(days=10)).isoformat(),
            }
        },
    )
    assert answer["recordRepayment"]["__typename"] == "RepaymentRecorded", answer


def _balances(trial: dict[str, Any]) -> dict[str, str]:
    return {a["account"]: a["balance"] for a in trial["accounts"] if a["balance"] != "0.00"}


async def test_a_repayment_through_the_api_posts_and_the_trial_balance_shows_it(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: bank A's loan of 12,000.00 takes 400.00 ahead of its first due date
    world = await _books(db, settings)
    await _repay(gql, world.tokens["officer_a"], world.loan_a, "400.00")

    # when
    risk = gql.as_(world.tokens["risk_a"])
    trial = (await risk.data(TRIAL, {"id": world.bank_a}))["trialBalance"]
    before = (
        await risk.data(
            TRIAL,
            {"id": world.bank_a, "asOf": (utcnow().date() - timedelta(days=21)).isoformat()},
        )
    )["trialBalance"]
    entries = (await risk.data(ENTRIES, {"filter": {"loanId": world.loan_a}}))["journalEntries"]

    # then: all of it repaid principal early; the books hold what the loan owes
    assert trial["balanced"] is True
    assert trial["institution"] == {"code": "BANKA"}
    assert (trial["debits"], trial["credits"]) == ("11600.00", "11600.00")
    assert _balances(trial) == {"LOANS_RECEIVABLE": "11600.00", "CASH": "-11600.00"}
    assert (before["debits"], before["balanced"], _balances(before)) == ("0.00", True, {})
    assert len(trial["accounts"]) == 13
    assert entries["totalCount"] == 2
    repayment, disbursement = (e["node"] for e in entries["edges"])
    assert (repayment["kind"], disbursement["kind"]) == ("REPAYMENT", "DISBURSEMENT")
    assert repayment["loan"] == {"id": world.loan_a}
    assert repayment["lines"] == [
        {"account": "CASH", "glCode": "1000", "debit": "400.00", "credit": "0.00"},
        {"account": "LOANS_RECEIVABLE", "glCode": "1100", "debit": "0.00", "credit": "400.00"},
    ]
    node = await risk.data(
        "query($id: ID!) { node(id: $id) { ... on JournalEntry { kind } } }",
        {"id": repayment["id"]},
    )
    assert node == {"node": {"kind": "REPAYMENT"}}


async def test_journal_entries_page_by_cursor_and_filter_by_kind(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    world = await _books(db, settings)
    await _repay(gql, world.tokens["officer_a"], world.loan_a, "100.00")
    await _repay(gql, world.tokens["officer_a"], world.loan_a, "200.00")
    admin = gql.as_(world.tokens["admin_a"])

    # when
    first = (await admin.data(ENTRIES, {"first": 2}))["journalEntries"]
    rest = (await admin.data(ENTRIES, {"first": 2, "after": first["pageInfo"]["endCursor"]}))[
        "journalEntries"
    ]
    repayments = (await admin.data(ENTRIES, {"filter": {"kinds": ["REPAYMENT"]}}))["journalEntries"]

    # then: bank A's three entries, newest first; bank B's never
    assert first["totalCount"] == 3
    assert first["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["kind"] for e in first["edges"] + rest["edges"]] == [
        "REPAYMENT",
        "REPAYMENT",
        "DISBURSEMENT",
    ]
    assert rest["pageInfo"]["hasNextPage"] is False
    assert repayments["totalCount"] == 2


@pytest.mark.parametrize("viewer", ["risk_a", "owner_a"])
async def test_another_institutions_book_does_not_exist_for_the_viewer(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings, viewer: str
) -> None:
    # given
    world = await _books(db, settings)
    client = gql.as_(world.tokens[viewer])

    # when
    trial = await client.post(TRIAL, {"id": world.bank_b})
    listed = (await client.data(ENTRIES, {"filter": {"institutionId": world.bank_b}}))[
        "journalEntries"
    ]

    # then: exactly as for an institution that does not exist
    assert trial["data"] is None
    assert [e["extensions"]["code"] for e in trial["errors"]] == ["NOT_FOUND"]
    assert listed["totalCount"] == 0
    assert listed["edges"] == []


async def test_a_borrower_sees_no_book_even_of_its_own_loan(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    world = await _books(db, settings)

    # when
    listed = (await gql.as_(world.tokens["owner_a"]).data(ENTRIES))["journalEntries"]
    trial = await gql.as_(world.tokens["owner_a"]).post(TRIAL, {"id": world.bank_a})

    # then
    assert listed["totalCount"] == 0
    assert [e["extensions"]["code"] for e in trial["errors"]] == ["NOT_FOUND"]


async def test_a_loan_officer_is_refused_the_book_of_their_own_institution(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    world = await _books(db, settings)

    # when
    body = await gql.as_(world.tokens["officer_a"]).post(
        "query($id: ID!) { trialBalance(institutionId: $id) { balanced } }", {"id": world.bank_a}
    )

    # then
    assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}
    assert body["errors"][0]["path"] == ["trialBalance", "balanced"]


async def test_an_auditor_reads_every_institutions_book(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    world = await _books(db, settings)

    # when
    auditor = gql.as_(world.tokens["auditor"])
    trial = (await auditor.data(TRIAL, {"id": world.bank_b}))["trialBalance"]
    listed = (await auditor.data(ENTRIES))["journalEntries"]

    # then
    assert _balances(trial) == {"LOANS_RECEIVABLE": "12000.00", "CASH": "-12000.00"}
    assert listed["totalCount"] == 2


async def test_a_bad_institution_id_names_the_argument(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    world = await _books(db, settings)

    # when
    body = await gql.as_(world.tokens["risk_a"]).post(TRIAL, {"id": world.loan_a})

    # then
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]


REVERSE = """
mutation($input: ReverseRepaymentInput!) {
  reverseRepayment(input: $input) {
    __typename
    ... on RepaymentReversed {
      repayment { amount reversedOn reversalReason }
      loan { outstandingPrincipal repayments { amount reversedOn } }
    }
    ... on UserError { code message }
  }
}
"""


async def test_a_bounced_payment_is_reversed_in_the_loan_and_in_the_books(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: 400.00 taken on bank A's loan
    world = await _books(db, settings)
    await _repay(gql, world.tokens["officer_a"], world.loan_a, "400.00")
    officer = gql.as_(world.tokens["officer_a"])
    reverse = {"loanId": world.loan_a, "idempotencyKey": "k-400.00", "reason": "cheque bounced"}

    # when
    done = (await officer.data(REVERSE, {"input": reverse}))["reverseRepayment"]
    again = (await officer.data(REVERSE, {"input": reverse}))["reverseRepayment"]

    # then: the loan owes all of it again, and the books say so
    today = utcnow().date().isoformat()
    assert done["__typename"] == "RepaymentReversed"
    assert done["repayment"] == {
        "amount": "400.00",
        "reversedOn": today,
        "reversalReason": "cheque bounced",
    }
    assert done["loan"] == {
        "outstandingPrincipal": "12000.00",
        "repayments": [{"amount": "400.00", "reversedOn": today}],
    }
    assert (again["__typename"], again["code"]) == ("Conflict", "REPAYMENT_REVERSED")
    risk = gql.as_(world.tokens["risk_a"])
    trial = (await risk.data(TRIAL, {"id": world.bank_a}))["trialBalance"]
    entries = (await risk.data(ENTRIES, {"filter": {"loanId": world.loan_a}}))["journalEntries"]
    assert _balances(trial) == {"LOANS_RECEIVABLE": "12000.00", "CASH": "-12000.00"}
    reversal, repayment, _ = (e["node"] for e in entries["edges"])
    assert reversal["kind"] == "REVERSAL"
    assert reversal["reverses"] == {"id": repayment["id"]}
    assert repayment["reversedBy"] == {"id": reversal["id"]}
    assert reversal["lines"] == [
        {"account": "CASH", "glCode": "1000", "debit": "0.00", "credit": "400.00"},
        {"account": "LOANS_RECEIVABLE", "glCode": "1100", "debit": "400.00", "credit": "0.00"},
    ]


async def test_only_the_latest_payment_standing_is_reversed(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    world = await _books(db, settings)
    await _repay(gql, world.tokens["officer_a"], world.loan_a, "100.00")
    await _repay(gql, world.tokens["officer_a"], world.loan_a, "200.00")

    # when
    refused = (
        await gql.as_(world.tokens["officer_a"]).data(
            REVERSE,
            {"input": {"loanId": world.loan_a, "idempotencyKey": "k-100.00", "reason": "bounced"}},
        )
    )["reverseRepayment"]

    # then
    assert refused["__typename"] == "InvalidInput"
    assert "latest payment standing" in refused["message"]
