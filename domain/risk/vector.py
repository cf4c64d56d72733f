"""Rules evaluated over columns: the checked AST of ``domain/risk/rules.py`` compiled into
numpy operations on a whole chunk of loans at once.

The scalar closures cost a few microseconds per rule and loan; a portfolio scan of a
million loans with twenty rules would spend minutes in them. Here each node of a rule
runs once per chunk, as one vector operation.

Columns: a number indicator is a float64 array with NaN for unknown; a text or boolean
indicator is an object array with ``None`` for unknown. An indicator missing from the
columns is unknown on every row.

The semantics are the scalar evaluator's, three-valued logic included: a condition is
carried as two masks, *surely true* and *surely false*; a row in neither is unknown.
``not`` swaps them; ``and`` is true where all are true and false where any is false;
``or`` the other way round; a comparison or membership with an unknown operand is
neither. Division by zero is unknown. A test checks the two evaluators agree row by row.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from domain.risk.rules import (
    COMPARISONS,
    Arithmetic,
    Boolean,
    Catalogue,
    Compare,
    CompiledRule,
    IndicatorType,
    Logical,
    Membership,
    Name,
    Negate,
    Node,
    Not,
    Number,
    String,
    type_of,
)

Mask = NDArray[np.bool_]
Floats = NDArray[np.float64]
Objects = NDArray[np.object_]
Columns = Mapping[str, NDArray[Any]]
Tri = tuple[Mask, Mask]  # (surely true, surely false)

_Numeric = Callable[[Columns, int], Floats]
_Textual = Callable[[Columns, int], Objects]
_Logic = Callable[[Columns, int], Tri]


@dataclass(frozen=True, slots=True)
class ColumnRule:
    """A compiled rule that evaluates a whole chunk of rows in one pass."""

    rule: CompiledRule
    _fn: _Logic

    def outcome(self, columns: Columns, n: int) -> Tri:
        """Per row: (fires, surely does not fire); rows in neither are unknown."""
        return self._fn(columns, n)

    def fires(self, columns: Columns, n: int) -> Mask:
        """Per row, whether the rule fires: only a result of True does."""
        return self._fn(columns, n)[0]


def vectorise(rule: CompiledRule, catalogue: Catalogue) -> ColumnRule:
    """Compile an already checked rule into column operations (once per scan)."""
    return ColumnRule(rule, _logic(rule.ast, catalogue))


def _known(values: Objects) -> Mask:
    return np.fromiter((v is not None for v in values), dtype=np.bool_, count=len(values))


def _numeric(node: Node, catalogue: Catalogue) -> _Numeric:
    match node:
        case Number(value=value):
            constant = float(value)
            return lambda _columns, n: np.full(n, constant)
        case Name(name=name):
            return lambda columns, n: (
                np.asarray(columns[name], dtype=np.float64)
                if name in columns
                else np.full(n, np.nan)
            )
        case Negate(operand=operand):
            inner = _numeric(operand, catalogue)
            return lambda columns, n: -inner(columns, n)
        case Arithmetic(op=op, left=left, right=right):
            lhs, rhs = _numeric(left, catalogue), _numeric(right, catalogue)
            if op == "/":

                def divide(columns: Columns, n: int) -> Floats:
                    a, b = lhs(columns, n), rhs(columns, n)
                    with np.errstate(divide="ignore", invalid="ignore"):
                        return np.where(b == 0, np.nan, a / b)

                return divide
            fn = {"+": np.add, "-": np.subtract, "*": np.multiply}[op]

            def arithmetic(columns: Columns, n: int) -> Floats:
                with np.errstate(over="ignore", invalid="ignore"):
                    return fn(lhs(columns, n), rhs(columns, n))

            return arithmetic
    raise AssertionError(f"not a number: {node!r}")  # pragma: no cover


def _textual(node: Node, catalogue: Catalogue) -> _Textual:
    match node:
        case String(value=value):
            constant = value

            def text(_columns: Columns, n: int) -> Objects:
                out = np.empty(n, dtype=object)
                out[:] = constant
                return out

            return text
        case Name(name=name):

            def column(columns: Columns, n: int) -> Objects:
                if name in columns:
                    return np.asarray(columns[name], dtype=object)
                return np.full(n, None, dtype=object)

            return column
    raise AssertionError(f"not text: {node!r}")  # pragma: no cover


def _logic(node: Node, catalogue: Catalogue) -> _Logic:
    match node:
        case Boolean(value=value):
            return lambda _columns, n: (np.full(n, value), np.full(n, not value))
        case Name(name=name):

            def flag(columns: Columns, n: int) -> Tri:
                if name not in columns:
                    return np.zeros(n, dtype=np.bool_), np.zeros(n, dtype=np.bool_)
                values = columns[name]
                true = np.fromiter((v is True for v in values), dtype=np.bool_, count=n)
                false = np.fromiter((v is False for v in values), dtype=np.bool_, count=n)
                return true, false

            return flag
        case Not(operand=operand):
            inner = _logic(operand, catalogue)

            def negation(columns: Columns, n: int) -> Tri:
                true, false = inner(columns, n)
                return false, true

            return negation
        case Logical(op=op, operands=operands):
            parts = tuple(_logic(o, catalogue) for o in operands)
            conjunction = op == "and"

            def logical(columns: Columns, n: int) -> Tri:
                true, false = parts[0](columns, n)
                for part in parts[1:]:
                    t, f = part(columns, n)
                    if conjunction:
                        true, false = true & t, false | f
                    else:
                        true, false = true | t, false & f
                return true, false

            return logical
        case Compare():
            return _compare(node, catalogue)
        case Membership():
            return _membership(node, catalogue)
    raise AssertionError(f"not a condition: {node!r}")  # pragma: no cover


def _compare(node: Compare, catalogue: Catalogue) -> _Logic:
    fn = COMPARISONS[node.op]
    kind = type_of(node.left, catalogue)
    if kind is IndicatorType.NUMBER:
        lhs, rhs = _numeric(node.left, catalogue), _numeric(node.right, catalogue)

        def numbers(columns: Columns, n: int) -> Tri:
            a, b = lhs(columns, n), rhs(columns, n)
            known = ~(np.isnan(a) | np.isnan(b))
            with np.errstate(invalid="ignore"):
                holds = fn(a, b)
            return known & holds, known & ~holds

        return numbers
    if kind is IndicatorType.TEXT:
        left, right = _textual(node.left, catalogue), _textual(node.right, catalogue)

        def texts(columns: Columns, n: int) -> Tri:
            a, b = left(columns, n), right(columns, n)
            known = _known(a) & _known(b)
            holds = np.asarray(fn(a, b), dtype=np.bool_)
            return known & holds, known & ~holds

        return texts
    lt, rt = _logic(node.left, catalogue), _logic(node.right, catalogue)

    def conditions(columns: Columns, n: int) -> Tri:
        (at, af), (bt, bf) = lt(columns, n), rt(columns, n)
        known = (at | af) & (bt | bf)
        same = (at & bt) | (af & bf)
        holds = same if node.op == "==" else ~same
        return known & holds, known & ~holds

    return conditions


def _membership(node: Membership, catalogue: Catalogue) -> _Logic:
    members = frozenset(item.value for item in node.items)
    kind = type_of(node.left, catalogue)
    if kind is IndicatorType.NUMBER:
        subject = _numeric(node.left, catalogue)
        listed = np.array(sorted(float(m) for m in members), dtype=np.float64)

        def numbers(columns: Columns, n: int) -> Tri:
            x = subject(columns, n)
            return ~np.isnan(x), np.isin(x, listed)

        member = numbers
    elif kind is IndicatorType.TEXT:
        text = _textual(node.left, catalogue)

        def texts(columns: Columns, n: int) -> Tri:
            x = text(columns, n)
            found = np.fromiter((v in members for v in x), dtype=np.bool_, count=n)
            return _known(x), found

        member = texts
    else:
        condition = _logic(node.left, catalogue)

        def conditions(columns: Columns, n: int) -> Tri:
            t, f = condition(columns, n)
            found = (t & (True in members)) | (f & (False in members))
            return t | f, found

        member = conditions

    def membership(columns: Columns, n: int) -> Tri:
        known, found = member(columns, n)
        holds = ~found if node.negated else found
        return known & holds, known & ~holds

    return membership
