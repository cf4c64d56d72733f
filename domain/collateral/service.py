"""Collateral and guarantees of a loan: pledged, revalued, released; given, released.

Only the institution's credit staff (loan and risk officers, its admins: people, not
partner systems) change them, and only on loans of their own book (``staff_loan``:
another institution's loan is NOT_FOUND). Money is positive and to the cent; a value
is dated no later than today. What may happen when::

    item       PLEDGED --releaseCollateral--> RELEASED
                  |  \\--recordRecovery naming it (written-off loan)--> REALISED
                  +--revalueCollateral (the loan active or written off)
    guarantee  ACTIVE --releaseGuarantee--> RELEASED
                  \\--recordRecovery naming it (written-off loan)--> CALLED

Pledging and adding a guarantee need an active loan (a closed or sold loan takes no new
security); revaluing an active or written-off one (a written-off loan's collateral is
valued before it is realised). Releasing is allowed whatever the loan's state: it is a
business decision that only changes the loan's LGD at the next close. Every change is
one audit entry, in the change's transaction; a change made on a stale version (the
``expectedVersion`` a client read) is a CONFLICT.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.applications.service import Actor
from domain.audit import service as audit
from domain.collateral import repository
from domain.collateral.models import (
    MAX_DESCRIPTION,
    MAX_GUARANTOR_IDENTITY,
    MAX_GUARANTOR_NAME,
    MAX_SOURCE,
    CollateralItem,
    CollateralKind,
    CollateralStatus,
    CollateralValuation,
    Guarantee,
    GuaranteeKind,
    GuaranteeStatus,
)
from domain.contracts.service import staff_loan
from domain.identity.models import Role
from domain.lending.models import Loan, LoanStatus
from domain.lending.schedule import CENT
from kernel.base import new_id, utcnow
from kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from privacy import keystore, vault

# Who secures loans: the institution's credit staff, people (partner systems do not).
SECURERS = frozenset({Role.LOAN_OFFICER, Role.RISK_OFFICER, Role.INSTITUTION_ADMIN})


class InvalidSecurityTransition(InvalidInput):
    code = "INVALID_TRANSITION"

    def __init__(self, what: str, current: str, action: str) -> None:
        super().__init__(f"{what} that is {current} cannot be {action}", field="status")


def cents(amount: Decimal, field: str) -> Decimal:
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(CENT):
        raise InvalidInput(f"{field}: a positive amount in cents", field=field)
    return amount


def _text(value: str, field: str, longest: int) -> str:
    text = value.strip()
    if not 1 <= len(text) <= longest:
        raise InvalidInput(f"{field}: 1 to {longest} characters", field=field)
    return text


def _not_future(day: date, field: str) -> date:
    if day > utcnow().date():
        raise InvalidInput(f"{field}: today or earlier", field=field)
    return day


def _person(actor: Actor, doing: str) -> uuid.UUID:
    if actor.user_id is None:
        raise Forbidden(f"only a person may {doing}")
    return actor.user_id


def _loan_is(loan: Loan, states: frozenset[LoanStatus], doing: str) -> None:
    if loan.status not in states:
        raise InvalidInput(f"the loan is {loan.status.value}: cannot {doing}", field="loanId")


def _check_version(found: int, expected: int | None) -> None:
    if expected is not None and expected != found:
        raise Conflict("it changed since you read it; reload and try again")


def _audit(
    session: AsyncSession,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: uuid.UUID,
    **detail: Any,
) -> None:
    audit.record(
        session,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        actor_id=actor.user_id,
        request_id=actor.request_id,
        **detail,
    )


# --------------------------------------------------------------------------- collateral


@dataclass(frozen=True, slots=True)
class Valuation:
    market_value: Decimal
    valued_on: date
    source: str


def _valuation(v: Valuation) -> Valuation:
    return Valuation(
        market_value=cents(v.market_value, "marketValue"),
        valued_on=_not_future(v.valued_on, "valuedOn"),
        source=_text(v.source, "valuationSource", MAX_SOURCE),
    )


async def pledge_collateral(
    session: AsyncSession,
    actor: Actor,
    *,
    loan_id: uuid.UUID,
    kind: CollateralKind,
    description: str,
    valuation: Valuation,
) -> CollateralItem:
    user_id = _person(actor, "pledge collateral")
    loan = await staff_loan(session, actor, loan_id, roles=SECURERS, doing="pledge collateral")
    _loan_is(loan, frozenset({LoanStatus.ACTIVE}), "take new collateral")
    text = _text(description, "description", MAX_DESCRIPTION)
    v = _valuation(valuation)
    item = CollateralItem(
        id=new_id(),
        loan_id=loan.id,
        institution_id=loan.institution_id,
        enterprise_id=loan.enterprise_id,
        kind=kind,
        description=text,
        market_value=v.market_value,
        valued_on=v.valued_on,
        valuation_source=v.source,
        status=CollateralStatus.PLEDGED,
        pledged_by=user_id,
        pledged_at=utcnow(),
    )
    session.add(item)
    session.add(_valued(item, v, user_id))
    await session.flush()
    _audit(
        session,
        actor,
        "collateral.pledge",
        "CollateralItem",
        item.id,
        loan=str(loan.id),
        kind=kind.value,
        market_value=str(v.market_value),
        valued_on=v.valued_on.isoformat(),
        source=v.source,
    )
    return item


def _valued(item: CollateralItem, v: Valuation, user_id: uuid.UUID) -> CollateralValuation:
    return CollateralValuation(
        item_id=item.id,
        market_value=v.market_value,
        valued_on=v.valued_on,
        source=v.source,
        recorded_by=user_id,
        recorded_at=utcnow(),
    )


async def _item(
    session: AsyncSession, actor: Actor, item_id: uuid.UUID, doing: str
) -> tuple[CollateralItem, Loan]:
    found = await repository.items_by_ids(session, viewer=actor.viewer, ids=[item_id])
    if not found:
        raise NotFound("no such collateral item")
    loan = await staff_loan(session, actor, found[0].loan_id, roles=SECURERS, doing=doing)
    return found[0], loan


async def revalue_collateral(
    session: AsyncSession,
    actor: Actor,
    *,
    item_id: uuid.UUID,
    valuation: Valuation,
    expected_version: int | None = None,
) -> CollateralItem:
    """A new valuation becomes the item's value; the earlier ones stay readable."""
    user_id = _person(actor, "revalue collateral")
    item, loan = await _item(session, actor, item_id, "revalue collateral")
    _check_version(item.version, expected_version)
    _loan_is(loan, frozenset({LoanStatus.ACTIVE, LoanStatus.WRITTEN_OFF}), "revalue collateral")
    if item.status is not CollateralStatus.PLEDGED:
        raise InvalidSecurityTransition("an item", item.status.value, "revalued")
    v = _valuation(valuation)
    if v.valued_on < item.valued_on:
        raise InvalidInput(
            f"valuedOn: on or after the latest valuation ({item.valued_on.isoformat()})",
            field="valuedOn",
        )
    previous = item.market_value
    item.market_value, item.valued_on, item.valuation_source = v.market_value, v.valued_on, v.source
    session.add(_valued(item, v, user_id))
    await session.flush()  # the version column catches a concurrent change here
    _audit(
        session,
        actor,
        "collateral.revalue",
        "CollateralItem",
        item.id,
        previous_value=str(previous),
        market_value=str(v.market_value),
        valued_on=v.valued_on.isoformat(),
        source=v.source,
    )
    return item


async def release_collateral(
    session: AsyncSession,
    actor: Actor,
    *,
    item_id: uuid.UUID,
    expected_version: int | None = None,
) -> CollateralItem:
    _person(actor, "release collateral")
    item, _ = await _item(session, actor, item_id, "release collateral")
    _check_version(item.version, expected_version)
    if item.status is not CollateralStatus.PLEDGED:
        raise InvalidSecurityTransition("an item", item.status.value, "released")
    item.status = CollateralStatus.RELEASED
    item.ended_at = utcnow()
    await session.flush()
    _audit(
        session,
        actor,
        "collateral.release",
        "CollateralItem",
        item.id,
        from_state=CollateralStatus.PLEDGED.value,
        to_state=item.status.value,
        market_value=str(item.market_value),
    )
    return item


# --------------------------------------------------------------------------- guarantees


@dataclass(frozen=True, slots=True)
class Guarantor:
    name: str
    identity_number: str | None = None


async def add_guarantee(
    session: AsyncSession,
    actor: Actor,
    *,
    loan_id: uuid.UUID,
    kind: GuaranteeKind,
    guarantor: Guarantor,
    amount: Decimal,
) -> Guarantee:
    """The guarantor's name and identity number sealed under the borrowing enterprise's
    data key, each bound to the guarantee's row and column."""
    user_id = _person(actor, "add guarantees")
    loan = await staff_loan(session, actor, loan_id, roles=SECURERS, doing="add guarantees")
    _loan_is(loan, frozenset({LoanStatus.ACTIVE}), "take a new guarantee")
    name = _text(guarantor.name, "guarantorName", MAX_GUARANTOR_NAME)
    identity = None
    if guarantor.identity_number is not None:
        identity = _text(
            guarantor.identity_number, "guarantorIdentityNumber", MAX_GUARANTOR_IDENTITY
        )
    amount = cents(amount, "amount")
    key = (await keystore.unwrap_many(session, actor.keys, [loan.enterprise_id]))[
        loan.enterprise_id
    ]
    if key is None:
        raise InvalidInput(
            "the borrower's data was erased: no guarantor can be kept", field="guarantorName"
        )
    guarantee_id = new_id()

    def sealed(value: str, column: str) -> str:
        return vault.seal(key, value, table="loan_guarantees", column=column, row_id=guarantee_id)

    guarantee = Guarantee(
        id=guarantee_id,
        loan_id=loan.id,
        institution_id=loan.institution_id,
        enterprise_id=loan.enterprise_id,
        kind=kind,
        guarantor_name=sealed(name, "guarantor_name"),
        guarantor_identity=None if identity is None else sealed(identity, "guarantor_identity"),
        amount=amount,
        status=GuaranteeStatus.ACTIVE,
        added_by=user_id,
        added_at=utcnow(),
    )
    session.add(guarantee)
    await session.flush()
    # The guarantor's name stays out of the audit trail: it is personal data.
    _audit(
        session,
        actor,
        "guarantee.add",
        "Guarantee",
        guarantee.id,
        loan=str(loan.id),
        kind=kind.value,
        amount=str(amount),
    )
    return guarantee


async def _guarantee(
    session: AsyncSession, actor: Actor, guarantee_id: uuid.UUID, doing: str
) -> Guarantee:
    found = await repository.guarantees_by_ids(session, viewer=actor.viewer, ids=[guarantee_id])
    if not found:
        raise NotFound("no such guarantee")
    await staff_loan(session, actor, found[0].loan_id, roles=SECURERS, doing=doing)
    return found[0]


async def release_guarantee(
    session: AsyncSession,
    actor: Actor,
    *,
    guarantee_id: uuid.UUID,
    expected_version: int | None = None,
) -> Guarantee:
    _person(actor, "release guarantees")
    guarantee = await _guarantee(session, actor, guarantee_id, "release guarantees")
    _check_version(guarantee.version, expected_version)
    if guarantee.status is not GuaranteeStatus.ACTIVE:
        raise InvalidSecurityTransition("a guarantee", guarantee.status.value, "released")
    guarantee.status = GuaranteeStatus.RELEASED
    guarantee.ended_at = utcnow()
    await session.flush()
    _audit(
        session,
        actor,
        "guarantee.release",
        "Guarantee",
        guarantee.id,
        from_state=GuaranteeStatus.ACTIVE.value,
        to_state=guarantee.status.value,
    )
    return guarantee


# ------------------------------------------------------------------ realised in recovery


async def realised_in_recovery(
    session: AsyncSession,
    actor: Actor,
    loan: Loan,
    *,
    collateral_item_id: uuid.UUID | None,
    guarantee_id: uuid.UUID | None,
    recovery_id: uuid.UUID,
) -> None:
    """A recovery named the item it realised or the guarantee it called: that item is
    REALISED (the guarantee CALLED) in the recovery's transaction. It must secure the
    recovery's loan and still be PLEDGED (ACTIVE)."""
    if collateral_item_id is not None:
        items = await repository.items_by_ids(
            session, viewer=actor.viewer, ids=[collateral_item_id]
        )
        if not items or items[0].loan_id != loan.id:
            raise InvalidInput("no such collateral item of this loan", field="collateralItemId")
        item = items[0]
        if item.status is not CollateralStatus.PLEDGED:
            raise InvalidSecurityTransition("an item", item.status.value, "realised")
        item.status = CollateralStatus.REALISED
        item.ended_at = utcnow()
        await session.flush()
        _audit(
            session,
            actor,
            "collateral.realise",
            "CollateralItem",
            item.id,
            from_state=CollateralStatus.PLEDGED.value,
            to_state=item.status.value,
            recovery=str(recovery_id),
        )
    if guarantee_id is not None:
        found = await repository.guarantees_by_ids(session, viewer=actor.viewer, ids=[guarantee_id])
        if not found or found[0].loan_id != loan.id:
            raise InvalidInput("no such guarantee of this loan", field="guaranteeId")
        guarantee = found[0]
        if guarantee.status is not GuaranteeStatus.ACTIVE:
            raise InvalidSecurityTransition("a guarantee", guarantee.status.value, "called")
        guarantee.status = GuaranteeStatus.CALLED
        guarantee.ended_at = utcnow()
        await session.flush()
        _audit(
            session,
            actor,
            "guarantee.call",
            "Guarantee",
            guarantee.id,
            from_state=GuaranteeStatus.ACTIVE.value,
            to_state=guarantee.status.value,
            recovery=str(recovery_id),
        )
