"""The seeded loans' books: each loan's history posted to the ledger as servicing posts it.

Servicing posts a disbursement when money is paid out, a repayment entry for every
payment (``domain.ledger.loans.repayment_legs`` against the loan's sub-ledger at that
moment) and a write-off that takes off whatever the loan still carries. The seed builds
the same entries, with the same legs and under the same sources, so a later accrual,
month-end close or retried payment finds them and posts nothing twice.

Accrual and true-up: the seeded loans carry no accrual marker (``Loan.accrued_through``
is empty, as for a loan no accrual ran on) and no late fees or penalty interest, so the
servicing balances they must equal (``domain.lending.charges.expected``) hold principal
alone; every ``true_up`` a payment would call finds nothing to move, and the first
accrual run books the interest earned from the payout on, as it would for any loan.

Rows are written in bulk with the rest of the population, not through
``domain.ledger.service.post_many``, because the seed is repeatable, ids included:
ids come from a generator of their own (seeded from the population's seed, so the
population's own draws are the same with or without its books) and each entry is
stamped with the moment of the movement it books. Charts of accounts are opened as
``domain.ledger.repository.account_ids`` opens them: every account of ``CHART``.
"""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from domain.ledger import loans as servicing
from domain.ledger.chart import CHART, AccountCode
from domain.ledger.models import EntryKind
from domain.ledger.service import Leg, Posting
from seed.catalog import row_id
from seed.loans import LoanRows

Row = dict[str, Any]
ZERO = Decimal("0.00")


class Books:
    """Builds the ledger rows of a seeded population, batch by batch."""

    def __init__(self, seed: int) -> None:
        # A generator apart from the population's: booking draws nothing from it.
        self._rng = random.Random(f"ledger:{seed}")
        self._accounts: dict[tuple[uuid.UUID, AccountCode], uuid.UUID] = {}
        self._day_totals: dict[tuple[uuid.UUID, date], tuple[Decimal, Decimal]] = {}

    def open_charts(self, institutions: Sequence[Row]) -> list[Row]:
        """Every institution's chart of accounts, as the first posting would open it."""
        rows = []
        for institution in institutions:
            for spec in CHART:
                account_id = row_id(self._rng, institution["created_at"])
                self._accounts[(institution["id"], spec.code)] = account_id
                rows.append(
                    {
                        "id": account_id,
                        "institution_id": institution["id"],
                        "code": spec.code,
                        "gl_code": spec.gl_code,
                        "name": spec.name,
                    }
                )
        return rows

    def book(self, made: LoanRows) -> tuple[list[Row], list[Row]]:
        """The loan's journal entries and lines, in the order servicing posts them."""
        loan = made.loan
        institution_id = loan["institution_id"]
        balances: dict[AccountCode, Decimal] = defaultdict(lambda: ZERO)
        entries: list[Row] = []
        lines: list[Row] = []

        def post(kind: EntryKind, on: date, at: datetime, source: str, legs: list[Leg]) -> None:
            posting = Posting(
                institution_id=institution_id,
                kind=kind,
                effective_on=on,
                source=source,
                legs=legs,
                loan_id=loan["id"],
            )
            if not posting.kept:
                return
            entry_id = row_id(self._rng, at)
            entries.append(
                {
                    "id": entry_id,
                    "created_at": at,
                    "institution_id": institution_id,
                    "loan_id": loan["id"],
                    "kind": kind,
                    "effective_on": on,
                    "source": source,
                    "reverses_id": None,
                    "memo": None,
                    "posted_by": None,
                }
            )
            for leg in posting.kept:
                account = self._accounts[(institution_id, leg.account)]
                lines.append(
                    {
                        "id": row_id(self._rng, at),
                        "entry_id": entry_id,
                        "account_id": account,
                        "loan_id": loan["id"],
                        "debit": leg.debit_amount,
                        "credit": leg.credit_amount,
                    }
                )
                balances[leg.account] += leg.debit_amount - leg.credit_amount
                debit, credit = self._day_totals.get((account, on), (ZERO, ZERO))
                self._day_totals[(account, on)] = (
                    debit + leg.debit_amount,
                    credit + leg.credit_amount,
                )

        post(
            EntryKind.DISBURSEMENT,
            loan["disbursed_on"],
            loan["created_at"],
            servicing.disbursement_source(loan["id"]),
            servicing.disbursement_legs(loan["principal"]),
        )
        written_off_on: date | None = loan["written_off_on"]
        for repayment in made.repayments:
            if written_off_on is not None and repayment["paid_on"] > written_off_on:
                # Servicing takes no payment on a loan written off (a recovery would).
                raise ValueError(f"seeded loan {loan['id']} is paid after its write-off")
            post(
                EntryKind.REPAYMENT,
                repayment["paid_on"],
                repayment["created_at"],
                servicing.repayment_source(repayment["id"]),
                servicing.repayment_legs(
                    balances,
                    principal=repayment["principal_part"],
                    interest=repayment["interest_part"],
                    fee=repayment["fee_part"],
                ),
            )
        if written_off_on is not None:
            post(
                EntryKind.WRITE_OFF,
                written_off_on,
                datetime.combine(written_off_on, time(0, 0), tzinfo=UTC),  # the night's run
                servicing.write_off_source(loan["id"]),
                servicing.write_off_legs(balances),
            )
        return entries, lines

    def day_totals(self) -> list[Row]:
        """Each account's debits and credits per effective day, as posting keeps them."""
        return [
            {"account_id": account, "day": day, "debit": debit, "credit": credit}
            for (account, day), (debit, credit) in sorted(self._day_totals.items())
        ]
