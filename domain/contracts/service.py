"""Changing a signed loan contract: the institution proposes, the borrower signs.

A proposal freezes the new terms (the whole schedule after the change) as JSON and
hashes them, as an approval does for the original contract; the borrower accepts by
sending that hash back. The terms are computed from the loan's schedule at the time of
the proposal: if a payment or another change moves the schedule before the borrower
signs, the terms are stale and cannot be signed (``TermsChanged``). A newer proposal
withdraws the one still waiting.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified

from domain.applications import repository as applications
from domain.applications.errors import TermsChanged
from domain.applications.models import Contract
from domain.applications.service import Actor, require_role, terms_hash
from domain.audit.service import record
from domain.contracts import repository as repo
from domain.contracts.amendment import Amended, Change, HolidayInterest, amend
from domain.contracts.models import AmendmentStatus, ContractVersion, LoanAmendment
from domain.enterprises.service import owned_enterprise
from domain.identity.models import Role
from domain.ledger import service as ledger
from domain.ledger.chart import AccountCode
from domain.ledger.models import EntryKind
from domain.ledger.service import Leg
from domain.lending import charges
from domain.lending import repayment as money
from domain.lending import repository as lending
from domain.lending.delinquency import bucket_for, days_past_due
from domain.lending.models import Installment, Loan, LoanStatus
from domain.lending.schedule import ZERO
from domain.lending.service import day_count_of, line_of
from kernel import formats
from kernel.base import new_id, utcnow
from kernel.errors import Forbidden, InvalidInput, NotFound

# Who proposes changes to a contract: credit staff of the lending institution, people.
PROPOSERS = frozenset({Role.LOAN_OFFICER, Role.INSTITUTION_ADMIN, Role.RISK_OFFICER})
MAX_REASON = 2000


@dataclass(frozen=True, slots=True)
class Proposal:
    change: Change
    reason: str
    forborne: bool = False


async def propose_amendment(
    session: AsyncSession, actor: Actor, loan_id: uuid.UUID, proposal: Proposal
) -> LoanAmendment:
    """Offer the borrower new terms for an active loan, from ``change.effective_on``."""
    loan = await staff_loan(session, actor, loan_id, roles=PROPOSERS, doing="amend a contract")
    proposer = _person(actor, "propose an amendment")
    if loan.status is not LoanStatus.ACTIVE:
        raise InvalidInput(
            f"the loan is {loan.status.value}; only an active loan's contract is amended",
            field="loanId",
        )
    reason = proposal.reason.strip()
    if not 10 <= len(reason) <= MAX_REASON:
        raise InvalidInput(
            f"reason: 10 to {MAX_REASON} characters; say why the contract changes", field="reason"
        )
    today = utcnow().date()
    change = proposal.change
    if change.effective_on < today:
        raise InvalidInput("effectiveOn: today or later", field="effectiveOn")
    lines = await _lines(session, loan.id)
    amended = amend(
        lines,
        annual_rate=loan.annual_rate,
        method=loan.repayment_method,
        change=change,
        day_count=await day_count_of(session, loan),
        disbursed_on=loan.disbursed_on,
    )
    current = await _current_version(session, loan)
    number = current.number + 1
    terms = amended_terms(loan, amended, change=change, amends=current, number=number)
    terms["forborne"] = proposal.forborne
    now = utcnow()
    await repo.withdraw_pending(session, loan_id=loan.id, at=now)
    amendment = LoanAmendment(
        id=new_id(),
        loan_id=loan.id,
        institution_id=loan.institution_id,
        status=AmendmentStatus.PROPOSED,
        effective_on=change.effective_on,
        annual_rate=change.annual_rate,
        extra_months=change.extra_months,
        holiday_months=change.holiday_months,
        holiday_interest=change.holiday_interest if change.holiday_months else None,
        instalment=change.instalment,
        top_up=change.top_up,
        forborne=proposal.forborne,
        reason=reason,
        terms=terms,
        terms_hash=terms_hash(terms),
        basis_hash=basis_hash(lines),
        contract_version=number,
        proposed_by=proposer,
        proposed_at=now,
    )
    session.add(amendment)
    await session.flush()
    record(
        session,
        action="loan.amendment_proposed",
        entity_type="loan",
        entity_id=loan.id,
        actor_id=proposer,
        request_id=actor.request_id,
        amendment=str(amendment.id),
        kinds=list(change.kinds),
        effective_on=change.effective_on.isoformat(),
        forborne=proposal.forborne,
    )
    return amendment


@dataclass(frozen=True, slots=True)
class Accepted:
    amendment: LoanAmendment
    loan: Loan
    version: ContractVersion


async def accept_amendment(
    session: AsyncSession, actor: Actor, amendment_id: uuid.UUID, *, terms_hash_given: str
) -> Accepted:
    """The borrower signs the proposed terms by their hash; the loan runs on them."""
    found = await repo.amendments_by_ids(session, viewer=actor.viewer, ids=[amendment_id])
    if not found:
        raise NotFound("no such amendment")
    amendment = found[0]
    loan = await session.get_one(Loan, amendment.loan_id)
    await owned_enterprise(session, actor.viewer, loan.enterprise_id, doing="sign for the borrower")
    if amendment.status is not AmendmentStatus.PROPOSED:
        raise InvalidInput(
            f"the amendment is {amendment.status.value}; only a proposal is signed",
            field="amendmentId",
        )
    if terms_hash_given.strip().lower() != amendment.terms_hash:
        raise TermsChanged(
            "the terms you accepted are not the terms on offer; read the amendment again"
        )
    if loan.status is not LoanStatus.ACTIVE:
        raise InvalidInput(f"the loan is {loan.status.value}; it is no longer amended")
    today = utcnow().date()
    if amendment.effective_on < today:
        raise TermsChanged("the amendment's effective date has passed; ask for new terms")
    rows = await lending.installments_of(session, loan.id)
    lines = [line_of(row) for row in rows]
    if basis_hash(lines) != amendment.basis_hash:
        raise TermsChanged(
            "the loan's schedule moved since these terms were proposed; ask for new terms"
        )
    change = change_of(amendment)
    amended = amend(
        lines,
        annual_rate=loan.annual_rate,
        method=loan.repayment_method,
        change=change,
        day_count=await day_count_of(session, loan),
        disbursed_on=loan.disbursed_on,
    )
    await _first_version_stored(session, loan, lines)
    now = utcnow()
    await _rebook(session, loan, rows, amended, today=today)
    amendment.status = AmendmentStatus.ACCEPTED
    amendment.accepted_by = actor.user_id
    amendment.accepted_at = now
    version = ContractVersion(
        loan_id=loan.id,
        number=amendment.contract_version,
        effective_on=amendment.effective_on,
        terms=amendment.terms,
        terms_hash=amendment.terms_hash,
        amendment_id=amendment.id,
        signed_at=now,
        recorded_at=now,
    )
    session.add(version)
    await session.flush()
    await amendment_booked(session, actor, loan, amendment, amended)
    await charges.true_up(
        session, loan, source=f"amendment:{amendment.id}:accrual", on=amendment.effective_on
    )

    # Forbearance: the loan is flagged, and a live restructuring case resolves.
    from domain.workout import cases as workout  # it builds on this module

    await workout.amendment_signed(session, actor, loan, amendment)
    return Accepted(amendment=amendment, loan=loan, version=version)


async def amendment_booked(
    session: AsyncSession, actor: Actor, loan: Loan, amendment: LoanAmendment, amended: Amended
) -> None:
    """The money an accepted amendment moves, posted in the amendment's transaction: a
    top-up is paid out (loans receivable against cash); holiday interest capitalised
    into principal raises loans receivable against suspense, where it waits unearned
    (it is not income until the holiday's months pass)."""
    await ledger.post(
        session,
        institution_id=loan.institution_id,
        loan_id=loan.id,
        kind=EntryKind.AMENDMENT,
        effective_on=amendment.effective_on,
        source=f"amendment:{amendment.id}",
        legs=[
            Leg.debit(AccountCode.LOANS_RECEIVABLE, amended.principal_added),
            Leg.credit(AccountCode.CASH, amended.top_up),
            Leg.credit(AccountCode.SUSPENSE, amended.capitalised_interest),
        ],
        memo=f"contract version {amendment.contract_version}",
        actor_id=actor.user_id,
    )
    record(
        session,
        action="loan.amended",
        entity_type="loan",
        entity_id=loan.id,
        actor_id=actor.user_id,
        request_id=actor.request_id,
        amendment=str(amendment.id),
        contract_version=amendment.contract_version,
        top_up=formats.money(amended.top_up),
        capitalised_interest=formats.money(amended.capitalised_interest),
        deferred_interest=formats.money(amended.deferred_interest),
        forborne=amendment.forborne,
    )


# ---------------------------------------------------------------------- contract versions


def first_version(
    loan: Loan, contract: Contract | None, lines: Sequence[money.Line]
) -> ContractVersion:
    """Version 1: the contract signed at origination, effective from the payout.

    A loan booked without a contract row (an imported or seeded book) gets the terms
    it was booked with instead, read from its schedule, so every loan has a version 1.
    """
    if contract is not None:
        terms, signed_at = contract.terms, contract.accepted_at
    else:
        terms = {
            "loan": formats.global_id("Loan", loan.id),
            "principal": formats.money(loan.principal),
            "annual_rate": formats.rate(loan.annual_rate),
            "term_months": loan.term_months,
            "repayment_method": loan.repayment_method.value,
            "instalments": _instalments(lines),
        }
        signed_at = None
    return ContractVersion(
        loan_id=loan.id,
        number=1,
        effective_on=loan.disbursed_on,
        terms=terms,
        terms_hash=terms_hash(terms),
        amendment_id=None,
        signed_at=signed_at,
        recorded_at=signed_at or loan.created_at,
    )


async def versions_of_loans(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> list[ContractVersion]:
    """Every version of each loan's contract, oldest first; a loan never amended has its
    version 1 (the signed contract), made up as the first amendment will store it."""
    stored = list(await repo.versions_by_loan_ids(session, ids=ids))
    have = {row.loan_id for row in stored}
    missing = [i for i in ids if i not in have]
    if not missing:
        return stored
    loans = (await session.scalars(select(Loan).where(Loan.id.in_(missing)))).all()
    contracts = {
        c.application_id: c
        for c in await applications.contracts_by_application_ids(
            session, ids=[loan.application_id for loan in loans]
        )
    }
    lines: dict[uuid.UUID, list[money.Line]] = {}
    for row in await lending.installments_by_loan_ids(session, ids=missing):
        lines.setdefault(row.loan_id, []).append(line_of(row))
    made = [
        first_version(loan, contracts.get(loan.application_id), lines.get(loan.id, []))
        for loan in loans
    ]
    return stored + made


def amended_terms(
    loan: Loan, amended: Amended, *, change: Change, amends: ContractVersion, number: int
) -> dict[str, Any]:
    """The terms an amendment offers, written as the API writes them (``kernel.formats``)."""
    principal = sum((line.principal_due for line in amended.lines), ZERO)
    changes: dict[str, Any] = {}
    if change.annual_rate is not None:
        changes["annual_rate"] = formats.rate(change.annual_rate)
    if change.extra_months:
        changes["extra_months"] = change.extra_months
    if change.holiday_months:
        changes["payment_holiday"] = {
            "months": change.holiday_months,
            "interest": change.holiday_interest.value,
        }
    if change.instalment is not None:
        changes["instalment"] = formats.money(change.instalment)
    if change.top_up:
        changes["top_up"] = formats.money(change.top_up)
    return {
        "loan": formats.global_id("Loan", loan.id),
        "contract_version": number,
        "amends": {"version": amends.number, "terms_hash": amends.terms_hash},
        "effective_on": change.effective_on.isoformat(),
        "changes": changes,
        "principal": formats.money(principal),
        "annual_rate": formats.rate(amended.annual_rate),
        "term_months": len(amended.lines),
        "repayment_method": loan.repayment_method.value,
        "capitalised_interest": formats.money(amended.capitalised_interest),
        "deferred_interest": formats.money(amended.deferred_interest),
        "instalments": _instalments(amended.lines),
        "total_repaid": formats.money(sum((_due(line) for line in amended.lines), ZERO)),
    }


def _due(line: money.Line) -> Decimal:
    return line.principal_due + line.interest_due + line.fee_due


def _instalments(lines: Sequence[money.Line]) -> list[dict[str, Any]]:
    return [
        {
            "sequence": line.sequence,
            "due_on": line.due_on.isoformat(),
            "principal": formats.money(line.principal_due),
            "interest": formats.money(line.interest_due),
            "fee": formats.money(line.fee_due),
        }
        for line in lines
    ]


def basis_hash(lines: Sequence[money.Line]) -> str:
    """What the schedule is now, paid amounts included: terms computed from it hold only
    while it stays exactly so."""
    return terms_hash(
        {
            "lines": [
                [
                    line.sequence,
                    line.due_on.isoformat(),
                    *(
                        formats.money(v)
                        for v in (
                            line.principal_due,
                            line.interest_due,
                            line.fee_due,
                            line.principal_paid,
                            line.interest_paid,
                            line.fee_paid,
                        )
                    ),
                ]
                for line in sorted(lines, key=lambda line: line.sequence)
            ]
        }
    )


def change_of(amendment: LoanAmendment) -> Change:
    return Change(
        effective_on=amendment.effective_on,
        annual_rate=amendment.annual_rate,
        extra_months=amendment.extra_months,
        holiday_months=amendment.holiday_months,
        holiday_interest=amendment.holiday_interest or HolidayInterest.CAPITALISED,
        instalment=amendment.instalment,
        top_up=amendment.top_up,
    )


# -------------------------------------------------------------------------------- helpers


async def staff_loan(
    session: AsyncSession,
    actor: Actor,
    loan_id: uuid.UUID,
    *,
    roles: frozenset[Role],
    doing: str,
) -> Loan:
    """A loan the viewer sees, of an institution where they hold one of ``roles``."""
    found = await lending.loans_by_ids(session, viewer=actor.viewer, ids=[loan_id])
    if not found:
        raise NotFound("no such loan")
    require_role(actor.viewer, found[0].institution_id, roles, doing)
    return found[0]


def _person(actor: Actor, doing: str) -> uuid.UUID:
    if actor.user_id is None:
        raise Forbidden(f"only a person may {doing}")
    return actor.user_id


async def _lines(session: AsyncSession, loan_id: uuid.UUID) -> list[money.Line]:
    return [line_of(row) for row in await lending.installments_of(session, loan_id)]


async def _current_version(session: AsyncSession, loan: Loan) -> ContractVersion:
    latest = await repo.latest_version(session, loan.id)
    if latest is not None:
        return latest
    contract = await applications.contract_of(session, loan.application_id)
    return first_version(loan, contract, await _lines(session, loan.id))


async def _first_version_stored(
    session: AsyncSession, loan: Loan, lines: Sequence[money.Line]
) -> None:
    if await repo.latest_version(session, loan.id) is None:
        contract = await applications.contract_of(session, loan.application_id)
        session.add(first_version(loan, contract, lines))


async def _rebook(
    session: AsyncSession,
    loan: Loan,
    rows: Sequence[Installment],
    amended: Amended,
    *,
    today: date,
) -> None:
    """Replace the instalments from the first rebuilt one; carry the loan's figures."""
    await session.execute(
        delete(Installment)
        .where(Installment.loan_id == loan.id, Installment.sequence >= amended.first_rebuilt)
        .execution_options(synchronize_session=False)
    )
    for row in rows:
        if row.sequence >= amended.first_rebuilt:
            session.expunge(row)
    new = [line for line in amended.lines if line.sequence >= amended.first_rebuilt]
    await session.execute(
        insert(Installment),
        [
            {
                "id": new_id(),
                "loan_id": loan.id,
                "sequence": line.sequence,
                "due_on": line.due_on,
                "principal_due": line.principal_due,
                "interest_due": line.interest_due,
                "fee_due": line.fee_due,
                "principal_paid": line.principal_paid,
                "interest_paid": line.interest_paid,
                "fee_paid": line.fee_paid,
                # Nothing owed (a holiday month, or principal prepaid): settled already.
                "settled_on": today if line.settled else None,
            }
            for line in new
        ],
    )
    loan.annual_rate = amended.annual_rate
    loan.principal += amended.principal_added
    loan.outstanding_principal += amended.principal_added
    flag_modified(loan, "outstanding_principal")  # the version moves with every amendment
    loan.term_months = len(amended.lines)
    loan.maturity_on = max(line.due_on for line in amended.lines)
    unpaid = [line.due_on for line in amended.lines if not line.settled]
    loan.days_past_due = days_past_due(unpaid, as_of=max(today, loan.aged_on or today))
    loan.delinquency_bucket = bucket_for(loan.days_past_due)
