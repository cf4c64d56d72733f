"""Keyset (cursor) pagination: stable order on indexed columns, never OFFSET.

A cursor names the ordering it was made for and carries the last row's key values,
so it cannot be replayed against a different order.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, aliased

from kernel.errors import InvalidInput

T = TypeVar("T")

MAX_CURSOR_CHARS = 512


@dataclass(frozen=True, slots=True)
class Keyset:
    """An ordering: leading columns, then the primary key as tie-breaker."""

    name: str
    columns: tuple[InstrumentedAttribute[Any], ...]
    descending: bool = False

    def key_of(self, row: Any) -> tuple[Any, ...]:
        return tuple(getattr(row, col.key) for col in self.columns)

    def encode(self, row: Any) -> str:
        values = [_to_json(v) for v in self.key_of(row)]
        raw = json.dumps({"o": self.name, "k": values}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def decode(self, cursor: str) -> tuple[Any, ...]:
        # Ours are under 200 characters: a longer one is refused before it is decoded.
        if len(cursor) > MAX_CURSOR_CHARS:
            raise InvalidInput("the cursor is malformed")
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
            if payload["o"] != self.name:
                raise InvalidInput("the cursor was made for a different ordering")
            raw = payload["k"]
            if not isinstance(raw, list) or len(raw) != len(self.columns):
                raise ValueError("wrong key length")
            return tuple(_from_json(v, col) for v, col in zip(raw, self.columns, strict=True))
        except InvalidInput:
            raise
        except (
            ValueError,
            KeyError,
            TypeError,
            binascii.Error,
            InvalidOperation,
            RecursionError,
        ):
            raise InvalidInput("the cursor is malformed") from None

    def apply(self, stmt: Select[Any], *, after: tuple[Any, ...] | None, limit: int) -> Select[Any]:
        if after is not None:
            stmt = stmt.where(self.after_condition(after))
        order = [c.desc() if self.descending else c.asc() for c in self.columns]
        return stmt.order_by(*order).limit(limit)

    def after_condition(self, values: tuple[Any, ...]) -> Any:
        # (a, b) > (x, y) spelled out, which every database plans with the index.
        clauses = []
        for i, (col, value) in enumerate(zip(self.columns, values, strict=True)):
            prefix = [c == v for c, v in zip(self.columns[:i], values[:i], strict=True)]
            beyond = col < value if self.descending else col > value
            clauses.append(and_(*prefix, beyond))
        return or_(*clauses)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    rows: Sequence[T]
    has_next: bool


def page_from(rows: Sequence[T], first: int) -> Page[T]:
    """Rows were fetched with limit first + 1; the extra one only says there is more."""
    return Page(rows=rows[:first], has_next=len(rows) > first)


def _to_json(value: Any) -> Any:
    if isinstance(value, uuid.UUID | Decimal | datetime | date):
        return value.isoformat() if isinstance(value, date) else str(value)
    return value


def _from_json(value: Any, column: InstrumentedAttribute[Any]) -> Any:
    python_type = column.type.python_type
    if python_type is uuid.UUID:
        return uuid.UUID(str(value))
    if python_type is Decimal:
        return _decimal_for(str(value), column)
    if python_type is datetime:
        return datetime.fromisoformat(str(value))
    if python_type is date:
        return date.fromisoformat(str(value))
    if python_type is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if python_type is str and isinstance(value, str):
        return value
    raise ValueError("unexpected cursor value")


def _decimal_for(text: str, column: InstrumentedAttribute[Any]) -> Decimal:
    """A cursor decimal must fit the column exactly, or the keyset comparison lies."""
    number = Decimal(text)
    if not number.is_finite():
        raise ValueError("non-finite decimal")
    scale = getattr(column.type, "scale", None)
    precision = getattr(column.type, "precision", None)
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)  # finite, checked above
    if scale is not None and -exponent > scale:
        raise ValueError("decimal has more places than the column")
    if precision is not None and number.adjusted() >= precision - (scale or 0):
        raise ValueError("decimal is larger than the column")
    return number


def first_n_per_group(
    stmt: Select[Any],
    *,
    entity: Any,
    partition_by: InstrumentedAttribute[Any],
    keyset: Keyset,
    limit: int,
) -> Select[Any]:
    """Top ``limit`` rows of each group in one statement (a window function on both DBs)."""
    order = [c.desc() if keyset.descending else c.asc() for c in keyset.columns]
    numbered = stmt.add_columns(
        func.row_number().over(partition_by=partition_by, order_by=order).label("_rn")
    ).subquery()
    alias = aliased(entity, numbered)
    return (
        select(alias)
        .where(numbered.c._rn <= limit)
        .order_by(numbered.c[partition_by.key], numbered.c._rn)
    )
