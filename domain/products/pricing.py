"""What a product would cost for a given amount and term: pure functions, exact money.

A quote uses the product's lowest advertised rate (its "from" rate: what a borrower
of the best standing would pay) and each repayment method the product allows. The
origination fee is charged with the first instalment, as the schedule charges it.

The effective annual rate is the rate at which the borrower's payments are worth
exactly the amount received: the monthly internal rate of return r of
``amount = sum(payment_k / (1 + r)^k)``, compounded over twelve months
(``(1 + r)^12 - 1``). It is found by bisection (the present value falls as r rises,
so the root is unique) and reported to six decimals; money stays Decimal throughout.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, localcontext

from domain.lending.schedule import CENT, ScheduledInstallment, build_schedule
from domain.products.models import Product, RepaymentMethod

RATE_PLACES = Decimal("0.000001")


@dataclass(frozen=True, slots=True)
class Quote:
    product_id: object
    method: RepaymentMethod
    amount: Decimal
    term_months: int
    annual_rate: Decimal
    first_instalment: Decimal
    largest_instalment: Decimal
    total_interest: Decimal
    fees: Decimal
    total_cost: Decimal  # interest + fees: what borrowing costs over the amount
    total_repaid: Decimal
    effective_annual_rate: Decimal


@dataclass(frozen=True, slots=True)
class Unavailable:
    product_id: object
    reasons: tuple[str, ...]


def why_not(product: Product, *, amount: Decimal, term_months: int) -> tuple[str, ...]:
    """Why this amount and term fall outside the product (empty: they fit)."""
    reasons = []
    if not product.min_amount <= amount <= product.max_amount:
        reasons.append(
            f"amount {amount:,.2f} is outside {product.min_amount:,.2f}"
            f" to {product.max_amount:,.2f}"
        )
    if not product.min_term_months <= term_months <= product.max_term_months:
        reasons.append(
            f"term {term_months} months is outside {product.min_term_months}"
            f" to {product.max_term_months}"
        )
    return tuple(reasons)


def quote(
    product: Product,
    *,
    amount: Decimal,
    term_months: int,
    method: RepaymentMethod,
    start: date,
    annual_rate: Decimal | None = None,
) -> Quote:
    """The product's cost at its "from" rate, or at ``annual_rate`` (an offered rate)."""
    rate = product.min_rate if annual_rate is None else annual_rate
    fee = (amount * product.origination_fee_rate).quantize(CENT, rounding=ROUND_HALF_UP)
    schedule = build_schedule(
        principal=amount,
        annual_rate=rate,
        term_months=term_months,
        method=method,
        first_due_on=start,
        fee=fee,
        # The product's own count, as the contract's schedule will be built: a quote at
        # 30/360 for an ACT/365F product would misstate the interest the borrower pays.
        day_count=product.day_count,
    )
    interest = sum((i.interest for i in schedule), Decimal(0))
    repaid = sum((i.total for i in schedule), Decimal(0))
    return Quote(
        product_id=product.id,
        method=method,
        amount=amount,
        term_months=term_months,
        annual_rate=rate,
        first_instalment=schedule[0].total,
        largest_instalment=max(i.total for i in schedule),
        total_interest=interest,
        fees=fee,
        total_cost=interest + fee,
        total_repaid=repaid,
        effective_annual_rate=effective_annual_rate(amount, schedule),
    )


def cheapest_quote(
    product: Product,
    *,
    amount: Decimal,
    term_months: int,
    start: date,
    annual_rate: Decimal | None = None,
) -> Quote | Unavailable:
    """The product's cheapest quote over the repayment methods it allows (at ``annual_rate``
    when a rate was priced for the applicant, else at its "from" rate)."""
    reasons = why_not(product, amount=amount, term_months=term_months)
    if reasons:
        return Unavailable(product_id=product.id, reasons=reasons)
    quotes = [
        quote(
            product,
            amount=amount,
            term_months=term_months,
            method=method,
            start=start,
            annual_rate=annual_rate,
        )
        for method in (RepaymentMethod(m) for m in product.repayment_methods)
    ]
    return min(quotes, key=lambda q: (q.total_cost, q.method.value))


def effective_annual_rate(amount: Decimal, schedule: Sequence[ScheduledInstallment]) -> Decimal:
    payments = [i.total for i in schedule]
    with localcontext() as ctx:
        ctx.prec = 34

        def present_value(monthly: Decimal) -> Decimal:
            value, factor = Decimal(0), Decimal(1)
            for payment in payments:
                factor /= 1 + monthly
                value += payment * factor
            return value

        if present_value(Decimal(0)) <= amount:  # nothing paid beyond the amount
            return Decimal(0).quantize(RATE_PLACES)
        low, high = Decimal(0), Decimal(1)  # 100% a month bounds any real loan
        for _ in range(80):
            middle = (low + high) / 2
            if present_value(middle) > amount:
                low = middle
            else:
                high = middle
        annual = (1 + (low + high) / 2) ** 12 - 1
        return annual.quantize(RATE_PLACES, rounding=ROUND_HALF_UP)
