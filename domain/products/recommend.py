"""Which products suit an enterprise, best first: pure functions, exact money.

Order:

1. Products the enterprise may apply for come before those it may not.
2. Among eligible products, when an amount and a term are given, those whose
   ranges fit them come first, ranked by the expected cost of borrowing::

       expected_cost = total_cost * (1 + pd)

   where ``total_cost`` is interest plus fees of the product's cheapest quote and
   ``pd`` the probability of default the caller's model gives for the enterprise
   under that product (0 when there is no model or no figure). The assumption: a
   lender that prices in a higher chance of default tends to ask for more than its
   "from" rate, or to refuse, so a cheap headline with a
   high PD is less likely to be what the owner ends up paying. Scaling the cost is
   the simplest penalty that leaves products with equal PD in plain cost order and
   lets a small PD difference reorder only products of close cost. It is a ranking
   weight, not a price. The price is the caller's ``price``: the rate the product's
   pricing grid charges for that PD (``domain.products.grid``), at which the quote is
   made; a product whose grid stops below the PD does not fit, with the reason.
   Eligible products that do not fit the amount or term follow, ranked as below,
   with the reasons they do not fit.
3. Without an amount and a term there is no quote: eligible products are ranked by
   ``min_rate * (1 + pd)``, then by origination fee rate.
4. Ineligible products come last, fewest reasons first, then as above without the
   PD (it is not asked for products the enterprise cannot apply to).

Ties are broken by the product id as a string, so the order never depends on the
order products were loaded in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from domain.products.eligibility import EnterpriseFacts, Rules, ineligibility, percent
from domain.products.grid import RiskPrice
from domain.products.models import Product
from domain.products.pricing import Quote, cheapest_quote

SortKey = tuple[int, int, int, Decimal, Decimal, str]


@dataclass(frozen=True, slots=True)
class Recommendation:
    product: Product
    eligible: bool
    rank: int  # 1-based
    quote: Quote | None  # cheapest quote for the amount and term when they fit
    probability_of_default: float | None
    reasons: tuple[str, ...]  # why it is recommended (eligible) or why not (ineligible)


@dataclass(frozen=True, slots=True)
class _Assessed:
    product: Product
    blockers: tuple[str, ...]  # why the enterprise may not apply
    misfits: tuple[str, ...]  # why the amount or term fall outside the product
    quote: Quote | None
    pd: float | None
    priced: str | None  # how the quoted rate was priced for this applicant

    @property
    def eligible(self) -> bool:
        return not self.blockers

    def sort_key(self) -> SortKey:
        factor = 1 + Decimal(repr(self.pd)) if self.pd is not None else Decimal(1)
        if self.quote is not None:
            primary, secondary = self.quote.total_cost * factor, Decimal(0)
        else:
            primary = self.product.min_rate * factor
            secondary = self.product.origination_fee_rate
        return (
            0 if self.eligible else 1,
            len(self.blockers),
            1 if self.misfits else 0,
            primary,
            secondary,
            str(self.product.id),
        )


def recommend(
    products: Sequence[Product],
    facts: EnterpriseFacts,
    *,
    amount: Decimal | None,
    term_months: int | None,
    as_of: date,
    start: date,
    probability_of_default: Callable[[Product], float | None] | None = None,
    price: Callable[[Product, float | None], RiskPrice] | None = None,
    limit: int = 10,
) -> list[Recommendation]:
    """The products ranked for this enterprise, best first, at most ``limit`` of them.

    A quote is made only when both ``amount`` and ``term_months`` are given.
    """
    if limit < 0:
        raise ValueError(f"limit must not be negative, got {limit}")
    assessed = sorted(
        (
            _assess(
                product,
                facts,
                amount=amount,
                term_months=term_months,
                as_of=as_of,
                start=start,
                probability_of_default=probability_of_default,
                price=price,
            )
            for product in products
        ),
        key=_Assessed.sort_key,
    )
    eligible = [a for a in assessed if a.eligible]
    # "Cheapest" and "lowest" compare with every eligible product, not just those shown.
    cheapest = min((a.quote.total_cost for a in eligible if a.quote is not None), default=None)
    lowest_rate = min((a.product.min_rate for a in eligible), default=None)
    return [
        Recommendation(
            product=a.product,
            eligible=a.eligible,
            rank=rank,
            quote=a.quote,
            probability_of_default=a.pd,
            reasons=(
                _why(a, facts, cheapest=cheapest, lowest_rate=lowest_rate)
                if a.eligible
                else a.blockers + a.misfits
            ),
        )
        for rank, a in enumerate(assessed[:limit], start=1)
    ]


def _assess(
    product: Product,
    facts: EnterpriseFacts,
    *,
    amount: Decimal | None,
    term_months: int | None,
    as_of: date,
    start: date,
    probability_of_default: Callable[[Product], float | None] | None,
    price: Callable[[Product, float | None], RiskPrice] | None,
) -> _Assessed:
    blockers = ineligibility(product, facts, as_of=as_of)
    pd = None
    if not blockers and probability_of_default is not None:
        pd = probability_of_default(product)
        if pd is not None and not 0.0 <= pd <= 1.0:
            raise ValueError(f"probability of default must be within 0 and 1, got {pd}")
    quote: Quote | None = None
    misfits: tuple[str, ...] = ()
    how: str | None = None
    if amount is not None and term_months is not None:
        offered = None if price is None or blockers else price(product, pd)
        if offered is not None and offered.annual_rate is None:
            misfits = (offered.reason,)
        else:
            rate = None if offered is None else offered.annual_rate
            how = None if offered is None else offered.reason
            priced = cheapest_quote(
                product, amount=amount, term_months=term_months, start=start, annual_rate=rate
            )
            if isinstance(priced, Quote):
                quote = priced
            else:
                misfits, how = priced.reasons, None
    return _Assessed(
        product=product, blockers=blockers, misfits=misfits, quote=quote, pd=pd, priced=how
    )


def _why(
    assessed: _Assessed,
    facts: EnterpriseFacts,
    *,
    cheapest: Decimal | None,
    lowest_rate: Decimal | None,
) -> tuple[str, ...]:
    product, quote = assessed.product, assessed.quote
    reasons = list(assessed.misfits)
    if quote is not None:
        cost = f"{quote.total_cost:,.2f} over {quote.term_months} months"
        if cheapest is not None and quote.total_cost > cheapest:
            extra = quote.total_cost - cheapest
            reasons.append(f"total cost {cost}, {extra:,.2f} more than the cheapest eligible one")
        else:
            reasons.append(f"cheapest total cost of the eligible products: {cost}")
        if assessed.priced is not None:
            reasons.append(assessed.priced)
        reasons.append(f"effective annual rate {percent(quote.effective_annual_rate)}")
        reasons.append(f"cheapest repayment: {quote.method.value.replace('_', ' ')}")
    else:
        if product.min_rate == lowest_rate:
            reasons.append(
                f"lowest starting rate of the eligible products: {percent(product.min_rate)}"
            )
        else:
            reasons.append(f"rates from {percent(product.min_rate)}")
        if product.origination_fee_rate:
            reasons.append(f"origination fee {percent(product.origination_fee_rate)}")
        else:
            reasons.append("no origination fee")
    if assessed.pd is not None:
        # The PD itself is the lender's figure (owners may not read it): named, not shown.
        reasons.append("ranked allowing for your estimated risk of default")
    if not product.collateral_required:
        reasons.append("no collateral needed")
    elif facts.has_collateral:
        reasons.append("collateral required, which you said you can offer")
    else:
        reasons.append("collateral required; you have not said whether you can offer it")
    rules = Rules.of(product)
    if rules.industries:
        reasons.append(f"matches your industry, {facts.industry}")
    if rules.regions:
        reasons.append(f"matches your region, {facts.region}")
    return tuple(reasons)
