"""A lender's historical file as training data: a CSV read whole, its column kinds inferred.

Assumptions:

- Files are small (a lender's book: thousands to a few hundred thousand rows), so the
  file is read whole into memory; nothing here streams. Batch scoring, which does
  stream, never goes through this module.
- The delimiter is the one of ``,`` ``;`` tab ``|`` that the header line holds most of
  (comma when none). The file is UTF-8, with or without a byte-order mark.
- A cell is missing when it is empty or one of ``NA``, ``N/A``, ``NaN``, ``null``, ``?``
  (any case, surrounding spaces ignored). ``none`` is *not* missing: in many files it
  is a real answer ("other debtors: none").
- A column is numeric when every non-missing value parses as a finite number, and
  categorical otherwise. A few distinct integer codes (installment rate 1-4) stay
  numeric: their order means something, and CatBoost splits on it. Text of any length
  (a purpose, an occupation) is a category label, used as CatBoost categorical feature.
- Dropped, and said so in the report: empty columns, constant columns, and id-like
  columns, whose value differs on every row (a text column; an integer column that
  rises row after row; or one named like an id) and so identifies a row rather than
  describes it.
- The target: rows whose target equals the bad value (as text, or as a number: "2" is
  "2.0") are labelled 1 (default), every other value 0. Rows with no target value are
  unlabelled and left out (counted in the report). Directions of effect are unknown in
  a generic file, so no feature gets a monotone constraint.
"""

from __future__ import annotations

import csv
import itertools
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from scoring.spec import FeatureSpec, Kind

MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "?"})
DELIMITERS = (",", ";", "\t", "|")
ID_SNAKE = re.compile(r"(^|[^a-z0-9])(id|uuid|guid)$")  # on the lower-cased name
ID_CAMEL = re.compile(r"[a-z0-9](Id|ID|Uuid|UUID|Guid|GUID)$")

Value = float | str | None


class TabularError(ValueError):
    """The file cannot be turned into labelled training data."""


class Table(NamedTuple):
    rows: list[dict[str, Value]]
    specs: list[FeatureSpec]
    labels: list[int]
    report: dict[str, Any]


def read_csv(path: Path, *, target: str, bad_value: str) -> Table:
    """Read a CSV file with a header row into feature rows, specs and 0/1 labels."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TabularError(f"{path} is not UTF-8 text: {exc}") from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise TabularError(f"{path} has no header row")
    delimiter = max(DELIMITERS, key=lambda d: (lines[0].count(d), d == ","))
    records = list(csv.reader(lines, delimiter=delimiter, strict=True))
    header = [name.strip() for name in records[0]]
    body: list[list[str]] = []
    for number, record in enumerate(records[1:], start=2):
        if not record:
            continue
        if len(record) != len(header):
            raise TabularError(
                f"{path} line {number}: {len(record)} fields, the header has {len(header)}"
            )
        body.append(record)
    table = from_records(header, body, target=target, bad_value=bad_value)
    table.report["source"] = str(path)
    table.report["delimiter"] = delimiter
    return table


def from_records(
    header: Sequence[str], records: Sequence[Sequence[str]], *, target: str, bad_value: str
) -> Table:
    """Infer kinds and labels from a header and rows of text cells."""
    if len(set(header)) != len(header) or "" in header:
        duplicates = sorted({n for n in header if header.count(n) > 1 or not n})
        raise TabularError(f"column names must be unique and non-empty: {duplicates}")
    if target not in header:
        raise TabularError(f"no target column {target!r}; the columns are {', '.join(header)}")
    t = header.index(target)
    if not records:
        raise TabularError("the file has a header but no data rows")
    labelled: list[list[str | None]] = []
    outcomes: list[str] = []
    for record in records:
        row = [_clean(cell) for cell in record]
        outcome = row[t]
        if outcome is not None:
            labelled.append(row)
            outcomes.append(outcome)
    unlabelled = len(records) - len(labelled)
    if not labelled:
        raise TabularError(f"no row has a value in target column {target!r}")
    labels = _labels(outcomes, target, bad_value)

    specs: list[FeatureSpec] = []
    rows: list[dict[str, Value]] = [{} for _ in labelled]
    columns: dict[str, dict[str, Any]] = {}
    dropped: dict[str, str] = {}
    for j, name in enumerate(header):
        if j == t:
            continue
        values = [row[j] for row in labelled]
        present = [v for v in values if v is not None]
        numbers = _numbers(present)
        reason = _drop_reason(name, values, present, numbers)
        if reason:
            dropped[name] = reason
            continue
        kind = Kind.CATEGORICAL if numbers is None else Kind.NUMERIC
        specs.append(FeatureSpec(name=name, kind=kind))
        columns[name] = {
            "kind": kind.value,
            "distinct": len(set(present)),
            "missing": len(values) - len(present),
        }
        parsed: list[Value] = list(values)
        if numbers is not None:
            it = iter(numbers)
            parsed = [None if v is None else next(it) for v in values]
        for features, value in zip(rows, parsed, strict=True):
            features[name] = value
    if not specs:
        raise TabularError("no usable feature column is left: " + _describe(dropped))
    report: dict[str, Any] = {
        "target": target,
        "bad_value": bad_value,
        "n_rows": len(labels),
        "n_bad": sum(labels),
        "rows_without_target": unlabelled,
        "good_values": sorted({v for v, y in zip(outcomes, labels, strict=True) if not y}),
        "columns": columns,
        "dropped": dropped,
    }
    return Table(rows=rows, specs=specs, labels=labels, report=report)


def _clean(cell: str) -> str | None:
    value = cell.strip()
    return None if value.lower() in MISSING_TOKENS else value


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _numbers(present: Sequence[str]) -> list[float] | None:
    """The values as numbers, or None when any of them is not a number."""
    out: list[float] = []
    for text in present:
        value = _number(text)
        if value is None:
            return None
        out.append(value)
    return out


def _drop_reason(
    name: str, values: Sequence[str | None], present: Sequence[str], numbers: list[float] | None
) -> str:
    if not present:
        return "empty"
    distinct = len(set(present))
    if distinct == 1 and len(present) == len(values):
        return "constant"
    if distinct < len(values) or len(values) < 3:
        return ""
    if ID_SNAKE.search(name.lower()) or ID_CAMEL.search(name):
        return "id-like: named like an id, one value per row"
    if numbers is None:
        return "id-like: text with one value per row"
    increasing = all(b > a for a, b in itertools.pairwise(numbers))
    if increasing and all(x.is_integer() for x in numbers):
        return "id-like: an integer that rises row after row"
    return ""


def _labels(values: Sequence[str], target: str, bad_value: str) -> list[int]:
    bad = bad_value.strip()
    labels = [int(v == bad) for v in values]
    bad_number = _number(bad)
    if not any(labels) and bad_number is not None:
        labels = [int(_number(v) == bad_number) for v in values]
    distinct = sorted(set(values))
    if not any(labels):
        shown = ", ".join(repr(v) for v in distinct[:20])
        more = f" and {len(distinct) - 20} more" if len(distinct) > 20 else ""
        raise TabularError(
            f"bad value {bad_value!r} does not occur in column {target!r}; "
            f"its values are {shown}{more}"
        )
    if all(labels):
        raise TabularError(
            f"every labelled row of {target!r} is {bad_value!r}: a model needs good and bad rows"
        )
    return labels


def _describe(dropped: dict[str, str]) -> str:
    return "; ".join(f"{name} ({reason})" for name, reason in dropped.items()) or "none"
