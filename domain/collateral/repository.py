"""Every statement of the collateral context: rows scoped like their loan's, and the
cover of a batch of loans in one statement for the close."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import ColumnElement, String, case, func, literal, select, type_coerce, union_all
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from domain.collateral import policy
from domain.collateral.models import (
    CollateralItem,
    CollateralKind,
    CollateralStatus,
    CollateralValuation,
    Guarantee,
    GuaranteeKind,
    GuaranteeStatus,
)
from domain.identity.viewer import Viewer
from domain.lending import repository as lending
from kernel.base import Money


def visible(viewer: Viewer, rows: Any) -> ColumnElement[bool]:
    """The loan's rule on the row's own copies of its institution and enterprise: staff
    see their institution's, owners their enterprises', platform roles all."""
    return lending.visible(viewer, cast(Any, rows))


async def items_by_loan_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[CollateralItem]:
    stmt = (
        select(CollateralItem)
        .where(CollateralItem.loan_id.in_(ids), visible(viewer, CollateralItem))
        .order_by(CollateralItem.loan_id, CollateralItem.pledged_at, CollateralItem.id)
    )
    return (await session.scalars(stmt)).all()


async def items_by_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[CollateralItem]:
    stmt = select(CollateralItem).where(CollateralItem.id.in_(ids), visible(viewer, CollateralItem))
    return (await session.scalars(stmt)).all()


async def valuations_by_item_ids(
    session: AsyncSession, *, ids: Sequence[uuid.UUID]
) -> Sequence[CollateralValuation]:
    """Every valuation of the items, oldest first (the items were scoped already)."""
    stmt = (
        select(CollateralValuation)
        .where(CollateralValuation.item_id.in_(ids))
        .order_by(
            CollateralValuation.item_id,
            CollateralValuation.valued_on,
            CollateralValuation.recorded_at,
            CollateralValuation.id,
        )
    )
    return (await session.scalars(stmt)).all()


async def guarantees_by_loan_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[Guarantee]:
    stmt = (
        select(Guarantee)
        .where(Guarantee.loan_id.in_(ids), visible(viewer, Guarantee))
        .order_by(Guarantee.loan_id, Guarantee.added_at, Guarantee.id)
    )
    return (await session.scalars(stmt)).all()


async def guarantees_by_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[Guarantee]:
    stmt = select(Guarantee).where(Guarantee.id.in_(ids), visible(viewer, Guarantee))
    return (await session.scalars(stmt)).all()


async def covers(conn: AsyncConnection, loan_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Decimal]:
    """The cover of each loan of a batch that has collateral or guarantees on record
    (``domain.collateral.policy.cover``); loans without any record are left out, so
    they keep their product's LGD.

    One statement for the batch: the values still pledged (active) summed per loan and
    kind, items and guarantees together. It reads the batch's id range rather than an
    IN list of thousands of ids (the close reads loans in id order, so a batch is a
    range), and keeps the batch's loans.
    """
    if not loan_ids:
        return {}
    low, high = min(loan_ids), max(loan_ids)
    pledged = case(
        (CollateralItem.status == CollateralStatus.PLEDGED, CollateralItem.market_value),
        else_=literal(0),
    )
    active = case(
        (Guarantee.status == GuaranteeStatus.ACTIVE, Guarantee.amount),
        else_=literal(0),
    )
    items = (
        select(
            CollateralItem.loan_id.label("loan_id"),
            literal("item").label("source"),
            type_coerce(CollateralItem.kind, String()).label("kind"),
            type_coerce(func.sum(pledged), Money()).label("value"),
        )
        .where(CollateralItem.loan_id.between(low, high))
        .group_by(CollateralItem.loan_id, CollateralItem.kind)
    )
    guarantees = (
        select(
            Guarantee.loan_id,
            literal("guarantee"),
            type_coerce(Guarantee.kind, String()),
            type_coerce(func.sum(active), Money()),
        )
        .where(Guarantee.loan_id.between(low, high))
        .group_by(Guarantee.loan_id, Guarantee.kind)
    )
    wanted = set(loan_ids)
    held: dict[uuid.UUID, list[tuple[CollateralKind, Decimal]]] = defaultdict(list)
    given: dict[uuid.UUID, list[tuple[GuaranteeKind, Decimal]]] = defaultdict(list)
    for loan_id, source, kind, value in (await conn.execute(union_all(items, guarantees))).all():
        if loan_id not in wanted:
            continue
        if source == "item":
            held[loan_id].append((CollateralKind(kind), value or policy.ZERO))
        else:
            given[loan_id].append((GuaranteeKind(kind), value or policy.ZERO))
    return {
        loan_id: policy.cover(held.get(loan_id, ()), given.get(loan_id, ()))
        for loan_id in held.keys() | given.keys()
    }
