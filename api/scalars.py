"""Input values the service cannot represent are refused where they enter, as BAD_USER_INPUT.

Threat model: every argument and variable comes from an untrusted client. A value that
the decimal context, the ``date`` type, the database driver or the database's text
type cannot hold must never reach a resolver, where it would fail as an internal
error (``NaN`` compared with a rate, year 1 minus a day, NUL in a PostgreSQL text, a
lone surrogate encoded for the wire). So each scalar is checked in one place:

- ``Decimal``, ``Date`` and ``DateTime`` by their scalar definitions (the schema's
  scalar map), for literals and variables alike;
- text by :class:`StringLiteralRule` (literals in the document, a validation rule) and
  :class:`VariableText` (every string in the variables, before execution). ``String``
  and ``ID`` are graphql-core's own scalars, which a schema may not redefine.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from typing import Any, NewType, TypeVar

from graphql import (
    SKIP,
    ArgumentNode,
    GraphQLError,
    GraphQLInputType,
    ListValueNode,
    ObjectFieldNode,
    OperationDefinitionNode,
    StringValueNode,
    ValidationContext,
    ValidationRule,
    ValueNode,
    ValuesOfCorrectTypeRule,
    VariableDefinitionNode,
    VisitorAction,
    validate_input_literal,
)
from strawberry.extensions import SchemaExtension
from strawberry.types.scalar import ScalarDefinition

from kernel import formats

BAD_USER_INPUT = "BAD_USER_INPUT"

# Money is Numeric(18, 2) and rates Numeric(9, 6): no column holds more than 16 digits
# before the point or 6 after it. The length cap keeps the parse itself cheap.
DECIMAL_INTEGER_DIGITS = 16
DECIMAL_PLACES = 6
DECIMAL_MAX_CHARS = 40
# Every date the business knows (statements, terms, ratings, a 50-year loan) lies well
# inside; outside it, date arithmetic overflows and the databases disagree.
FIRST_YEAR = 1900
LAST_YEAR = 2200


DateT = TypeVar("DateT", bound=dt.date)


class Unrepresentable(ValueError):
    """A value no column or type of the service can hold: the client's mistake."""


def parse_decimal(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Unrepresentable('Decimal takes a string such as "1250.00" or a number')
    text = value if isinstance(value, str) else str(value)
    if len(text) > DECIMAL_MAX_CHARS:
        raise Unrepresentable(f"Decimal takes at most {DECIMAL_MAX_CHARS} characters")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise Unrepresentable('Decimal takes a decimal number such as "1250.00"') from None
    if not number.is_finite():
        raise Unrepresentable("Decimal takes a finite number, not NaN or an infinity")
    if number.is_zero():
        return Decimal(0)  # "0E-999999" and "0E+99" are zero; keep no such exponent
    _sign, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # finite, so never "n", "N" or "F"
    significant = len(digits)
    while significant > 1 and digits[significant - 1] == 0:
        significant -= 1
    places = -(exponent + len(digits) - significant)
    if number.adjusted() >= DECIMAL_INTEGER_DIGITS:
        raise Unrepresentable(
            f"Decimal takes at most {DECIMAL_INTEGER_DIGITS} digits before the point"
        )
    if places > DECIMAL_PLACES:
        raise Unrepresentable(f"Decimal takes at most {DECIMAL_PLACES} decimal places")
    return number


def _iso(value: object, kind: str, example: str, parse: Callable[[str], DateT]) -> DateT:
    if not isinstance(value, str):
        raise Unrepresentable(f"{kind} takes an ISO 8601 string such as {example}")
    try:
        parsed = parse(value)
    except ValueError:
        raise Unrepresentable(f"{kind} takes ISO 8601, such as {example}") from None
    if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
        raise Unrepresentable(f"{kind} takes years {FIRST_YEAR} to {LAST_YEAR}")
    return parsed


def parse_date(value: object) -> dt.date:
    return _iso(value, "Date", '"2026-03-31"', dt.date.fromisoformat)


def parse_datetime(value: object) -> dt.datetime:
    return _iso(value, "DateTime", '"2026-03-31T09:30:00+08:00"', dt.datetime.fromisoformat)


def _isoformat(value: dt.date) -> str:
    return value.isoformat()


def _scalar(
    origin: type, name: str, description: str, serialize: Callable[[Any], str], parse: Any
) -> ScalarDefinition:
    return ScalarDefinition(
        name=name,
        description=description,
        specified_by_url=None,
        serialize=serialize,
        parse_value=parse,
        parse_literal=None,  # graphql-core reads the literal, then parse_value checks it
        origin=origin,
    )


# A rate (or any other decimal fraction: a share, a ratio, a loss given default) is
# its own scalar, so a field's type says which format it is served in; plain
# ``Decimal`` is money.
Rate = NewType("Rate", Decimal)


def rate_or_none(value: Decimal | None) -> Rate | None:
    return None if value is None else Rate(value)


def rate_of_ratio(value: float | None) -> Rate | None:
    """A statistic computed as a float (an approval rate), served as a rate."""
    return None if value is None else Rate(Decimal(repr(value)))


def serialize_money(value: Decimal) -> str:
    # The one serialisation of money and rates (kernel.formats): whatever a value went
    # through (a client's "500000", a computed "0.05"), the wire shows the column's
    # scale; the compiled read path renders the same text in SQL (json_sql.decimal).
    return formats.money(value)


def serialize_rate(value: Decimal) -> str:
    return formats.rate(value)


# The name of the scalar each format is served as (the compiled path renders by it).
PLACES_OF_SCALAR = {"Decimal": formats.MONEY_PLACES, "Rate": formats.RATE_PLACES}

SCALARS: dict[object, ScalarDefinition] = {
    Decimal: _scalar(
        Decimal,
        "Decimal",
        'Money (CNY): a decimal string, always with two decimals ("150000.00").',
        serialize_money,
        parse_decimal,
    ),
    Rate: _scalar(
        Rate,
        "Rate",
        'A rate or other fraction: a decimal string, always with six decimals ("0.044700").',
        serialize_rate,
        parse_decimal,
    ),
    dt.date: _scalar(dt.date, "Date", "Date (isoformat)", _isoformat, parse_date),
    dt.datetime: _scalar(
        dt.datetime, "DateTime", "Date with time (isoformat)", _isoformat, parse_datetime
    ),
}


def text_fault(text: str) -> str | None:
    """Why a string cannot be stored or sent on (None: it can)."""
    if "\x00" in text:
        return "text may not contain NUL (U+0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "text may not contain a lone surrogate (U+D800 to U+DFFF)"
    return None


def first_text_fault(value: object) -> tuple[str, list[str | int]] | None:
    """The first string in a JSON value that cannot be represented, and its path.

    Iterative: the transport bounds how deep a value nests, this must not recurse.
    """
    stack: list[tuple[object, list[str | int]]] = [(value, [])]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            fault = text_fault(item)
            if fault is not None:
                return fault, path
        elif isinstance(item, dict):
            for key, child in reversed(item.items()):
                fault = text_fault(key) if isinstance(key, str) else None
                if fault is not None:
                    return fault, path
                stack.append((child, [*path, key]))
        elif isinstance(item, list):
            stack.extend((child, [*path, i]) for i, child in reversed(list(enumerate(item))))
    return None


def print_path(path: list[str | int]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


class StringLiteralRule(ValidationRule):
    """Text literals in the document: NUL is legal GraphQL (``"\\u0000"``), not storable.

    Reported as the argument's path (``Argument 'filter' has invalid value at
    .industry``), like graphql-core reports a variable's.
    """

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self._trail: list[str | int] = []

    def enter_argument(self, node: ArgumentNode, *_args: Any) -> None:
        self._trail = [node.name.value]

    def enter_object_field(self, node: ObjectFieldNode, *_args: Any) -> None:
        self._trail.append(node.name.value)

    def leave_object_field(self, *_args: Any) -> None:
        self._trail.pop()

    # A value's key is its index when it sits in a list.
    def enter_list_value(self, _node: ListValueNode, key: Any, *_args: Any) -> None:
        if isinstance(key, int):
            self._trail.append(key)

    def leave_list_value(self, _node: ListValueNode, key: Any, *_args: Any) -> None:
        if isinstance(key, int):
            self._trail.pop()

    enter_object_value = enter_list_value
    leave_object_value = leave_list_value

    def enter_string_value(self, node: StringValueNode, key: Any, *_args: Any) -> None:
        fault = text_fault(node.value)
        if fault is None:
            return
        trail = [*self._trail, key] if isinstance(key, int) else self._trail
        if trail and isinstance(trail[0], str):
            where = f"Argument '{trail[0]}' has invalid value"
            at = f" at {print_path(trail[1:])}" if len(trail) > 1 else ""
        else:  # a variable's default value or a directive's
            where, at = "A value is invalid", ""
        self.report_error(
            GraphQLError(f"{where}{at}: {fault}.", node, extensions={"code": BAD_USER_INPUT})
        )


class ArgumentValuesRule(ValuesOfCorrectTypeRule):
    """The specification's rule for literal values, naming the argument and the path in it
    when one of the scalars above refuses a value.

    graphql-core's message says only what the scalar said ("Expected value of type
    'Date', but encountered error …") with a location; a client fixing a long document
    wants the argument (``Argument 'filter' has invalid value at .minRate: …``), as a
    variable's error names the variable. Every executor validates with this rule in the
    specification's place (api.documents).
    """

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        self._argument: str | None = None

    def enter_argument(self, node: ArgumentNode, *_args: Any) -> None:
        self._argument = node.name.value

    def leave_argument(self, *_args: Any) -> None:
        self._argument = None

    def is_valid_value_node(
        self, node: ValueNode, input_type: GraphQLInputType | None
    ) -> VisitorAction:
        # As the parent's, but the callback keeps the path graphql-core hands it.
        if input_type:
            validate_input_literal(
                node, input_type, self._report, None, None, self.context.hide_suggestions
            )
        return SKIP

    def _report(self, error: GraphQLError, path: list[str | int]) -> None:
        refusal = error.original_error
        if not isinstance(refusal, Unrepresentable) or self._argument is None:
            self.report_error(error)
            return
        at = f" at {print_path(path)}" if path else ""
        self.report_error(
            GraphQLError(
                f"Argument '{self._argument}' has invalid value{at}: {refusal}.",
                error.nodes,
                original_error=refusal,
                extensions={"code": BAD_USER_INPUT},
            )
        )


class VariableText(SchemaExtension):
    """Every string in the variables, checked before execution.

    A request error like graphql-core's own for a variable that does not coerce,
    naming the variable and the path inside it. Placed after the document cache, whose
    validation errors, if any, are reported instead: Strawberry decides whether to
    execute before the validation hooks' ends run, so this runs at their start.
    """

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if not context.pre_execution_errors and context.variables:
            for name, value in context.variables.items():
                found = first_text_fault(value)
                if found is not None:
                    fault, path = found
                    at = f" at {print_path(path)}" if path else ""
                    context.pre_execution_errors = [
                        GraphQLError(
                            f"Variable '${name}' has invalid value{at}: {fault}.",
                            _definition_of(context.graphql_document, name),
                            extensions={"code": BAD_USER_INPUT},
                        )
                    ]
                    break
        yield


def _definition_of(document: Any, name: str) -> VariableDefinitionNode | None:
    for definition in getattr(document, "definitions", ()):
        if isinstance(definition, OperationDefinitionNode):
            for variable in definition.variable_definitions or ():
                if variable.variable.name.value == name:
                    return variable
    return None
