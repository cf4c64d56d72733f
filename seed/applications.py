"""Applications with a believable history: time line, assessments, decisions, contracts,
and what to disburse."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from domain.applications import states
from domain.applications.models import ApplicationStatus, DecisionOutcome
from domain.applications.states import DECISIONS, REACHED_BIT
from domain.products.models import RepaymentMethod
from seed.catalog import ProductInfo, Staff, row_id
from seed.credit import grade_for, reasons, score_for, sigmoid
from seed.enterprises import Borrower
from seed.history import CHINESE, ENGLISH, Lenders, instants, plan

Row = dict[str, Any]
MODEL_VERSION = "seed-synthetic-1"
ASSESSMENT_NOISE = 0.35
BASIS_POINT = Decimal("0.0001")
RATE_SCALE = Decimal("0.000001")
_S = ApplicationStatus

# (weight, status) before the credit decision; DECIDED is split by the assessed PD.
_STAGES = ((6, _S.DRAFT), (6, _S.WITHDRAWN), (5, _S.SUBMITTED), (7, _S.UNDER_REVIEW),
           (4, _S.MORE_INFO_REQUESTED), (72, None))  # fmt: skip
_APPROVED_LATER = ((8, _S.APPROVED), (7, _S.CONTRACT_SIGNED), (85, _S.DISBURSED))
# Days before as_of in which the move to the final status falls (earliest, latest); for a
# draft, the day it would have been submitted.
_WINDOWS = {
    _S.DRAFT: (60, 1),
    _S.SUBMITTED: (6, 1),
    _S.UNDER_REVIEW: (15, 2),
    _S.MORE_INFO_REQUESTED: (30, 4),
    _S.APPROVED: (40, 5),
    _S.CONTRACT_SIGNED: (50, 8),
    _S.REJECTED: (1000, 5),
    _S.APPEALED: (60, 8),
    _S.WITHDRAWN: (400, 3),
    _S.DISBURSED: (1095, 90),
}
_TERMS = (1, 2, 3, 6, 9, 12, 18, 24, 36, 48, 60)


@dataclass(frozen=True, slots=True)
class LoanPlan:
    application_id: uuid.UUID
    product: ProductInfo
    borrower: Borrower
    amount: Decimal
    term_months: int
    method: RepaymentMethod
    annual_rate: Decimal
    disbursed_on: date
    disbursed_at: datetime
    # The true log-odds of default of this loan, from the accounts seen when applied for.
    logit: float
    # (principal, interest, fee) of each instalment, as the signed contract says.
    instalments: tuple[tuple[Decimal, Decimal, Decimal], ...]


@dataclass(slots=True)
class ApplicationRows:
    applications: list[Row] = field(default_factory=list)
    decisions: list[Row] = field(default_factory=list)
    assessments: list[Row] = field(default_factory=list)
    transitions: list[Row] = field(default_factory=list)
    contracts: list[Row] = field(default_factory=list)
    loans: list[LoanPlan] = field(default_factory=list)


def _pick(rng: random.Random, table: tuple[tuple[int, _S | None], ...]) -> _S | None:
    return rng.choices([s for _, s in table], weights=[w for w, _ in table])[0]


def _status(rng: random.Random, assessed_pd: float) -> ApplicationStatus:
    stage = _pick(rng, _STAGES)
    if stage is not None:
        return stage
    if rng.random() < min(0.08 + 1.2 * assessed_pd, 0.9):
        return _S.APPEALED if rng.random() < 0.08 else _S.REJECTED
    status = _pick(rng, _APPROVED_LATER)
    assert status is not None
    return status


def _amount(rng: random.Random, product: ProductInfo, revenue: Decimal) -> Decimal:
    target = float(revenue) * rng.uniform(0.05, 0.35)
    step = 10_000 if target >= 100_000 else 1_000
    rounded = Decimal(max(round(target / step), 1) * step)
    return min(max(rounded, product.min_amount), product.max_amount).quantize(Decimal("0.01"))


def _term(rng: random.Random, product: ProductInfo) -> int:
    choices = [t for t in _TERMS if product.min_term <= t <= product.max_term]
    return rng.choice(choices) if choices else product.min_term


def _day_between(rng: random.Random, start: date, end: date) -> date:
    return start + timedelta(days=rng.randint(0, max((end - start).days, 0)))


def build_applications(
    rng: random.Random,
    *,
    borrower: Borrower,
    owner_id: uuid.UUID,
    candidates: list[ProductInfo],
    staff: dict[uuid.UUID, Staff],
    lenders: Lenders,
    forced: list[ApplicationStatus],
    chinese: bool,
    as_of: date,
) -> ApplicationRows:
    """1-4 applications; ``forced`` statuses are used up first (small seeds show them all)."""
    out = ApplicationRows()
    count = rng.choices((1, 2, 3, 4), weights=(45, 30, 15, 10))[0]
    for _ in range(count):
        product = rng.choice(candidates)
        assessed_pd = min(
            max(sigmoid(borrower.latent_logit + rng.gauss(0, ASSESSMENT_NOISE)), 0.0001), 0.9999
        )
        status = forced.pop(0) if forced else _status(rng, assessed_pd)
        _one(rng, out, borrower, product, staff[product.institution_id], status, assessed_pd,
             owner_id=owner_id, lenders=lenders, chinese=chinese, as_of=as_of)  # fmt: skip
    return out


def _one(
    rng: random.Random,
    out: ApplicationRows,
    borrower: Borrower,
    product: ProductInfo,
    staff: Staff,
    status: ApplicationStatus,
    assessed_pd: float,
    *,
    owner_id: uuid.UUID,
    lenders: Lenders,
    chinese: bool,
    as_of: date,
) -> None:
    amount = _amount(rng, product, borrower.revenue)
    term = _term(rng, product)
    method = rng.choice(product.methods)
    purpose = rng.choice(product.template.purposes_zh if chinese else product.template.purposes_en)
    four_eyes = amount > staff.four_eyes_threshold  # approving needs two officers
    texts = CHINESE if chinese else ENGLISH
    path = plan(rng, status, owner=owner_id, staff=staff, four_eyes=four_eyes, texts=texts)

    # The final status is reached on a day in its window; the path there starts after
    # the enterprise registered.
    earliest, latest = _WINDOWS[status]
    after_registration = borrower.registered_on + timedelta(days=1 + path.day)
    key_day = _day_between(
        rng,
        max(as_of - timedelta(days=earliest), after_registration),
        as_of - timedelta(days=latest),
    )
    submitted_day = key_day - timedelta(days=path.day)
    days = [submitted_day + timedelta(days=e.day) for e in path.events]
    times = instants(rng, [submitted_day, *days])
    submitted_at, event_times = times[0], times[1:]
    created_at = max(
        submitted_at - timedelta(days=rng.randint(0, 3), minutes=rng.randint(5, 180)),
        borrower.registered_at + timedelta(minutes=rng.randint(10, 60)),
    )
    application_id = row_id(rng, created_at)
    rate: Decimal | None = None
    if any(e.outcome is DecisionOutcome.APPROVE for e in path.events):
        # Priced for the risk assessed: riskier borrowers pay nearer the product's maximum.
        position = min(max(assessed_pd * 5 + rng.uniform(0, 0.25), 0.0), 1.0)
        spread = (product.max_rate - product.min_rate) * Decimal(position)
        # To the basis point, at the column's scale: the contract's terms say the rate as
        # the database gives it back, so they read the same as a live approval's.
        rate = (product.min_rate + spread).quantize(BASIS_POINT).quantize(RATE_SCALE)

    application: Row = {
        "id": application_id,
        "enterprise_id": borrower.id,
        "product_id": product.id,
        "institution_id": product.institution_id,
        "amount": amount,
        "term_months": term,
        "repayment_method": method,
        "purpose": purpose,
        "status": status,
        "submitted_at": None if status is _S.DRAFT else submitted_at,
        "decided_at": None,
        "reached": REACHED_BIT[_S.DRAFT],
        "first_decided_at": None,
        "approved_rate": rate,
        "pending_approval_by": None,
        "appeal_reason": None,
        "appealed_at": None,
        "updated_at": event_times[-1] if event_times else submitted_at,
        "version": 1,
        "created_at": created_at,
    }
    out.applications.append(application)
    out.transitions.append(_transition(rng, application_id, None, _S.DRAFT, owner_id, created_at))
    if status is _S.DRAFT:
        application["updated_at"] = created_at
        return
    out.transitions.append(
        _transition(rng, application_id, _S.DRAFT, _S.SUBMITTED, owner_id, submitted_at)
    )
    application["reached"] |= REACHED_BIT[_S.SUBMITTED]

    assessed_at = submitted_at + timedelta(seconds=rng.randint(5, 300))
    assessment_id = row_id(rng, assessed_at)
    out.assessments.append(
        {
            "id": assessment_id,
            "application_id": application_id,
            "enterprise_id": borrower.id,
            "probability_of_default": round(assessed_pd, 6),
            "score": score_for(assessed_pd),
            "grade": grade_for(assessed_pd),
            "reasons": reasons(borrower.ratios),
            "model_version": MODEL_VERSION,
            "assessed_at": assessed_at,
        }
    )

    current = _S.SUBMITTED
    contract: Row | None = None
    for event, at in zip(path.events, event_times, strict=True):
        if event.outcome is not None:
            assert event.actor is not None
            out.decisions.append(
                {
                    "id": row_id(rng, at),
                    "application_id": application_id,
                    "officer_id": event.actor,
                    "outcome": event.outcome,
                    "reasons": event.note,
                    "risk_assessment_id": assessment_id,
                    "on_appeal": event.on_appeal,
                    "awaits_second": event.awaits_second,
                    "annual_rate": rate if event.outcome is DecisionOutcome.APPROVE else None,
                    "created_at": at,
                }
            )
            # The first of four eyes waits; any other decision ends the wait.
            application["pending_approval_by"] = event.actor if event.awaits_second else None
        if event.status is None:
            continue
        states.check(current, event.status)
        out.transitions.append(
            _transition(rng, application_id, current, event.status, event.actor, at, event.note)
        )
        current = event.status
        application["reached"] |= REACHED_BIT[current]
        if event.status in DECISIONS:
            application["decided_at"] = at
            application["first_decided_at"] = application["first_decided_at"] or at
        if event.status is _S.APPROVED:
            contract = lenders.contract(application, contract_id=row_id(rng, at), generated_at=at)
            out.contracts.append(contract)
        elif event.status is _S.APPEALED:
            application["appeal_reason"] = event.note
            application["appealed_at"] = at
        elif event.status is _S.CONTRACT_SIGNED:
            assert contract is not None
            contract["accepted_at"] = at
            contract["accepted_by"] = owner_id
        elif event.status is _S.WITHDRAWN:
            application["pending_approval_by"] = None
    assert current is status

    if status is _S.DISBURSED:
        assert rate is not None
        assert contract is not None
        disbursed_at = event_times[-1]
        lines = contract["terms"]["instalments"]
        out.loans.append(
            LoanPlan(
                application_id=application_id,
                product=product,
                borrower=borrower,
                amount=amount,
                term_months=term,
                method=method,
                annual_rate=rate,
                disbursed_on=disbursed_at.date(),
                disbursed_at=disbursed_at,
                logit=borrower.logit_on(submitted_day),
                instalments=tuple(
                    (Decimal(line["principal"]), Decimal(line["interest"]), Decimal(line["fee"]))
                    for line in lines
                ),
            )
        )


def _transition(
    rng: random.Random,
    application_id: uuid.UUID,
    current: ApplicationStatus | None,
    target: ApplicationStatus,
    actor: uuid.UUID | None,
    at: datetime,
    note: str = "",
) -> Row:
    return {
        "id": row_id(rng, at),
        "application_id": application_id,
        "from_status": current,
        "to_status": target,
        "actor_id": actor,
        "at": at,
        "note": note,
    }
