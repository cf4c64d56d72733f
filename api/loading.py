"""Helpers that shape batch query results into DataLoader answers (one list per key)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, TypeVar

RowT = TypeVar("RowT")
KeyT = TypeVar("KeyT", bound=Hashable)


def one_per_key(rows: Iterable[RowT], keys: Sequence[KeyT], attr: str) -> list[RowT | None]:
    index: dict[Any, RowT] = {getattr(row, attr): row for row in rows}
    return [index.get(key) for key in keys]


def many_per_key(rows: Iterable[RowT], keys: Sequence[KeyT], attr: str) -> list[list[RowT]]:
    groups: dict[Any, list[RowT]] = defaultdict(list)
    for row in rows:
        groups[getattr(row, attr)].append(row)
    return [groups.get(key, []) for key in keys]
