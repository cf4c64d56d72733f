"""Applications with a believable history: assessments, decisions, and what to disburse."""

# Chinese text is written with its own, full-width punctuation.
# ruff: noqa: RUF001

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from domain.applications.models import ApplicationStatus, DecisionOutcome
from domain.products.models import RepaymentMethod
from seed.catalog import ProductInfo, Staff, moment, row_id
from seed.credit import grade_for, reasons, score_for, sigmoid
from seed.enterprises import Borrower

Row = dict[str, Any]
MODEL_VERSION = "seed-synthetic-1"
ASSESSMENT_NOISE = 0.35
_S = ApplicationStatus

# (weight, status) before the credit decision; DECIDED is split by the assessed PD.
_STAGES = ((6, _S.DRAFT), (6, _S.WITHDRAWN), (5, _S.SUBMITTED), (7, _S.UNDER_REVIEW),
           (4, _S.MORE_INFO_REQUESTED), (72, None))  # fmt: skip
_APPROVED_LATER = ((8, _S.APPROVED), (7, _S.CONTRACT_SIGNED), (85, _S.DISBURSED))
# Days before as_of in which the status' defining event falls (earliest, latest).
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
_APPROVE_ZH = ("经营稳定，还款来源充足，同意。", "财务状况良好，符合准入条件，同意。")
_APPROVE_EN = ("Stable operations and sufficient repayment capacity.", "Meets all criteria.")
_REJECT_ZH = (
    "资产负债率偏高，偿债能力不足。",
    "经营亏损，现金流无法覆盖还款。",
    "行业风险较高，暂不受理。",
)
_REJECT_EN = ("Leverage too high for the requested amount.", "Losses leave no repayment capacity.",
              "Sector risk outside appetite.")  # fmt: skip
_INFO_ZH = "请补充最近一期财务报表及主要客户合同。"
_INFO_EN = "Please provide the latest management accounts and main customer contracts."


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


@dataclass(slots=True)
class ApplicationRows:
    applications: list[Row] = field(default_factory=list)
    decisions: list[Row] = field(default_factory=list)
    assessments: list[Row] = field(default_factory=list)
    loans: list[LoanPlan] = field(default_factory=list)
    first_activity: datetime | None = None


def _pick(rng: random.Random, table: tuple[tuple[int, _S | None], ...]) -> _S | None:
    return rng.choices([s for _, s in table], weights=[w for w, _ in table])[0]


def _status(rng: random.Random, assessed_pd: float) -> ApplicationStatus:
    stage = _pick(rng, _STAGES)
    if stage is not None:
        return stage
    if rng.random() < min(0.08 + 2 * assessed_pd, 0.9):
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
    candidates: list[ProductInfo],
    staff: dict[uuid.UUID, Staff],
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
             chinese=chinese, as_of=as_of)  # fmt: skip
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
    chinese: bool,
    as_of: date,
) -> None:
    earliest, latest = _WINDOWS[status]
    lead = 30 if status is _S.DISBURSED else 1
    key_day = _day_between(
        rng,
        max(as_of - timedelta(days=earliest), borrower.registered_on + timedelta(days=lead)),
        as_of - timedelta(days=latest),
    )
    disbursed_on: date | None = None
    decided_day: date | None = None
    if status is _S.DISBURSED:
        disbursed_on = key_day
        decided_day = key_day - timedelta(days=rng.randint(2, 14))
        submitted_day = decided_day - timedelta(days=rng.randint(1, 10))
    elif status in (_S.APPROVED, _S.CONTRACT_SIGNED, _S.REJECTED, _S.APPEALED):
        submitted_day = key_day
        decided_day = key_day + timedelta(days=rng.randint(1, 4))
    else:
        submitted_day = key_day

    submitted_at = moment(rng, submitted_day)
    created_at = max(
        submitted_at - timedelta(days=rng.randint(0, 3), minutes=rng.randint(5, 180)),
        borrower.registered_at + timedelta(minutes=rng.randint(10, 60)),
    )
    decided_at = moment(rng, decided_day) if decided_day else None
    application_id = row_id(rng, created_at)
    amount = _amount(rng, product, borrower.revenue)
    term = _term(rng, product)
    method = rng.choice(product.methods)
    purposes = product.template.purposes_zh if chinese else product.template.purposes_en
    updated_at = decided_at or (created_at if status is _S.DRAFT else submitted_at)
    disbursed_at = moment(rng, disbursed_on) if disbursed_on else None
    out.applications.append(
        {
            "id": application_id,
            "enterprise_id": borrower.id,
            "product_id": product.id,
            "institution_id": product.institution_id,
            "amount": amount,
            "term_months": term,
            "repayment_method": method,
            "purpose": rng.choice(purposes),
            "status": status,
            "submitted_at": None if status is _S.DRAFT else submitted_at,
            "decided_at": decided_at,
            "updated_at": disbursed_at or updated_at,
            "version": 1,
            "created_at": created_at,
        }
    )
    if out.first_activity is None or created_at < out.first_activity:
        out.first_activity = created_at
    if status is _S.DRAFT:
        return

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
    _decide(rng, out, status, staff, application_id, assessment_id, submitted_day, decided_at,
            amount, chinese=chinese)  # fmt: skip

    if status is _S.DISBURSED:
        assert disbursed_on is not None
        assert disbursed_at is not None
        position = min(max(assessed_pd * 5 + rng.uniform(0, 0.25), 0.0), 1.0)
        rate = product.min_rate + (product.max_rate - product.min_rate) * Decimal(position)
        out.loans.append(
            LoanPlan(
                application_id=application_id,
                product=product,
                borrower=borrower,
                amount=amount,
                term_months=term,
                method=method,
                annual_rate=rate.quantize(Decimal("0.0001")),
                disbursed_on=disbursed_on,
                disbursed_at=disbursed_at,
            )
        )


def _decide(
    rng: random.Random,
    out: ApplicationRows,
    status: ApplicationStatus,
    staff: Staff,
    application_id: uuid.UUID,
    assessment_id: uuid.UUID,
    submitted_day: date,
    decided_at: datetime | None,
    amount: Decimal,
    *,
    chinese: bool,
) -> None:
    def add(officer: uuid.UUID, outcome: DecisionOutcome, text: str, at: datetime) -> None:
        out.decisions.append(
            {
                "id": row_id(rng, at),
                "application_id": application_id,
                "officer_id": officer,
                "outcome": outcome,
                "reasons": text,
                "risk_assessment_id": assessment_id,
                "created_at": at,
            }
        )

    if status is _S.MORE_INFO_REQUESTED:
        at = moment(rng, submitted_day + timedelta(days=rng.randint(1, 3)))
        add(rng.choice(staff.officers), DecisionOutcome.REQUEST_INFO,
            _INFO_ZH if chinese else _INFO_EN, at)  # fmt: skip
        return
    if decided_at is None:
        return
    if status in (_S.REJECTED, _S.APPEALED):
        text = rng.choice(_REJECT_ZH if chinese else _REJECT_EN)
        add(rng.choice(staff.officers), DecisionOutcome.REJECT, text, decided_at)
        return
    text = rng.choice(_APPROVE_ZH if chinese else _APPROVE_EN)
    officers = list(staff.officers)
    rng.shuffle(officers)
    if amount > staff.four_eyes_threshold:
        # Four eyes: a second, different officer confirms large approvals.
        first_at = decided_at - timedelta(minutes=rng.randint(30, 300))
        add(officers[0], DecisionOutcome.APPROVE, text, first_at)
        add(officers[1], DecisionOutcome.APPROVE, text, decided_at)
    else:
        add(officers[0], DecisionOutcome.APPROVE, text, decided_at)
