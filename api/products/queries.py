from __future__ import annotations

from decimal import Decimal

import strawberry

from api.access import classified
from api.context import Context
from api.inputs import OrderDirection
from api.products.inputs import ProductFilter, ProductOrder, ProductOrderField
from api.products.types import Product, ProductQuote
from api.relay import (
    Connection,
    connection,
    decode_after,
    decode_global_id,
    decode_pk,
    page_size,
)
from domain.base import utcnow
from domain.errors import InvalidInput, NotFound
from domain.lending.schedule import MAX_TERM_MONTHS, add_months
from domain.pagination import Keyset
from domain.products import repository as repo
from domain.products.pricing import cheapest_quote

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
    )


MAX_COMPARED = 5


@classified(public=["products", "compare_products"])
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
        order = order_by or ProductOrder()
        keyset = _ORDERINGS[(order.field, order.direction)]
        size = page_size(first, ctx.settings.page_size_max)
        flt = _domain_filter(filter)
        after_key = decode_after(keyset, after)
        async with ctx.sessions() as session:
            page = await repo.list_catalog(
                session, flt=flt, keyset=keyset, first=size, after=after_key
            )

        async def count() -> int:
            async with ctx.sessions() as session:
                return await repo.count_catalog(session, flt=flt)

        return connection(page, keyset=keyset, to_node=Product.from_row, count=count, after=after)

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
