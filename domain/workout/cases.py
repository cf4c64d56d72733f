"""Workout cases: a loan in difficulty, the strategy to work it out, its owner and SLA.

States and moves (anything else is INVALID_TRANSITION)::

    OPEN --start--> IN_PROGRESS --resolve--> RESOLVED --close--> CLOSED
      |                 |
      +----cancel-------+--> CANCELLED

A case is opened by institution staff by hand, or by the disposal of an early-warning
alert with RESTRUCTURE, COLLECTION, WRITE_OFF_PROPOSAL, LEGAL_ACTION or SALE
(``open_for_alert``: the alert joins the loan's live case of that strategy, or opens
one). Its due day is the opening day plus the strategy's days in ``sla.csv``; a live
case past it is overdue.

Outcomes that change the loan reuse the services that change loans:

- RESTRUCTURING resolves when the borrower signs a forborne amendment through the
  existing amendment flow (``domain.contracts.service.accept_amendment`` calls
  ``amendment_signed`` here): the loan is flagged forborne, the case RESOLVED.
- WRITE_OFF resolves through ``domain.lending.service.write_off``.
- LEGAL_ACTION records its filing and charges its costs to the loan
  (``domain.workout.claims.record_legal_action``); JUDGMENT resolves it with the
  amount the court awarded (after the filing).
- SALE resolves as CLAIM_SOLD through ``domain.workout.claims.sell_claim``: the loan is
  closed as sold and the gain or loss booked, in the same transaction.
- COLLECTION records its outcome (and what was recovered).

Promises to pay are kept when the repayments standing between the day the promise was
made and its promised day add up to its amount; broken when that day passed without;
pending before. This is evaluated when read (from the repayments, so a reversal
counts), never stored: it is always current without a job.

Every state change is one audit entry; a change made on a stale version is a CONFLICT.
"""

from __future__ import annotations

import csv
import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Select, false, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from domain.applications.service import Actor
from domain.audit import service as audit
from domain.contracts.models import LoanAmendment
from domain.contracts.service import staff_loan
from domain.identity.models import Membership, Role
from domain.identity.viewer import Viewer
from domain.lending.models import Loan, LoanStatus, Repayment
from domain.lending.schedule import CENT
from domain.risk.models import DisposalAction, RiskAlert
from domain.workout.models import (
    LIVE_STATES,
    MAX_NOTE,
    CollectionContact,
    ContactChannel,
    ContactOutcome,
    PromiseToPay,
    WorkoutCase,
    WorkoutCaseAlert,
    WorkoutOutcome,
    WorkoutState,
    WorkoutStrategy,
)
from kernel.base import new_id, utcnow
from kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from kernel.pagination import Keyset, Page, page_from
from privacy import keystore, vault

NEWEST = Keyset("newest", (WorkoutCase.id,), descending=True)
# Who works cases: the institution's credit staff, people (partner systems do not).
WORKERS = frozenset({Role.LOAN_OFFICER, Role.RISK_OFFICER, Role.INSTITUTION_ADMIN})

# The alert disposals that open a case, and the strategy each opens.
FROM_DISPOSAL: dict[DisposalAction, WorkoutStrategy] = {
    DisposalAction.RESTRUCTURE: WorkoutStrategy.RESTRUCTURING,
    DisposalAction.COLLECTION: WorkoutStrategy.COLLECTION,
    DisposalAction.WRITE_OFF_PROPOSAL: WorkoutStrategy.WRITE_OFF,
    DisposalAction.LEGAL_ACTION: WorkoutStrategy.LEGAL_ACTION,
    DisposalAction.SALE: WorkoutStrategy.SALE,
}

# The outcomes a case of each strategy may be resolved with by hand. RESTRUCTURING has
# none: it resolves when the borrower signs the forborne amendment.
OUTCOMES: dict[WorkoutStrategy, frozenset[WorkoutOutcome]] = {
    WorkoutStrategy.RESTRUCTURING: frozenset(),
    WorkoutStrategy.WRITE_OFF: frozenset({WorkoutOutcome.WRITTEN_OFF}),
    WorkoutStrategy.COLLECTION: frozenset(
        {WorkoutOutcome.CURED, WorkoutOutcome.SETTLED, WorkoutOutcome.UNRECOVERABLE}
    ),
    WorkoutStrategy.LEGAL_ACTION: frozenset(
        {WorkoutOutcome.JUDGMENT, WorkoutOutcome.SETTLED, WorkoutOutcome.UNRECOVERABLE}
    ),
    WorkoutStrategy.SALE: frozenset({WorkoutOutcome.CLAIM_SOLD, WorkoutOutcome.UNRECOVERABLE}),
}


class InvalidCaseTransition(InvalidInput):
    code = "INVALID_TRANSITION"

    def __init__(self, current: WorkoutState, action: str) -> None:
        super().__init__(f"a case that is {current.value} cannot {action}", field="action")


@functools.cache
def sla_days() -> dict[WorkoutStrategy, int]:
    """Days from opening to the due day, per strategy, from ``sla.csv``."""
    found: dict[WorkoutStrategy, int] = {}
    with (Path(__file__).parent / "sla.csv").open(encoding="utf-8") as handle:
        rows = (line for line in handle if line.strip() and not line.startswith("#"))
        for strategy, days in csv.reader(rows, skipinitialspace=True):
            found[WorkoutStrategy(strategy.strip())] = int(days)
    missing = set(WorkoutStrategy) - set(found)
    if missing:
        raise RuntimeError(f"sla.csv has no days for {sorted(s.value for s in missing)}")
    return found


def due_on(strategy: WorkoutStrategy, opened_on: date) -> date:
    return opened_on + timedelta(days=sla_days()[strategy])


# --------------------------------------------------------------------------- reading


def _staff_institutions(viewer: Viewer) -> list[uuid.UUID]:
    return [i for i, roles in viewer.institution_roles.items() if roles & WORKERS]


def visible(viewer: Viewer, rows: Any = WorkoutCase) -> ColumnElement[bool]:
    """Credit staff see their institutions' cases; platform oversight sees all;
    borrowers and partner systems none."""
    if viewer.oversees_platform:
        return true()
    mine = _staff_institutions(viewer)
    if not mine:
        return false()
    column: ColumnElement[uuid.UUID] = rows.institution_id
    return column.in_(mine)


@dataclass(frozen=True, slots=True)
class CaseFilter:
    states: Sequence[WorkoutState] | None = None
    strategies: Sequence[WorkoutStrategy] | None = None
    owner_id: uuid.UUID | None = None
    loan_id: uuid.UUID | None = None
    overdue_on: date | None = None  # True: only live cases past due on this day
    not_overdue_on: date | None = None  # only cases not overdue on this day


def listing(viewer: Viewer, flt: CaseFilter) -> Select[Any]:
    stmt = select(WorkoutCase).where(visible(viewer))
    if flt.states:
        stmt = stmt.where(WorkoutCase.state.in_(flt.states))
    if flt.strategies:
        stmt = stmt.where(WorkoutCase.strategy.in_(flt.strategies))
    if flt.owner_id is not None:
        stmt = stmt.where(WorkoutCase.owner_id == flt.owner_id)
    if flt.loan_id is not None:
        stmt = stmt.where(WorkoutCase.loan_id == flt.loan_id)
    if flt.overdue_on is not None:
        stmt = stmt.where(WorkoutCase.state.in_(LIVE_STATES), WorkoutCase.due_on < flt.overdue_on)
    if flt.not_overdue_on is not None:
        stmt = stmt.where(
            (WorkoutCase.state.not_in(LIVE_STATES)) | (WorkoutCase.due_on >= flt.not_overdue_on)
        )
    return stmt


async def list_cases(
    session: AsyncSession, *, viewer: Viewer, flt: CaseFilter, first: int, after: Any
) -> Page[WorkoutCase]:
    stmt = NEWEST.apply(listing(viewer, flt), after=after, limit=first + 1)
    return page_from((await session.scalars(stmt)).all(), first)


async def count_cases(session: AsyncSession, *, viewer: Viewer, flt: CaseFilter) -> int:
    stmt = select(func.count()).select_from(listing(viewer, flt).subquery())
    return int((await session.execute(stmt)).scalar_one())


async def cases_by_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[WorkoutCase]:
    stmt = select(WorkoutCase).where(WorkoutCase.id.in_(ids), visible(viewer))
    return (await session.scalars(stmt)).all()


async def cases_by_alert_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> list[tuple[uuid.UUID, WorkoutCase]]:
    stmt = (
        select(WorkoutCaseAlert.alert_id, WorkoutCase)
        .join(WorkoutCase, WorkoutCase.id == WorkoutCaseAlert.case_id)
        .where(WorkoutCaseAlert.alert_id.in_(ids), visible(viewer))
    )
    return [(row[0], row[1]) for row in (await session.execute(stmt)).all()]


async def alert_ids_by_case_ids(
    session: AsyncSession, *, ids: Sequence[uuid.UUID]
) -> Sequence[WorkoutCaseAlert]:
    stmt = (
        select(WorkoutCaseAlert)
        .where(WorkoutCaseAlert.case_id.in_(ids))
        .order_by(WorkoutCaseAlert.case_id, WorkoutCaseAlert.alert_id)
    )
    return (await session.scalars(stmt)).all()


async def contacts_by_case_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[CollectionContact]:
    stmt = (
        select(CollectionContact)
        .where(CollectionContact.case_id.in_(ids), visible(viewer, CollectionContact))
        .order_by(CollectionContact.case_id, CollectionContact.contacted_at, CollectionContact.id)
    )
    return (await session.scalars(stmt)).all()


async def contacts_by_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[CollectionContact]:
    stmt = select(CollectionContact).where(
        CollectionContact.id.in_(ids), visible(viewer, CollectionContact)
    )
    return (await session.scalars(stmt)).all()


async def promises_by_case_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[PromiseToPay]:
    stmt = (
        select(PromiseToPay)
        .where(PromiseToPay.case_id.in_(ids), visible(viewer, PromiseToPay))
        .order_by(PromiseToPay.case_id, PromiseToPay.made_on, PromiseToPay.id)
    )
    return (await session.scalars(stmt)).all()


async def promises_by_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[PromiseToPay]:
    stmt = select(PromiseToPay).where(PromiseToPay.id.in_(ids), visible(viewer, PromiseToPay))
    return (await session.scalars(stmt)).all()


async def paid_towards(
    session: AsyncSession, promises: Sequence[PromiseToPay]
) -> dict[uuid.UUID, Decimal]:
    """For each promise, the repayments standing between the day it was made and its
    promised day (both included): one statement for a page of promises."""
    if not promises:
        return {}
    ids = [p.id for p in promises]
    stmt = (
        select(PromiseToPay.id, func.coalesce(func.sum(Repayment.amount), 0))
        .select_from(PromiseToPay)
        .outerjoin(
            Repayment,
            (Repayment.loan_id == PromiseToPay.loan_id)
            & (Repayment.paid_on >= PromiseToPay.made_on)
            & (Repayment.paid_on <= PromiseToPay.promised_on)
            & Repayment.reversed_on.is_(None),
        )
        .where(PromiseToPay.id.in_(ids))
        .group_by(PromiseToPay.id)
    )
    return {row[0]: Decimal(row[1]).quantize(CENT) for row in (await session.execute(stmt)).all()}


def promise_status(promise: PromiseToPay, paid: Decimal, *, today: date) -> str:
    """KEPT, BROKEN or PENDING: see the module docstring."""
    if paid >= promise.amount:
        return "KEPT"
    return "BROKEN" if today > promise.promised_on else "PENDING"


# --------------------------------------------------------------------------- working


async def case_for_work(session: AsyncSession, viewer: Viewer, case_id: uuid.UUID) -> WorkoutCase:
    """The case, seen by the viewer and worked by its institution's credit staff."""
    return await _case(session, viewer, case_id)


async def _case(session: AsyncSession, viewer: Viewer, case_id: uuid.UUID) -> WorkoutCase:
    found = await cases_by_ids(session, viewer=viewer, ids=[case_id])
    if not found:
        raise NotFound("no such workout case")
    case = found[0]
    if not viewer.institution_roles.get(case.institution_id, frozenset()) & WORKERS:
        raise Forbidden("a workout case is worked by its institution's credit staff")
    return case


async def _check_owner(
    session: AsyncSession, institution_id: uuid.UUID, owner_id: uuid.UUID
) -> None:
    stmt = select(Membership.id).where(
        Membership.user_id == owner_id,
        Membership.institution_id == institution_id,
        Membership.role.in_(WORKERS),
    )
    if (await session.scalar(stmt.limit(1))) is None:
        raise InvalidInput(
            "a case is owned by credit staff of the loan's institution", field="ownerId"
        )


def _audit(
    session: AsyncSession,
    case: WorkoutCase,
    action: str,
    *,
    actor_id: uuid.UUID | None,
    request_id: str | None,
    previous: WorkoutState | None,
    **detail: Any,
) -> None:
    audit.record(
        session,
        action=f"workout_case.{action}",
        entity_type="WorkoutCase",
        entity_id=case.id,
        actor_id=actor_id,
        request_id=request_id,
        from_state=previous.value if previous else None,
        to_state=case.state.value,
        strategy=case.strategy.value,
        **detail,
    )


async def _live_case(
    session: AsyncSession, loan_id: uuid.UUID, strategy: WorkoutStrategy | None = None
) -> WorkoutCase | None:
    stmt = select(WorkoutCase).where(
        WorkoutCase.loan_id == loan_id, WorkoutCase.state.in_(LIVE_STATES)
    )
    if strategy is not None:
        stmt = stmt.where(WorkoutCase.strategy == strategy)
    return (await session.scalars(stmt.order_by(WorkoutCase.id).limit(1))).first()


async def _new_case(
    session: AsyncSession,
    loan: Loan,
    strategy: WorkoutStrategy,
    *,
    owner_id: uuid.UUID | None,
    opened_by: uuid.UUID | None,
    request_id: str | None,
    alert_id: uuid.UUID | None = None,
) -> WorkoutCase:
    if loan.status is not LoanStatus.ACTIVE:
        raise InvalidInput(
            f"the loan is {loan.status.value}; a workout case is opened for an active loan",
            field="loanId",
        )
    if await _live_case(session, loan.id) is not None:
        raise Conflict("the loan already has a live workout case; work that one")
    if owner_id is not None:
        await _check_owner(session, loan.institution_id, owner_id)
    now = utcnow()
    case = WorkoutCase(
        id=new_id(),
        loan_id=loan.id,
        institution_id=loan.institution_id,
        enterprise_id=loan.enterprise_id,
        strategy=strategy,
        state=WorkoutState.OPEN,
        owner_id=owner_id,
        opened_by=opened_by,
        opened_at=now,
        due_on=due_on(strategy, now.date()),
    )
    session.add(case)
    await session.flush()
    _audit(
        session,
        case,
        "open",
        actor_id=opened_by,
        request_id=request_id,
        previous=None,
        loan=str(loan.id),
        alert=str(alert_id) if alert_id else None,
        due_on=case.due_on.isoformat(),
    )
    return case


async def open_case(
    session: AsyncSession,
    actor: Actor,
    *,
    loan_id: uuid.UUID,
    strategy: WorkoutStrategy,
    owner_id: uuid.UUID | None = None,
) -> WorkoutCase:
    """Staff open a case by hand (the owner is themselves unless they name another)."""
    if actor.user_id is None:
        raise Forbidden("workout cases are opened by people")
    loan = await staff_loan(session, actor, loan_id, roles=WORKERS, doing="open a workout case")
    return await _new_case(
        session,
        loan,
        strategy,
        owner_id=owner_id or actor.user_id,
        opened_by=actor.user_id,
        request_id=actor.request_id,
    )


async def open_for_alert(
    session: AsyncSession, viewer: Viewer, alert: RiskAlert, *, request_id: str | None
) -> WorkoutCase | None:
    """An alert disposed of with a workout disposal joins its loan's live case, or opens
    one of the disposal's strategy owned by the alert's assignee (else whoever disposed
    of it). Other disposals, and alerts of loans no longer active, open nothing."""
    if alert.disposal is None or alert.loan_id is None:
        return None
    strategy = FROM_DISPOSAL.get(alert.disposal)
    if strategy is None:
        return None
    loan = await session.get_one(Loan, alert.loan_id)
    case = await _live_case(session, loan.id)
    if case is None:
        if loan.status is not LoanStatus.ACTIVE:
            return None
        case = await _new_case(
            session,
            loan,
            strategy,
            owner_id=alert.assignee_id or viewer.user_id,
            opened_by=viewer.user_id,
            request_id=request_id,
            alert_id=alert.id,
        )
    linked = await session.scalar(
        select(WorkoutCaseAlert.id).where(WorkoutCaseAlert.alert_id == alert.id)
    )
    if linked is None:
        session.add(WorkoutCaseAlert(case_id=case.id, alert_id=alert.id))
        await session.flush()
    return case


@dataclass(frozen=True, slots=True)
class CaseChange:
    case_id: uuid.UUID
    action: str  # start, assign, resolve, close, cancel
    owner_id: uuid.UUID | None = None
    outcome: WorkoutOutcome | None = None
    recovered_amount: Decimal | None = None
    reason: str = ""
    expected_version: int | None = None
    judgment_amount: Decimal | None = None  # LEGAL_ACTION resolved as JUDGMENT
    buyer: str | None = None  # SALE resolved as CLAIM_SOLD
    sale_price: Decimal | None = None


_MOVES: dict[str, tuple[frozenset[WorkoutState], WorkoutState | None]] = {
    "start": (frozenset({WorkoutState.OPEN}), WorkoutState.IN_PROGRESS),
    "assign": (frozenset(LIVE_STATES), None),
    "resolve": (frozenset({WorkoutState.IN_PROGRESS}), WorkoutState.RESOLVED),
    "close": (frozenset({WorkoutState.RESOLVED}), WorkoutState.CLOSED),
    "cancel": (frozenset(LIVE_STATES), WorkoutState.CANCELLED),
}


async def update_case(session: AsyncSession, actor: Actor, change: CaseChange) -> WorkoutCase:
    if actor.user_id is None:
        raise Forbidden("workout cases are worked by people")
    case = await _case(session, actor.viewer, change.case_id)
    if change.expected_version is not None and change.expected_version != case.version:
        raise Conflict("the case changed since you read it; reload and try again")
    allowed, target = _MOVES[change.action]
    if case.state not in allowed:
        raise InvalidCaseTransition(case.state, change.action)
    previous = case.state
    detail: dict[str, Any] = {}
    now = utcnow()
    match change.action:
        case "assign":
            if change.owner_id is None:
                raise InvalidInput("say whom the case is assigned to", field="ownerId")
            await _check_owner(session, case.institution_id, change.owner_id)
            case.owner_id = change.owner_id
            detail["owner"] = str(change.owner_id)
        case "resolve":
            await _resolve(session, actor, case, change)
            case.resolved_at = now
            detail["outcome"] = case.outcome.value if case.outcome else None
        case "close":
            case.closed_at = now
        case "cancel":
            case.closed_at = now
    if target is not None:
        case.state = target
    await session.flush()  # the version column catches a concurrent change here
    _audit(
        session,
        case,
        change.action,
        actor_id=actor.user_id,
        request_id=actor.request_id,
        previous=previous,
        **detail,
    )
    return case


async def _resolve(
    session: AsyncSession, actor: Actor, case: WorkoutCase, change: CaseChange
) -> None:
    outcome = change.outcome
    if case.strategy is WorkoutStrategy.RESTRUCTURING:
        raise InvalidInput(
            "a restructuring resolves when the borrower signs a forborne amendment "
            "(proposeLoanAmendment with forborne: true); cancel the case otherwise",
            field="outcome",
        )
    if outcome is None or outcome not in OUTCOMES[case.strategy]:
        names = ", ".join(sorted(o.name for o in OUTCOMES[case.strategy]))
        raise InvalidInput(
            f"a {case.strategy.name} case resolves as one of {names}", field="outcome"
        )
    amount = change.recovered_amount
    if amount is not None and (
        not amount.is_finite() or amount < 0 or amount != amount.quantize(CENT)
    ):
        raise InvalidInput(
            "recoveredAmount: an amount in cents, not negative", field="recoveredAmount"
        )
    if case.strategy is WorkoutStrategy.WRITE_OFF:
        from domain.lending.service import write_off  # the write-off itself, reused

        await write_off(session, actor, case.loan_id, reason=change.reason)
    from domain.workout import claims  # it reads cases through this module

    if outcome is WorkoutOutcome.JUDGMENT:
        if case.filed_on is None:
            raise InvalidInput(
                "record the filing (recordLegalAction) before its judgment", field="outcome"
            )
        if change.judgment_amount is None:
            raise InvalidInput("say what the court awarded", field="judgmentAmount")
        case.judgment_amount = claims.cents(change.judgment_amount, "judgmentAmount")
    if outcome is WorkoutOutcome.CLAIM_SOLD:
        if change.buyer is None or change.sale_price is None:
            field = "buyer" if change.buyer is None else "saleAmount"
            raise InvalidInput("a sold claim names its buyer and price", field=field)
        await claims.sell_claim(session, actor, case, buyer=change.buyer, price=change.sale_price)
    case.outcome = outcome
    case.recovered_amount = amount


async def amendment_signed(
    session: AsyncSession, actor: Actor, loan: Loan, amendment: LoanAmendment
) -> None:
    """Called by the amendment flow when a borrower signs: a forborne amendment flags
    the loan forborne and resolves its live RESTRUCTURING case, in the same transaction."""
    if not amendment.forborne:
        return
    loan.forborne = True
    case = await _live_case(session, loan.id, WorkoutStrategy.RESTRUCTURING)
    if case is None:
        return
    previous = case.state
    case.state = WorkoutState.RESOLVED
    case.outcome = WorkoutOutcome.RESTRUCTURED
    case.amendment_id = amendment.id
    case.resolved_at = utcnow()
    await session.flush()
    _audit(
        session,
        case,
        "resolve",
        actor_id=actor.user_id,
        request_id=actor.request_id,
        previous=previous,
        outcome=WorkoutOutcome.RESTRUCTURED.value,
        amendment=str(amendment.id),
    )


async def record_contact(
    session: AsyncSession,
    actor: Actor,
    *,
    case_id: uuid.UUID,
    channel: ContactChannel,
    outcome: ContactOutcome,
    note: str = "",
) -> CollectionContact:
    """A contact attempt on a live case; its note sealed under the enterprise's key."""
    if actor.user_id is None:
        raise Forbidden("contacts are recorded by people")
    case = await _case(session, actor.viewer, case_id)
    if case.state not in LIVE_STATES:
        raise InvalidCaseTransition(case.state, "record contacts")
    text = note.strip()
    if len(text) > MAX_NOTE:
        raise InvalidInput(f"note: at most {MAX_NOTE} characters", field="note")
    contact_id = new_id()
    sealed = None
    if text:
        key = (await keystore.unwrap_many(session, actor.keys, [case.enterprise_id]))[
            case.enterprise_id
        ]
        if key is None:
            raise InvalidInput("the borrower's data was erased: no note can be kept", field="note")
        sealed = vault.seal(
            key, text, table="collection_contacts", column="note", row_id=contact_id
        )
    contact = CollectionContact(
        id=contact_id,
        case_id=case.id,
        institution_id=case.institution_id,
        enterprise_id=case.enterprise_id,
        channel=channel,
        outcome=outcome,
        note=sealed,
        contacted_at=utcnow(),
        recorded_by=actor.user_id,
    )
    session.add(contact)
    await session.flush()
    audit.record(
        session,
        action="workout_case.contact",
        entity_type="WorkoutCase",
        entity_id=case.id,
        actor_id=actor.user_id,
        request_id=actor.request_id,
        contact=str(contact.id),
        channel=channel.value,
        outcome=outcome.value,
    )
    return contact


async def record_promise(
    session: AsyncSession,
    actor: Actor,
    *,
    case_id: uuid.UUID,
    promised_on: date,
    amount: Decimal,
) -> PromiseToPay:
    if actor.user_id is None:
        raise Forbidden("promises are recorded by people")
    case = await _case(session, actor.viewer, case_id)
    if case.state not in LIVE_STATES:
        raise InvalidCaseTransition(case.state, "record promises")
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(CENT):
        raise InvalidInput("amount: a positive amount in cents", field="amount")
    today = utcnow().date()
    if promised_on < today:
        raise InvalidInput("promisedOn: today or later", field="promisedOn")
    promise = PromiseToPay(
        id=new_id(),
        case_id=case.id,
        institution_id=case.institution_id,
        loan_id=case.loan_id,
        made_on=today,
        promised_on=promised_on,
        amount=amount,
        recorded_by=actor.user_id,
    )
    session.add(promise)
    await session.flush()
    audit.record(
        session,
        action="workout_case.promise",
        entity_type="WorkoutCase",
        entity_id=case.id,
        actor_id=actor.user_id,
        request_id=actor.request_id,
        promise=str(promise.id),
        promised_on=promised_on.isoformat(),
        amount=str(amount),
    )
    return promise
