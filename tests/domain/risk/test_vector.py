"""The column evaluator agrees with the one-row evaluator, row by row, unknowns included."""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from domain.risk.catalogue import CATALOGUE as SCAN_CATALOGUE
from domain.risk.rules import IndicatorType, compile_rule
from domain.risk.vector import vectorise
from seed.risk_rules import DEFAULT_RULES

NUMBER, TEXT, BOOLEAN = IndicatorType.NUMBER, IndicatorType.TEXT, IndicatorType.BOOLEAN
CATALOGUE = {"x": NUMBER, "y": NUMBER, "z": NUMBER, "kind": TEXT, "place": TEXT, "flag": BOOLEAN}
WORDS = ["a", "b", "c"]


def number(rng: random.Random, depth: int) -> str:
    pick = rng.random()
    if depth <= 0 or pick < 0.45:
        return rng.choice(["x", "y", "z"])
    if pick < 0.65:
        return rng.choice(["0", "1", "2", "0.5", "-1"])
    if pick < 0.75:
        return f"-{number(rng, depth - 1)}"
    op = rng.choice(["+", "-", "*", "/"])
    return f"({number(rng, depth - 1)} {op} {number(rng, depth - 1)})"


def condition(rng: random.Random, depth: int) -> str:
    pick = rng.random()
    if depth <= 0 or pick < 0.35:
        op = rng.choice(["<", "<=", ">", ">=", "==", "!="])
        return f"{number(rng, 1)} {op} {number(rng, 1)}"
    if pick < 0.45:
        name = rng.choice(["kind", "place"])
        other = rng.choice(["kind", "place", '"a"', '"b"'])
        return f"{name} {rng.choice(['==', '!='])} {other}"
    if pick < 0.55:
        items = ", ".join(f'"{w}"' for w in rng.sample(WORDS, rng.randint(1, 3)))
        return f"{rng.choice(['kind', 'place'])} {rng.choice(['in', 'not in'])} [{items}]"
    if pick < 0.6:
        items = ", ".join(rng.sample(["0", "1", "2", "-1"], rng.randint(1, 3)))
        return f"{rng.choice(['x', 'y'])} {rng.choice(['in', 'not in'])} [{items}]"
    if pick < 0.67:
        return rng.choice(["flag", "true", "false", "flag == true", "flag in [false]"])
    if pick < 0.75:
        return f"not ({condition(rng, depth - 1)})"
    if pick < 0.82:
        return f"({condition(rng, depth - 1)}) == ({condition(rng, depth - 1)})"
    op = rng.choice(["and", "or"])
    parts = [f"({condition(rng, depth - 1)})" for _ in range(rng.randint(2, 3))]
    return f" {op} ".join(parts)


def row(rng: random.Random) -> dict[str, object]:
    def maybe(value: object) -> object:
        return None if rng.random() < 0.2 else value

    return {
        "x": maybe(float(rng.choice([0, 1, 2, -1, 0.5, 3.25]))),
        "y": maybe(float(rng.choice([0, 1, 2, -1]))),
        "z": maybe(rng.uniform(-3, 3)),
        "kind": maybe(rng.choice(WORDS)),
        "place": maybe(rng.choice(WORDS)),
        "flag": maybe(rng.random() < 0.5),
    }


def columns_of(rows: list[dict[str, object]]) -> dict[str, np.ndarray[Any, Any]]:
    out: dict[str, np.ndarray[Any, Any]] = {}
    for name, kind in CATALOGUE.items():
        values = [r[name] for r in rows]
        if kind is NUMBER:
            out[name] = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        else:
            out[name] = np.array(values, dtype=object)
    return out


def test_random_rules_agree_with_the_row_evaluator() -> None:
    rng = random.Random(20261126)
    rows = [row(rng) for _ in range(300)]
    columns = columns_of(rows)
    seen: set[object] = set()
    for _ in range(400):
        compiled = compile_rule(condition(rng, 3), CATALOGUE)
        true, false = vectorise(compiled, CATALOGUE).outcome(columns, len(rows))
        assert not (true & false).any(), compiled.text
        for k, values in enumerate(rows):
            expected = compiled.outcome(values)
            got = True if true[k] else False if false[k] else None
            assert got is expected, (compiled.text, values)
            seen.add(expected)
    assert seen == {True, False, None}  # the generator reaches all three outcomes


def test_a_missing_column_is_unknown_on_every_row() -> None:
    compiled = compile_rule('x > 1 or kind == "a" or flag', CATALOGUE)
    true, false = vectorise(compiled, CATALOGUE).outcome({}, 4)
    assert not true.any()
    assert not false.any()


@pytest.mark.parametrize(
    ("text", "fires"), [("x / y > 1", [False, False, True]), ("x / y == 0", [False, True, False])]
)
def test_division_by_zero_is_unknown(text: str, fires: list[bool]) -> None:
    columns = {"x": np.array([1.0, 0.0, 4.0]), "y": np.array([0.0, 2.0, 2.0])}
    rule = vectorise(compile_rule(text, CATALOGUE), CATALOGUE)
    assert rule.fires(columns, 3).tolist() == fires


def test_the_seeded_rules_vectorise_against_the_scan_catalogue() -> None:
    for draft in DEFAULT_RULES:
        vectorise(compile_rule(draft.expression, SCAN_CATALOGUE), SCAN_CATALOGUE)
