"""What-if on an application: the PD, grade, price and expected loss other terms would bring.

``outcome`` is a pure function over the scoring and pricing code: the application's
feature inputs with another request (amount, term, repayment method) are scored by the
champion, the product is priced for those terms, and the expected loss follows from a
loss-given-default that collateral lowers. Nothing is stored; ``what_if`` only reads.

Loss given default (assumptions, after Basel III's foundation IRB approach): 45% on the
unsecured part; 25% on the part covered by physical collateral, which covers exposure
only after a 40% haircut (a collateral value of 140 secures 100 of exposure). Expected
loss = PD x exposure x LGD, over the amount lent.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.applications import repository as applications
from domain.applications.service import REVIEWERS
from domain.identity.models import Role
from domain.identity.viewer import Viewer
from domain.lending.schedule import CENT
from domain.products import repository as products
from domain.products.models import Product, RepaymentMethod
from domain.products.pricing import Quote, quote, why_not
from domain.risk.assessment import FeatureInputs, Scoring, feature_inputs
from kernel.errors import Forbidden, InvalidInput, NotFound
from scoring.inference import Scorer
from scoring.models import ModelStatus

LGD_UNSECURED = Decimal("0.45")
LGD_SECURED = Decimal("0.25")
COLLATERAL_COVER = Decimal("1.4")  # collateral needed per unit of exposure it secures
WHAT_IF_ROLES = REVIEWERS | {Role.RISK_OFFICER}


@dataclass(frozen=True, slots=True)
class Scenario:
    amount: Decimal
    term_months: int
    repayment_method: RepaymentMethod
    collateral_value: Decimal = Decimal("0.00")


@dataclass(frozen=True, slots=True)
class Outcome:
    scenario: Scenario
    probability_of_default: float
    score: int
    grade: str
    reasons: list[dict[str, Any]]
    quote: Quote
    loss_given_default: Decimal
    expected_loss: Decimal
    outside_product: tuple[str, ...]  # why the product would not take these terms


def loss_given_default(amount: Decimal, collateral_value: Decimal) -> Decimal:
    """LGD of a loan of ``amount`` with collateral worth ``collateral_value``; see the doc."""
    if amount <= 0:
        raise InvalidInput("the amount must be positive")
    if collateral_value < 0:
        raise InvalidInput("a collateral value cannot be negative")
    secured = min(amount, collateral_value / COLLATERAL_COVER)
    share = secured / amount
    return (LGD_SECURED * share + LGD_UNSECURED * (1 - share)).quantize(Decimal("0.0001"))


def outcome(
    inputs: FeatureInputs,
    product: Product,
    scorer: Scorer,
    scenario: Scenario,
    *,
    annual_rate: Decimal,
    start: date,
) -> Outcome:
    """The scenario's PD, grade, price and expected loss; pure (reads nothing, writes nothing)."""
    if scenario.term_months < 1:
        raise InvalidInput("the term must be at least one month")
    if scenario.repayment_method.value not in product.repayment_methods:
        raise InvalidInput(f"{product.name} is not repaid by {scenario.repayment_method.value}")
    request = replace(
        inputs.request,
        amount=scenario.amount,
        term_months=scenario.term_months,
        repayment_method=scenario.repayment_method.value,
    )
    assessed = scorer.assess(inputs.row(request), with_reasons=True)
    lgd = loss_given_default(scenario.amount, scenario.collateral_value)
    expected = (Decimal(str(assessed.pd)) * scenario.amount * lgd).quantize(
        CENT, rounding=ROUND_HALF_UP
    )
    outside = why_not(product, amount=scenario.amount, term_months=scenario.term_months)
    if product.collateral_required and scenario.collateral_value <= 0:
        outside = (*outside, "the product requires collateral")
    return Outcome(
        scenario=scenario,
        probability_of_default=assessed.pd,
        score=assessed.score,
        grade=assessed.grade,
        reasons=list(assessed.reasons),
        quote=quote(
            product,
            amount=scenario.amount,
            term_months=scenario.term_months,
            method=scenario.repayment_method,
            start=start,
            annual_rate=annual_rate,
        ),
        loss_given_default=lgd,
        expected_loss=expected,
        outside_product=outside,
    )


@dataclass(frozen=True, slots=True)
class WhatIf:
    application_id: uuid.UUID
    model_version: str
    current: Outcome  # the application as it stands
    proposed: Outcome  # with the changes asked for


async def what_if(
    session: AsyncSession,
    viewer: Viewer,
    application_id: uuid.UUID,
    *,
    scoring: Scoring,
    amount: Decimal | None = None,
    term_months: int | None = None,
    repayment_method: RepaymentMethod | None = None,
    collateral_value: Decimal | None = None,
    start: date,
) -> WhatIf:
    """The application now and with the changes given (unset ones stay); reads only."""
    found = await applications.applications_by_ids(session, viewer=viewer, ids=[application_id])
    if not found:
        raise NotFound("no such application")
    application = found[0]
    if not (
        viewer.sees_all_tenants
        or viewer.institution_roles.get(application.institution_id, frozenset()) & WHAT_IF_ROLES
    ):
        raise Forbidden("what-if is for the institution's credit staff")
    product: Product | None = next(
        iter(await products.products_by_ids(session, viewer=viewer, ids=[application.product_id])),
        None,
    )
    if product is None:
        raise NotFound("the application's product is not visible")
    champion = next(
        (s for m, s in await scoring.scorers(session) if m.status is ModelStatus.CHAMPION), None
    )
    if champion is None or champion.version is None:
        raise InvalidInput("no scoring model is in service to score a what-if")
    inputs = (await feature_inputs(session, [application.id]))[application.id]
    rate = application.approved_rate or product.min_rate
    base = Scenario(
        amount=application.amount,
        term_months=application.term_months,
        repayment_method=application.repayment_method,
    )
    changed = Scenario(
        amount=base.amount if amount is None else amount,
        term_months=base.term_months if term_months is None else term_months,
        repayment_method=base.repayment_method if repayment_method is None else repayment_method,
        collateral_value=Decimal("0.00") if collateral_value is None else collateral_value,
    )
    return WhatIf(
        application_id=application.id,
        model_version=champion.version,
        current=outcome(inputs, product, champion, base, annual_rate=rate, start=start),
        proposed=outcome(inputs, product, champion, changed, annual_rate=rate, start=start),
    )
