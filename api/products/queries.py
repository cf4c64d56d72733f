from __future__ import annotations

import strawberry

from api.access import classified
from api.context import Context
from api.inputs import OrderDirection
from api.products.inputs import ProductFilter, ProductOrder, ProductOrderField
from api.products.types import Product
from api.relay import Connection, connection, decode_after, decode_pk, page_size
from domain.pagination import Keyset
from domain.products import repository as repo

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


@classified(public=["products"])
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
