from __future__ import annotations

import uuid
from dataclasses import replace
from decimal import Decimal
from typing import Annotated

import strawberry

from api.access import classified
from api.context import Context
from api.inputs import OrderDirection
from api.products.inputs import ProductFilter, ProductOrder, ProductOrderField
from api.products.types import Product, ProductQuote, ProductRecommendation
from api.relay import (
    Connection,
    ListingRequest,
    decode_global_id,
    decode_pk,
    listed,
)
from domain.applications.service import enterprise_facts
from domain.enterprises import repository as enterprises
from domain.lending.schedule import MAX_TERM_MONTHS, add_months
from domain.privacy import preferences
from domain.products import repository as repo
from domain.products.eligibility import ineligibility
from domain.products.grid import risk_price
from domain.products.pricing import cheapest_quote
from domain.products.recommend import recommend
from domain.risk.prescore import prescore, record_prescoring
from domain.settings import Settings
from kernel.base import utcnow
from kernel.db import unit_of_work
from kernel.errors import InvalidInput, NotFound
from kernel.pagination import Keyset

_ORDERINGS: dict[tuple[ProductOrderField, OrderDirection], Keyset] = {
    (ProductOrderField.NEWEST, OrderDirection.ASC): repo.NEWEST,
    (ProductOrderField.NEWEST, OrderDirection.DESC): repo.NEWEST,
    (ProductOrderField.RATE, OrderDirection.ASC): repo.RATE_ASC,
    (ProductOrderField.RATE, OrderDirection.DESC): repo.RATE_DESC,
    (ProductOrderField.AMOUNT, OrderDirection.ASC): repo.AMOUNT_ASC,
    (ProductOrderField.AMOUNT, OrderDirection.DESC): repo.AMOUNT_DESC,
}


def _domain_filter(flt: ProductFilter | None) -> repo.ProductFilter:
    if flt is None:
        return repo.ProductFilter()
    return repo.ProductFilter(
        types=flt.types,
        institution_id=decode_pk(flt.institution_id, "Institution"),
        amount=flt.amount,
        term_months=flt.term_months,
        max_rate=flt.max_rate,
        collateral_required=flt.collateral_required,
        industry=flt.industry,
        region=flt.region,
    )


def listing_request(
    settings: Settings,
    first: int | None = None,
    after: str | None = None,
    filter: ProductFilter | None = None,
    order_by: ProductOrder | None = None,
) -> ListingRequest[repo.ProductFilter]:
    order = order_by or ProductOrder()
    keyset = _ORDERINGS[(order.field, order.direction)]
    return ListingRequest.read(
        settings, keyset=keyset, flt=_domain_filter(filter), first=first, after=after
    )


MAX_COMPARED = 5


MAX_RECOMMENDED = 50
# Recommendations weigh the whole open catalog; it is small by nature, and capped.
CATALOG_CAP = 1000


@classified(public=["products", "compare_products", "recommended_products"])
@strawberry.type
class ProductQueries:
    @strawberry.field(description="The public catalog of published products.")
    async def products(
        self,
        info: strawberry.Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        filter: ProductFilter | None = None,
        order_by: ProductOrder | None = None,
    ) -> Connection[Product]:
        ctx = info.context
        asked = listing_request(ctx.settings, first, after, filter, order_by)
        flt, keyset = asked.flt, asked.keyset
        return await listed(
            ctx.sessions,
            asked,
            page=lambda s: repo.list_catalog(
                s, flt=flt, keyset=keyset, first=asked.first, after=asked.after
            ),
            count=lambda s: repo.count_catalog(s, flt=flt),
            to_node=Product.from_row,
        )

    @strawberry.field(
        description="Up to five products side by side for one amount and term, computed exactly."
    )
    async def compare_products(
        self,
        info: strawberry.Info[Context, None],
        ids: list[strawberry.ID],
        amount: Decimal,
        term_months: int,
    ) -> list[ProductQuote]:
        ctx = info.context
        if not 1 <= len(ids) <= MAX_COMPARED:
            raise InvalidInput(f"compare 1 to {MAX_COMPARED} products")
        if amount <= 0 or amount != amount.quantize(Decimal("0.01")):
            raise InvalidInput("the amount must be positive, to the cent")
        if not 1 <= term_months <= MAX_TERM_MONTHS:
            raise InvalidInput(f"the term must be 1 to {MAX_TERM_MONTHS} months")
        wanted = [decode_global_id(i, expected="Product")[1] for i in ids]
        async with ctx.sessions() as session:
            rows = {
                p.id: p for p in await repo.products_by_ids(session, viewer=ctx.viewer, ids=wanted)
            }
        missing = [str(i) for i, pk in zip(ids, wanted, strict=True) if pk not in rows]
        if missing:
            raise NotFound(f"no such product: {', '.join(missing)}")
        start = add_months(utcnow().date().replace(day=1), 1)
        quotes = []
        for pk in dict.fromkeys(wanted):
            row = rows[pk]
            found = cheapest_quote(row, amount=amount, term_months=term_months, start=start)
            quotes.append(ProductQuote.of(Product.from_row(row), found))
        return quotes

    @strawberry.field(
        description="Products ranked for an enterprise you may see: eligible first, then by "
        "what they would cost for the amount and term (when given), each with its reasons; "
        "ineligible ones say why not. With an amount and a term the enterprise is pre-scored "
        "for each eligible product and quoted the rate of the product's pricing grid for its "
        "risk; nothing is stored but the audited access. "
        "Empty when the owner switched product recommendations off (setPrivacyPreferences)."
    )
    async def recommended_products(
        self,
        info: strawberry.Info[Context, None],
        enterprise_id: strawberry.ID,
        first: int | None = 10,
        amount: Decimal | None = None,
        term_months: int | None = None,
        collateral_offered: Annotated[
            bool | None,
            strawberry.argument(description="Whether you can offer collateral; null: not said."),
        ] = None,
        guarantee_offered: Annotated[
            bool | None,
            strawberry.argument(description="Whether a guarantor stands behind the loan."),
        ] = None,
    ) -> list[ProductRecommendation]:
        ctx = info.context
        size = first if first is not None else 10
        if not 1 <= size <= MAX_RECOMMENDED:
            raise InvalidInput(f"first: 1 to {MAX_RECOMMENDED}")
        if amount is not None and (amount <= 0 or amount != amount.quantize(Decimal("0.01"))):
            raise InvalidInput("the amount must be positive, to the cent")
        if term_months is not None and not 1 <= term_months <= MAX_TERM_MONTHS:
            raise InvalidInput(f"the term must be 1 to {MAX_TERM_MONTHS} months")
        pk = decode_global_id(enterprise_id, expected="Enterprise")[1]
        today = utcnow().date()
        scored: tuple[str, dict[uuid.UUID, float]] | None = None
        async with ctx.sessions() as session:
            found = await enterprises.enterprises_by_ids(session, viewer=ctx.viewer, ids=[pk])
            if not found:
                raise NotFound("no such enterprise")
            if not await preferences.allows(session, found[0].owner_id, "product_recommendations"):
                return []  # the owner switched recommendations off
            facts = replace(
                await enterprise_facts(session, found[0]), has_collateral=collateral_offered
            )
            catalog = await repo.published_products(session, limit=CATALOG_CAP)
            if amount is not None and term_months is not None:
                eligible = [p for p in catalog if not ineligibility(p, facts, as_of=today)]
                scored = await prescore(
                    session,
                    ctx.scoring,
                    enterprise=found[0],
                    products=eligible,
                    amount=amount,
                    term_months=term_months,
                    as_of=today,
                )
        if scored is not None:
            # Pre-scoring is no application: it leaves only its audited access.
            async with unit_of_work(ctx.sessions) as session:
                record_prescoring(
                    session,
                    viewer=ctx.viewer,
                    enterprise_id=pk,
                    purpose=ctx.purpose,
                    model_version=scored[0],
                    products=len(scored[1]),
                    request_id=ctx.request_id,
                    at=utcnow(),
                )
        pds = {} if scored is None else scored[1]
        secured = bool(collateral_offered or guarantee_offered)
        ranked = recommend(
            catalog,
            facts,
            amount=amount,
            term_months=term_months,
            as_of=today,
            start=add_months(today.replace(day=1), 1),
            probability_of_default=lambda product: pds.get(product.id),
            price=lambda product, pd: risk_price(product, pd, secured=secured),
            limit=size,
        )
        return [ProductRecommendation.of(r) for r in ranked]
