"""Policy tables kept as small CSV files beside the code (lawful bases, retention
schedules of data and of logs): one reader, so every table refuses a bad line alike.

A line is ``cell, cell`` with an optional trailing comma; ``#`` starts a comment; blank
lines are skipped. A line with another number of cells is an error naming its line:
a policy table is never read past a mistake.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator


class InvalidTable(ValueError):
    pass


def rows(text: str, *, columns: tuple[str, ...]) -> Iterator[tuple[int, list[str]]]:
    """(line number, cells) of every line that holds something."""
    for number, line in enumerate(text.splitlines(), start=1):
        content = line.split("#", 1)[0].strip()
        if not content:
            continue
        cells = [cell.strip() for cell in content.split(",")]
        if cells[-1] == "":
            cells.pop()
        if len(cells) != len(columns):
            raise InvalidTable(f"line {number}: want '{', '.join(columns)}', got {content!r}")
        yield number, cells


def positive_months(number: int, value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise InvalidTable(f"line {number}: months must be a positive whole number")
    return int(value)


def version(text: str) -> str:
    """The first 16 hex digits of the table's SHA-256: which table a decision used."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
