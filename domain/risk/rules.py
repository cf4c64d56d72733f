"""A small, safe rule language for early-warning rules.

A risk officer writes a rule such as ``days_past_due > 30 and pd_change_90d > 0.05``;
it is parsed once into an immutable AST, type-checked against the indicator catalogue,
and compiled into nested Python closures that evaluate one loan's values at a time
(``domain/risk/vector.py`` compiles the same checked AST into numpy operations over a
whole chunk of loans, which is what the portfolio scan uses).

Grammar (EBNF; keywords are lower case and reserved)::

    rule       = or_expr END ;
    or_expr    = and_expr { "or" and_expr } ;
    and_expr   = not_expr { "and" not_expr } ;
    not_expr   = "not" not_expr | comparison ;
    comparison = sum [ ( "<" | "<=" | ">" | ">=" | "==" | "!=" ) sum
                     | [ "not" ] "in" list ] ;
    sum        = product { ( "+" | "-" ) product } ;
    product    = unary { ( "*" | "/" ) unary } ;
    unary      = "-" unary | primary ;
    primary    = NUMBER | STRING | "true" | "false" | NAME | "(" or_expr ")" ;
    list       = "[" literal { "," literal } "]" ;
    literal    = [ "-" ] NUMBER | STRING | "true" | "false" ;
    NUMBER     = digit { digit } [ "." digit { digit } ] ;
    STRING     = '"' { any character but '"' and '\\' | '\\"' | '\\\\' } '"' ;
    NAME       = ( letter | "_" ) { letter | digit | "_" } ;

Comparisons do not chain (``a < b < c`` is an error); ``not`` binds looser than a
comparison, so ``not x > 1`` means ``not (x > 1)``.  Types: NUMBER, TEXT, BOOLEAN.
Ordering operators and arithmetic take numbers; ``==`` and ``!=`` take two operands of
the same type; ``in`` takes a list whose elements all have the type of the left side;
``and``, ``or`` and ``not`` take booleans; a whole rule must be BOOLEAN.

Evaluation semantics:

* Numbers are evaluated as ``float``.  Indicators are ratios, day counts and changes,
  not money, so binary floating point is precise enough and much faster than
  ``Decimal``; ``int`` and ``Decimal`` indicator values are converted on read.
* Missing values use three-valued logic, as in SQL.  An indicator whose value is
  ``None`` or a float NaN (or absent from the mapping) is *unknown*; arithmetic or a comparison with
  an unknown operand is unknown; ``not unknown`` is unknown; ``false and unknown`` is
  false, ``true or unknown`` is true, and any other ``and``/``or`` involving unknown is
  unknown.  Division by zero is unknown, never an exception.
* A rule fires only when its result is ``True``: :meth:`CompiledRule.evaluate` returns
  ``False`` for both false and unknown, :meth:`CompiledRule.outcome` tells them apart.

Threat model: rules are written by risk officers through the API and stored.  The text
is never executed as Python (no ``eval``/``exec``, no ``ast`` module): it is tokenized
and parsed by the hand-written recursive-descent parser below, and evaluated by closures
built from a fixed set of operations.  Rules can only read the indicator values they
are given.  Pathological inputs are bounded: a rule is at most ``MAX_LENGTH``
characters, and both the parser's nesting (parentheses, ``not``, unary minus) and the
depth of the resulting tree are at most ``MAX_DEPTH``, so parsing, checking and
evaluation never approach Python's recursion limit and run in time linear in the rule.
Every error is a :class:`RuleError` carrying the character position (0-based) of the
problem.
"""

from __future__ import annotations

import difflib
import enum
import numbers
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, ClassVar, Final

from kernel.errors import InvalidInput

MAX_LENGTH: Final = 2000
MAX_DEPTH: Final = 50


class RuleError(InvalidInput):
    """A rule that cannot be parsed or does not type-check; ``position`` is 0-based."""

    code: ClassVar[str] = "INVALID_RULE"

    def __init__(self, reason: str, position: int) -> None:
        super().__init__(f"at {position}: {reason}")
        self.reason = reason
        self.position = position


class IndicatorType(enum.Enum):
    NUMBER = "number"
    TEXT = "text"
    BOOLEAN = "boolean"


Catalogue = Mapping[str, IndicatorType]
Values = Mapping[str, object]
Outcome = bool | None


# --------------------------------------------------------------------------- AST


@dataclass(frozen=True, slots=True)
class Number:
    value: float
    lexeme: str
    pos: int


@dataclass(frozen=True, slots=True)
class String:
    value: str
    pos: int


@dataclass(frozen=True, slots=True)
class Boolean:
    value: bool
    pos: int


@dataclass(frozen=True, slots=True)
class Name:
    name: str
    pos: int


Literal = Number | String | Boolean


@dataclass(frozen=True, slots=True)
class Negate:
    operand: Node
    pos: int


@dataclass(frozen=True, slots=True)
class Arithmetic:
    op: str  # + - * /
    left: Node
    right: Node
    pos: int  # of the operator


@dataclass(frozen=True, slots=True)
class Compare:
    op: str  # < <= > >= == !=
    left: Node
    right: Node
    pos: int  # of the operator


@dataclass(frozen=True, slots=True)
class Membership:
    negated: bool
    left: Node
    items: tuple[Literal, ...]
    pos: int  # of "in" (or of "not" in "not in")


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node
    pos: int


@dataclass(frozen=True, slots=True)
class Logical:
    op: str  # and / or
    operands: tuple[Node, ...]  # at least two; chains are flattened
    pos: int  # of the first operator


Node = Number | String | Boolean | Name | Negate | Arithmetic | Compare | Membership | Not | Logical


def _children(node: Node) -> tuple[Node, ...]:
    match node:
        case Negate(operand=o) | Not(operand=o):
            return (o,)
        case Arithmetic(left=a, right=b) | Compare(left=a, right=b):
            return (a, b)
        case Membership(left=a, items=items):
            return (a, *items)
        case Logical(operands=ops):
            return ops
        case _:
            return ()


# --------------------------------------------------------------------- tokenizer


class _Kind(enum.Enum):
    NUMBER = "number"
    STRING = "string"
    NAME = "name"
    KEYWORD = "keyword"
    SYMBOL = "symbol"
    END = "end"


@dataclass(frozen=True, slots=True)
class _Token:
    kind: _Kind
    text: str  # the lexeme as written
    pos: int
    value: str = ""  # decoded string contents


_KEYWORDS: Final = frozenset({"and", "or", "not", "in", "true", "false"})
_TWO_CHAR: Final = frozenset({"<=", ">=", "==", "!="})
_ONE_CHAR: Final = frozenset("<>+-*/()[],")
_COMPARISONS: Final = frozenset({"<", "<=", ">", ">=", "==", "!="})


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif c.isascii() and c.isdigit():
            j = i
            while j < n and text[j].isascii() and text[j].isdigit():
                j += 1
            if j < n and text[j] == ".":
                j += 1
                if not (j < n and text[j].isascii() and text[j].isdigit()):
                    raise RuleError("expected digits after the decimal point", j)
                while j < n and text[j].isascii() and text[j].isdigit():
                    j += 1
            tokens.append(_Token(_Kind.NUMBER, text[i:j], i))
            i = j
        elif c.isascii() and (c.isalpha() or c == "_"):
            j = i
            while j < n and text[j].isascii() and (text[j].isalnum() or text[j] == "_"):
                j += 1
            word = text[i:j]
            tokens.append(_Token(_Kind.KEYWORD if word in _KEYWORDS else _Kind.NAME, word, i))
            i = j
        elif c == '"':
            j = i + 1
            chars: list[str] = []
            while True:
                if j >= n:
                    raise RuleError('unterminated string (missing closing ")', i)
                d = text[j]
                if d == '"':
                    break
                if d == "\\":
                    if j + 1 < n and text[j + 1] in '"\\':
                        chars.append(text[j + 1])
                        j += 2
                        continue
                    raise RuleError('unknown escape in string (only \\" and \\\\ are allowed)', j)
                chars.append(d)
                j += 1
            tokens.append(_Token(_Kind.STRING, text[i : j + 1], i, "".join(chars)))
            i = j + 1
        elif text[i : i + 2] in _TWO_CHAR:
            tokens.append(_Token(_Kind.SYMBOL, text[i : i + 2], i))
            i += 2
        elif c in _ONE_CHAR:
            tokens.append(_Token(_Kind.SYMBOL, c, i))
            i += 1
        elif c in "=!":
            hint = "==" if c == "=" else '"!=" or "not"'
            raise RuleError(f'unexpected character "{c}" (did you mean {hint}?)', i)
        else:
            raise RuleError(f'unexpected character "{c}"', i)
    tokens.append(_Token(_Kind.END, "", len(text.rstrip())))
    return tokens


# ------------------------------------------------------------------------ parser


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self._tokens = tokens
        self._i = 0
        self._nesting = 0

    def _peek(self, ahead: int = 0) -> _Token:
        return self._tokens[min(self._i + ahead, len(self._tokens) - 1)]

    def _at(self, text: str) -> bool:
        tok = self._peek()
        return tok.kind in (_Kind.KEYWORD, _Kind.SYMBOL) and tok.text == text

    def _advance(self) -> _Token:
        tok = self._tokens[self._i]
        self._i += 1
        return tok

    def _enter(self, tok: _Token) -> None:
        self._nesting += 1
        if self._nesting > MAX_DEPTH:
            raise RuleError(
                f"the rule is nested too deeply (more than {MAX_DEPTH} levels)", tok.pos
            )

    @staticmethod
    def _describe(tok: _Token) -> str:
        return "the end of the rule" if tok.kind is _Kind.END else f'"{tok.text}"'

    def parse(self) -> Node:
        node = self._or()
        tok = self._peek()
        if tok.kind is not _Kind.END:
            if tok.text == ")":
                raise RuleError('unexpected ")" with no matching "("', tok.pos)
            raise RuleError(f'unexpected "{tok.text}" after a complete rule', tok.pos)
        return node

    def _logical(self, op: str, sub: Callable[[], Node]) -> Node:
        first = sub()
        if not self._at(op):
            return first
        pos = self._peek().pos
        operands = [first]
        while self._at(op):
            self._advance()
            operands.append(sub())
        return Logical(op, tuple(operands), pos)

    def _or(self) -> Node:
        return self._logical("or", self._and)

    def _and(self) -> Node:
        return self._logical("and", self._not)

    def _not(self) -> Node:
        if self._at("not"):
            tok = self._advance()
            self._enter(tok)
            operand = self._not()
            self._nesting -= 1
            return Not(operand, tok.pos)
        return self._comparison()

    def _comparison(self) -> Node:
        left = self._sum()
        tok = self._peek()
        if tok.kind is _Kind.SYMBOL and tok.text in _COMPARISONS:
            self._advance()
            node: Node = Compare(tok.text, left, self._sum(), tok.pos)
        elif self._at("in") or (self._at("not") and self._peek(1).text == "in"):
            negated = self._at("not")
            if negated:
                self._advance()
            in_tok = self._advance()
            node = Membership(negated, left, self._list(in_tok), tok.pos)
        else:
            return left
        nxt = self._peek()
        if (nxt.kind is _Kind.SYMBOL and nxt.text in _COMPARISONS) or self._at("in"):
            raise RuleError(
                f'comparisons cannot be chained; join them with "and" (found "{nxt.text}")',
                nxt.pos,
            )
        return node

    def _list(self, in_tok: _Token) -> tuple[Literal, ...]:
        open_tok = self._peek()
        if not self._at("["):
            raise RuleError(
                f'expected a list like ["a", "b"] after "in", found {self._describe(open_tok)}',
                open_tok.pos,
            )
        self._advance()
        if self._at("]"):
            raise RuleError("the list is empty", open_tok.pos)
        items: list[Literal] = []
        while True:
            items.append(self._literal())
            tok = self._peek()
            if self._at(","):
                self._advance()
            elif self._at("]"):
                self._advance()
                return tuple(items)
            elif tok.kind is _Kind.END:
                raise RuleError(f'missing "]" to close "[" at {open_tok.pos}', tok.pos)
            else:
                raise RuleError(f'expected "," or "]" in the list, found "{tok.text}"', tok.pos)

    def _literal(self) -> Literal:
        tok = self._peek()
        if self._at("-") and self._peek(1).kind is _Kind.NUMBER:
            self._advance()
            num = self._advance()
            return Number(-float(num.text), "-" + num.text, tok.pos)
        if tok.kind is _Kind.NUMBER:
            self._advance()
            return Number(float(tok.text), tok.text, tok.pos)
        if tok.kind is _Kind.STRING:
            self._advance()
            return String(tok.value, tok.pos)
        if self._at("true") or self._at("false"):
            self._advance()
            return Boolean(tok.text == "true", tok.pos)
        raise RuleError(
            f"list items must be numbers, strings, true or false; found {self._describe(tok)}",
            tok.pos,
        )

    def _binary(self, ops: str, sub: Callable[[], Node]) -> Node:
        left = sub()
        while (tok := self._peek()).kind is _Kind.SYMBOL and tok.text in ops:
            self._advance()
            left = Arithmetic(tok.text, left, sub(), tok.pos)
        return left

    def _sum(self) -> Node:
        return self._binary("+-", self._product)

    def _product(self) -> Node:
        return self._binary("*/", self._unary)

    def _unary(self) -> Node:
        if self._at("-"):
            tok = self._advance()
            self._enter(tok)
            operand = self._unary()
            self._nesting -= 1
            if isinstance(operand, Number):  # fold "-3" into a literal
                lexeme = operand.lexeme[1:] if operand.lexeme[0] == "-" else "-" + operand.lexeme
                return Number(-operand.value, lexeme, tok.pos)
            return Negate(operand, tok.pos)
        return self._primary()

    def _primary(self) -> Node:
        tok = self._peek()
        if tok.kind is _Kind.NUMBER:
            self._advance()
            return Number(float(tok.text), tok.text, tok.pos)
        if tok.kind is _Kind.STRING:
            self._advance()
            return String(tok.value, tok.pos)
        if tok.kind is _Kind.NAME:
            self._advance()
            return Name(tok.text, tok.pos)
        if self._at("true") or self._at("false"):
            self._advance()
            return Boolean(tok.text == "true", tok.pos)
        if self._at("("):
            self._advance()
            self._enter(tok)
            inner = self._or()
            self._nesting -= 1
            close = self._peek()
            if not self._at(")"):
                if close.kind is _Kind.END:
                    raise RuleError(f'missing ")" to close "(" at {tok.pos}', close.pos)
                raise RuleError(
                    f'expected ")" to close "(" at {tok.pos}, found "{close.text}"', close.pos
                )
            self._advance()
            return inner
        if self._i == 0:
            if tok.kind is _Kind.END:
                raise RuleError("the rule is empty", 0)
            raise RuleError(f"expected a value, found {self._describe(tok)}", tok.pos)
        prev = self._tokens[self._i - 1]
        found = "" if tok.kind is _Kind.END else f', found "{tok.text}"'
        raise RuleError(f'expected a value after "{prev.text}"{found}', tok.pos)


def _check_depth(root: Node) -> None:
    stack: list[tuple[Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise RuleError(
                f"the rule is nested too deeply (more than {MAX_DEPTH} levels)", node.pos
            )
        stack.extend((child, depth + 1) for child in _children(node))


def parse(text: str) -> Node:
    """Parse rule text into its AST; raise :class:`RuleError` on any syntax problem."""
    if len(text) > MAX_LENGTH:
        raise RuleError(
            f"the rule is {len(text)} characters long; at most {MAX_LENGTH} are allowed",
            MAX_LENGTH,
        )
    if not text.strip():
        raise RuleError("the rule is empty", 0)
    node = _Parser(_tokenize(text)).parse()
    _check_depth(node)
    return node


# ------------------------------------------------------------------ type checking


_TYPE_WORDS: Final = {
    IndicatorType.NUMBER: "a number",
    IndicatorType.TEXT: "text",
    IndicatorType.BOOLEAN: "true/false",
}


def _show(node: Node) -> str:
    text = unparse(node)
    return text if isinstance(node, String) else f'"{text}"'


def type_of(node: Node, catalogue: Catalogue) -> IndicatorType:
    """The type of an expression (numbers, text or a condition), checking it on the way."""
    match node:
        case Number():
            return IndicatorType.NUMBER
        case String():
            return IndicatorType.TEXT
        case Boolean():
            return IndicatorType.BOOLEAN
        case Name(name=name, pos=pos):
            if name not in catalogue:
                close = difflib.get_close_matches(name, list(catalogue), n=3, cutoff=0.6)
                hint = " or ".join(f'"{c}"' for c in close)
                hint = f"; did you mean {hint}?" if hint else ""
                raise RuleError(f'unknown indicator "{name}"{hint}', pos)
            return catalogue[name]
        case Negate(operand=operand):
            _expect(operand, IndicatorType.NUMBER, catalogue, '"-"')
            return IndicatorType.NUMBER
        case Arithmetic(op=op, left=left, right=right):
            _expect(left, IndicatorType.NUMBER, catalogue, f'"{op}"')
            _expect(right, IndicatorType.NUMBER, catalogue, f'"{op}"')
            return IndicatorType.NUMBER
        case Compare(op=op, left=left, right=right, pos=pos):
            if op in ("==", "!="):
                lt, rt = type_of(left, catalogue), type_of(right, catalogue)
                if lt is not rt:
                    raise RuleError(
                        f'"{op}" compares values of the same type, but {_show(left)} is '
                        f"{_TYPE_WORDS[lt]} and {_show(right)} is {_TYPE_WORDS[rt]}",
                        pos,
                    )
            else:
                _expect(left, IndicatorType.NUMBER, catalogue, f'"{op}"')
                _expect(right, IndicatorType.NUMBER, catalogue, f'"{op}"')
            return IndicatorType.BOOLEAN
        case Membership(left=left, items=items):
            lt = type_of(left, catalogue)
            for item in items:
                it = type_of(item, catalogue)
                if it is not lt:
                    raise RuleError(
                        f"list item {_show(item)} is {_TYPE_WORDS[it]}, but {_show(left)} "
                        f"is {_TYPE_WORDS[lt]}",
                        item.pos,
                    )
            return IndicatorType.BOOLEAN
        case Not(operand=operand):
            _expect(operand, IndicatorType.BOOLEAN, catalogue, '"not"')
            return IndicatorType.BOOLEAN
        case Logical(op=op, operands=operands):
            for operand in operands:
                _expect(operand, IndicatorType.BOOLEAN, catalogue, f'"{op}"')
            return IndicatorType.BOOLEAN
    raise AssertionError(f"unknown node {node!r}")  # pragma: no cover


def _expect(node: Node, wanted: IndicatorType, catalogue: Catalogue, what: str) -> None:
    actual = type_of(node, catalogue)
    if actual is not wanted:
        raise RuleError(
            f"{what} needs {_TYPE_WORDS[wanted]}, but {_show(node)} is {_TYPE_WORDS[actual]}",
            _start(node),
        )


def _start(node: Node) -> int:
    """The position where the node's text begins (its leftmost descendant)."""
    while True:
        match node:
            case Arithmetic(left=left) | Compare(left=left) | Membership(left=left):
                node = left
            case Logical(operands=operands):
                node = operands[0]
            case _:
                return node.pos


def check(node: Node, catalogue: Catalogue) -> None:
    """Type-check a parsed rule against the catalogue; the rule must be a condition."""
    kind = type_of(node, catalogue)
    if kind is not IndicatorType.BOOLEAN:
        raise RuleError(
            f"a rule must be a condition (true or false), but {_show(node)} is {_TYPE_WORDS[kind]}",
            _start(node),
        )


# ----------------------------------------------------------------------- unparse


_PREC_OR, _PREC_AND, _PREC_NOT, _PREC_CMP, _PREC_SUM, _PREC_PRODUCT, _PREC_UNARY, _PREC_ATOM = (
    range(1, 9)
)


def _precedence(node: Node) -> int:
    match node:
        case Logical(op="or"):
            return _PREC_OR
        case Logical():
            return _PREC_AND
        case Not():
            return _PREC_NOT
        case Compare() | Membership():
            return _PREC_CMP
        case Arithmetic(op="+" | "-"):
            return _PREC_SUM
        case Arithmetic():
            return _PREC_PRODUCT
        case Negate():
            return _PREC_UNARY
        case Number(value=value) if value < 0:
            return _PREC_UNARY
        case _:
            return _PREC_ATOM


def _wrap(node: Node, minimum: int) -> str:
    text = unparse(node)
    return f"({text})" if _precedence(node) < minimum else text


def unparse(node: Node) -> str:
    """Render the AST as normalised rule text; ``parse(unparse(n))`` gives back ``n``."""
    match node:
        case Number(lexeme=lexeme):
            return lexeme
        case String(value=value):
            escaped = value.replace("\\", "\\\\").replace('"', '\\"')
            return f'"{escaped}"'
        case Boolean(value=value):
            return "true" if value else "false"
        case Name(name=name):
            return name
        case Negate(operand=operand):
            return "-" + _wrap(operand, _PREC_UNARY + 1)
        case Arithmetic(op=op, left=left, right=right):
            prec = _precedence(node)
            return f"{_wrap(left, prec)} {op} {_wrap(right, prec + 1)}"
        case Compare(op=op, left=left, right=right):
            return f"{_wrap(left, _PREC_SUM)} {op} {_wrap(right, _PREC_SUM)}"
        case Membership(negated=negated, left=left, items=items):
            keyword = "not in" if negated else "in"
            listed = ", ".join(unparse(item) for item in items)
            return f"{_wrap(left, _PREC_SUM)} {keyword} [{listed}]"
        case Not(operand=operand):
            # "not a > 1" parses the same, but "not (a > 1)" is what people mean to read
            return "not " + _wrap(operand, _PREC_ATOM)
        case Logical(op=op, operands=operands):
            prec = _precedence(node)
            return f" {op} ".join(_wrap(o, prec + 1) for o in operands)
    raise AssertionError(f"unknown node {node!r}")  # pragma: no cover


def _names(root: Node) -> frozenset[str]:
    found: set[str] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, Name):
            found.add(node.name)
        stack.extend(_children(node))
    return frozenset(found)


# ---------------------------------------------------------------------- compiler

_Fn = Callable[[Values], object]

COMPARISONS: Final[Mapping[str, Callable[[Any, Any], Any]]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


def _to_float(name: str, value: object) -> float:
    if isinstance(value, numbers.Real | Decimal) and not isinstance(value, bool):
        return float(value)
    raise TypeError(f"indicator {name!r} must be a number, got {type(value).__name__}")


def _compile(node: Node, catalogue: Catalogue) -> _Fn:
    match node:
        case Number(value=value) | String(value=value) | Boolean(value=value):
            const: object = value
            return lambda _values: const
        case Name(name=name):
            return _compile_name(name, catalogue[name])
        case Negate(operand=operand):
            inner = _compile(operand, catalogue)

            def negate(values: Values) -> object:
                x = inner(values)
                return None if x is None else -x  # type: ignore[operator]

            return negate
        case Arithmetic(op=op, left=left, right=right):
            return _compile_arithmetic(op, _compile(left, catalogue), _compile(right, catalogue))
        case Compare(op=op, left=left, right=right):
            return _compile_compare(op, left, right, catalogue)
        case Membership(negated=negated, left=left, items=items):
            members = frozenset(item.value for item in items)
            subject = _compile(left, catalogue)
            if negated:
                return lambda values: None if (x := subject(values)) is None else x not in members
            return lambda values: None if (x := subject(values)) is None else x in members
        case Not(operand=operand):
            inner = _compile(operand, catalogue)
            return lambda values: None if (x := inner(values)) is None else not x
        case Logical(op=op, operands=operands):
            fns = tuple(_compile(o, catalogue) for o in operands)
            return _compile_and(fns) if op == "and" else _compile_or(fns)
    raise AssertionError(f"unknown node {node!r}")  # pragma: no cover


def _compile_name(name: str, kind: IndicatorType) -> _Fn:
    if kind is IndicatorType.NUMBER:

        def number(values: Values) -> object:
            x = values.get(name)
            if type(x) is float:
                return None if x != x else x  # NaN is unknown, as in columns
            if x is None:
                return None
            return _to_float(name, x)

        return number
    if kind is IndicatorType.BOOLEAN:

        def boolean(values: Values) -> object:
            x = values.get(name)
            if x is None or type(x) is bool:
                return x
            raise TypeError(f"indicator {name!r} must be true or false, got {type(x).__name__}")

        return boolean
    return lambda values: values.get(name)


def _compile_arithmetic(op: str, left: _Fn, right: _Fn) -> _Fn:
    if op == "/":

        def divide(values: Values) -> object:
            a = left(values)
            if a is None:
                return None
            b = right(values)
            if b is None or b == 0:
                return None
            return a / b  # type: ignore[operator]

        return divide
    fn = {"+": operator.add, "-": operator.sub, "*": operator.mul}[op]

    def arithmetic(values: Values) -> object:
        a = left(values)
        if a is None:
            return None
        b = right(values)
        return None if b is None else fn(a, b)

    return arithmetic


def _compile_compare(op: str, left: Node, right: Node, catalogue: Catalogue) -> _Fn:
    fn = COMPARISONS[op]
    lhs = _compile(left, catalogue)
    if isinstance(right, Number | String | Boolean):  # the common "indicator > constant"
        const: object = right.value
        return lambda values: None if (a := lhs(values)) is None else fn(a, const)
    rhs = _compile(right, catalogue)

    def compare(values: Values) -> object:
        a = lhs(values)
        if a is None:
            return None
        b = rhs(values)
        return None if b is None else fn(a, b)

    return compare


def _compile_and(fns: tuple[_Fn, ...]) -> _Fn:
    def conjunction(values: Values) -> object:
        result: object = True
        for fn in fns:
            x = fn(values)
            if x is False:
                return False
            if x is None:
                result = None
        return result

    return conjunction


def _compile_or(fns: tuple[_Fn, ...]) -> _Fn:
    def disjunction(values: Values) -> object:
        result: object = False
        for fn in fns:
            x = fn(values)
            if x is True:
                return True
            if x is None:
                result = None
        return result

    return disjunction


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A parsed, checked rule ready to evaluate many times."""

    text: str  # normalised
    ast: Node
    indicators: frozenset[str]
    _fn: _Fn = field(repr=False, compare=False)

    def outcome(self, values: Values) -> Outcome:
        """True, False, or None when missing values leave the result unknown."""
        result = self._fn(values)
        return None if result is None else bool(result)

    def evaluate(self, values: Values) -> bool:
        """Whether the rule fires: only a result of True does."""
        return self._fn(values) is True


def compile_rule(text: str, catalogue: Catalogue) -> CompiledRule:
    """Parse and type-check ``text`` once, and compile it into closures."""
    node = parse(text)
    check(node, catalogue)
    return CompiledRule(unparse(node), node, _names(node), _compile(node, catalogue))
