from __future__ import annotations

import random
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.risk.rules import (
    MAX_DEPTH,
    MAX_LENGTH,
    Compare,
    IndicatorType,
    Logical,
    Name,
    Not,
    Number,
    RuleError,
    check,
    compile_rule,
    parse,
    unparse,
)
from kernel.errors import InvalidInput

NUMBER = IndicatorType.NUMBER
TEXT = IndicatorType.TEXT
BOOLEAN = IndicatorType.BOOLEAN

CATALOGUE = {
    "days_past_due": NUMBER,
    "pd_change_90d": NUMBER,
    "debt_to_asset": NUMBER,
    "industry": TEXT,
    "current_ratio": NUMBER,
    "interest_coverage": NUMBER,
    "revenue_change": NUMBER,
    "downgraded": BOOLEAN,
    "a": BOOLEAN,
    "b": BOOLEAN,
    "c": BOOLEAN,
    "x": NUMBER,
    "y": NUMBER,
}

SMALL_INTS = st.integers(min_value=-(2**53), max_value=2**53)  # exact as floats


def error_of(text: str) -> RuleError:
    with pytest.raises(RuleError) as caught:
        compile_rule(text, CATALOGUE)
    return caught.value


# ----------------------------------------------------------------- the examples


@pytest.mark.parametrize(
    ("values", "fires"),
    [
        ({"days_past_due": 31, "pd_change_90d": 0.06}, True),
        ({"days_past_due": 30, "pd_change_90d": 0.06}, False),
        ({"days_past_due": 45, "pd_change_90d": 0.05}, False),
    ],
)
def test_days_past_due_and_pd_change(values: dict[str, object], fires: bool) -> None:
    # given
    rule = compile_rule("days_past_due > 30 and pd_change_90d > 0.05", CATALOGUE)

    # when
    result = rule.evaluate(values)

    # then
    assert result is fires
    assert rule.indicators == {"days_past_due", "pd_change_90d"}


@pytest.mark.parametrize(
    ("values", "fires"),
    [
        ({"debt_to_asset": 0.9, "industry": "construction"}, True),
        ({"debt_to_asset": 0.9, "industry": "real_estate"}, True),
        ({"debt_to_asset": 0.9, "industry": "retail"}, False),
        ({"debt_to_asset": 0.85, "industry": "construction"}, False),
    ],
)
def test_debt_to_asset_and_industry_list(values: dict[str, object], fires: bool) -> None:
    # given
    rule = compile_rule(
        'debt_to_asset > 0.85 and industry in ["construction", "real_estate"]', CATALOGUE
    )

    # when
    result = rule.evaluate(values)

    # then
    assert result is fires


@pytest.mark.parametrize(
    ("values", "fires"),
    [
        ({"current_ratio": 0.8, "interest_coverage": 3.0}, True),
        ({"current_ratio": 1.2, "interest_coverage": 1.0}, True),
        ({"current_ratio": 1.0, "interest_coverage": 1.5}, False),
    ],
)
def test_not_with_parentheses_or(values: dict[str, object], fires: bool) -> None:
    # given
    rule = compile_rule("not (current_ratio >= 1) or interest_coverage < 1.5", CATALOGUE)

    # when
    result = rule.evaluate(values)

    # then
    assert result is fires
    assert rule.text == "not (current_ratio >= 1) or interest_coverage < 1.5"


@pytest.mark.parametrize(
    ("revenue_change", "fires"),
    [(-0.25, True), (-0.2, False), (0.1, False)],
)
def test_arithmetic_against_negative_number(revenue_change: float, fires: bool) -> None:
    # given
    rule = compile_rule("(revenue_change * 100) < -20", CATALOGUE)

    # when
    result = rule.evaluate({"revenue_change": revenue_change})

    # then
    assert result is fires
    assert rule.text == "revenue_change * 100 < -20"


def test_not_in_list_and_boolean_indicator() -> None:
    # given
    rule = compile_rule('industry not in ["farming"] and downgraded == true', CATALOGUE)

    # when / then
    assert rule.evaluate({"industry": "retail", "downgraded": True}) is True
    assert rule.evaluate({"industry": "farming", "downgraded": True}) is False
    assert rule.evaluate({"industry": "retail", "downgraded": False}) is False


def test_strings_with_escaped_quotes() -> None:
    # given
    rule = compile_rule(r'industry == "say \"hi\" \\ bye"', CATALOGUE)

    # when / then
    assert rule.evaluate({"industry": 'say "hi" \\ bye'}) is True
    assert rule.text == r'industry == "say \"hi\" \\ bye"'


def test_normalised_text_round_trips_to_the_same_tree() -> None:
    # given
    text = "  a   or(b and   not c)or x-(y-1)/ -2 >=1 and not not a"

    # when
    tree = parse(text)
    again = parse(unparse(tree))

    # then
    assert unparse(again) == unparse(tree)
    assert unparse(tree) == "a or b and not c or x - (y - 1) / -2 >= 1 and not (not a)"


def test_int_and_decimal_values_are_read_as_numbers() -> None:
    # given
    rule = compile_rule("x / y > 0.5", CATALOGUE)

    # when / then
    assert rule.evaluate({"x": Decimal("3"), "y": 4}) is True


def test_a_wrongly_typed_value_is_a_programming_error() -> None:
    # given
    rule = compile_rule("x > 1", CATALOGUE)

    # when / then
    with pytest.raises(TypeError, match="'x' must be a number"):
        rule.evaluate({"x": "2"})


# ------------------------------------------------------------------- precedence


def test_and_binds_tighter_than_or() -> None:
    # given
    tree = parse("a or b and c")

    # then
    assert isinstance(tree, Logical)
    assert tree.op == "or"
    assert tree.operands[0] == Name("a", 0)
    assert isinstance(tree.operands[1], Logical)
    assert tree.operands[1].op == "and"


def test_and_binds_tighter_than_or_when_evaluated() -> None:
    # given
    rule = compile_rule("a or b and c", CATALOGUE)

    # when / then
    assert rule.evaluate({"a": True, "b": False, "c": False}) is True
    assert rule.evaluate({"a": False, "b": True, "c": False}) is False


def test_multiplication_binds_tighter_than_addition() -> None:
    # given
    rule = compile_rule("1 + 2 * 3 > 6", CATALOGUE)

    # when / then
    assert rule.evaluate({}) is True  # 7 > 6; (1 + 2) * 3 would be 9 as well, so:
    assert compile_rule("1 + 2 * 3 == 7", CATALOGUE).evaluate({}) is True
    assert compile_rule("(1 + 2) * 3 == 9", CATALOGUE).evaluate({}) is True
    assert compile_rule("10 - 4 - 3 == 3", CATALOGUE).evaluate({}) is True
    assert compile_rule("8 / 4 / 2 == 1", CATALOGUE).evaluate({}) is True


def test_not_binds_looser_than_comparison() -> None:
    # given
    tree = parse("not x > 1")

    # then
    assert isinstance(tree, Not)
    assert isinstance(tree.operand, Compare)


def test_unary_minus_is_folded_into_literals() -> None:
    # when
    tree = parse("x > - 3")

    # then
    assert isinstance(tree, Compare)
    assert tree.right == Number(-3.0, "-3", 4)


# ----------------------------------------------------------------- syntax errors


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("days_past_due > 30 and", 22, 'expected a value after "and"'),
        ("days_past_due > 30 and )", 23, 'expected a value after "and", found ")"'),
        ("", 0, "the rule is empty"),
        ("   ", 0, "the rule is empty"),
        ("x > 1 $ 2", 6, 'unexpected character "$"'),
        ("x > .5", 4, 'unexpected character "."'),
        ("x > 5.", 6, "expected digits after the decimal point"),
        ("x = 1", 2, 'unexpected character "=" (did you mean ==?)'),
        ('industry == "constr', 12, "unterminated string"),
        (r'industry == "a\n"', 14, "unknown escape"),
        ("(x > 1 and a", 12, 'missing ")" to close "(" at 0'),
        ("(x > 1 a", 7, 'expected ")" to close "(" at 0, found "a"'),
        ("x > 1)", 5, 'unexpected ")" with no matching "("'),
        ("x > 1 y", 6, 'unexpected "y" after a complete rule'),
        ("x < y < 3", 6, "comparisons cannot be chained"),
        ("x in 3", 5, 'expected a list like ["a", "b"] after "in", found "3"'),
        ("x in []", 5, "the list is empty"),
        ("x in [1, 2", 10, 'missing "]" to close "[" at 5'),
        ("x in [1 2]", 8, 'expected "," or "]" in the list, found "2"'),
        ("x in [y]", 6, "list items must be numbers, strings, true or false"),
        (") > 1", 0, 'expected a value, found ")"'),
    ],
)
def test_syntax_errors_name_the_problem_and_its_position(
    text: str, position: int, fragment: str
) -> None:
    # when
    error = error_of(text)

    # then
    assert error.position == position
    assert fragment in error.message
    assert error.message.startswith(f"at {position}: ")


def test_rule_error_is_invalid_input_with_its_own_code() -> None:
    # when
    error = error_of("x >")

    # then
    assert isinstance(error, InvalidInput)
    assert error.code == "INVALID_RULE"
    assert str(error) == 'at 3: expected a value after ">"'


def test_rule_longer_than_the_limit_is_refused() -> None:
    # given
    text = "x > 1 and " * 200 + "x > 1"
    assert len(text) > MAX_LENGTH

    # when
    error = error_of(text)

    # then
    assert error.position == MAX_LENGTH
    assert f"at most {MAX_LENGTH}" in error.message


def test_rule_at_the_length_limit_is_accepted() -> None:
    # given
    body = " or ".join(["x > 1"] * 200)[: MAX_LENGTH - 10]
    body = body[: body.rfind(" or")]
    text = body + " " * (MAX_LENGTH - len(body))

    # when
    rule = compile_rule(text, CATALOGUE)

    # then
    assert len(text) == MAX_LENGTH
    assert rule.evaluate({"x": 2}) is True


@pytest.mark.parametrize(
    "text",
    [
        "(" * (MAX_DEPTH + 1) + "x > 1" + ")" * (MAX_DEPTH + 1),
        "not " * (MAX_DEPTH + 1) + "a",
        "- " * (MAX_DEPTH + 1) + "x > 1",
        "x" + " + 1" * (MAX_DEPTH + 1) + " > 1",
    ],
)
def test_nesting_deeper_than_the_limit_is_refused(text: str) -> None:
    # when
    error = error_of(text)

    # then
    assert "nested too deeply" in error.message
    assert 0 <= error.position < len(text)


def test_nesting_within_the_limit_is_accepted() -> None:
    # given
    text = "(" * (MAX_DEPTH - 2) + "x > 1" + ")" * (MAX_DEPTH - 2)

    # when
    rule = compile_rule(text, CATALOGUE)

    # then
    assert rule.evaluate({"x": 2}) is True


def test_long_and_chains_are_flat_not_deep() -> None:
    # given
    text = " and ".join(["x > 1"] * 150)

    # when
    rule = compile_rule(text, CATALOGUE)

    # then
    assert rule.evaluate({"x": 2}) is True
    assert rule.evaluate({"x": 0}) is False


# ------------------------------------------------------------------ type errors


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("industry > 3", 0, '">" needs a number, but "industry" is text'),
        ('days_past_due in ["a"]', 18, 'list item "a" is text, but "days_past_due" is a number'),
        ("days_past_due in [1, true]", 21, 'list item "true" is true/false'),
        ('days_past_due + "x" > 1', 16, '"+" needs a number, but "x" is text'),
        ("industry == 3", 9, '"==" compares values of the same type'),
        ("downgraded < true", 0, '"<" needs a number'),
        ("x > 1 and x", 10, '"and" needs true/false, but "x" is a number'),
        ("a or industry", 5, '"or" needs true/false, but "industry" is text'),
        ("not x", 4, '"not" needs true/false, but "x" is a number'),
        ("-industry == 1", 1, '"-" needs a number'),
        ("x + 1", 0, "a rule must be a condition (true or false)"),
        ('"construction"', 0, "a rule must be a condition"),
    ],
)
def test_type_errors_name_the_problem_and_its_position(
    text: str, position: int, fragment: str
) -> None:
    # when
    error = error_of(text)

    # then
    assert fragment in error.message
    assert error.position == position


def test_unknown_indicator_suggests_close_names() -> None:
    # when
    error = error_of("x > 1 and days_past_du > 30")

    # then
    assert error.position == 10
    assert 'unknown indicator "days_past_du"' in error.message
    assert '"days_past_due"' in error.message


def test_unknown_indicator_without_a_close_name_has_no_suggestion() -> None:
    # when
    error = error_of("zzzzzz > 1")

    # then
    assert error.message == 'at 0: unknown indicator "zzzzzz"'


def test_check_accepts_a_parsed_tree() -> None:
    # given
    tree = parse("interest_coverage < 1.5")

    # when / then
    check(tree, CATALOGUE)
    with pytest.raises(RuleError, match="unknown indicator"):
        check(tree, {"x": NUMBER})


# ----------------------------------------------------------- three-valued logic


@pytest.mark.parametrize(
    ("text", "values", "outcome"),
    [
        ("x > 1", {"x": None}, None),
        ("x > 1", {}, None),
        ("not (x > 1)", {"x": None}, None),
        ("x == y", {"x": None, "y": None}, None),
        ("x + 1 > 1", {"x": None}, None),
        ("-x > 1", {"x": None}, None),
        ('industry in ["a"]', {"industry": None}, None),
        ('industry not in ["a"]', {"industry": None}, None),
        ("x > 1 and y > 1", {"x": None, "y": 0}, False),
        ("x > 1 and y > 1", {"x": None, "y": 2}, None),
        ("y > 1 and x > 1", {"x": None, "y": 0}, False),
        ("x > 1 or y > 1", {"x": None, "y": 2}, True),
        ("x > 1 or y > 1", {"x": None, "y": 0}, None),
        ("y > 1 or x > 1", {"x": None, "y": 2}, True),
        ("a and b", {"a": True, "b": None}, None),
        ("not a", {"a": None}, None),
        ("x > 1 or x <= 1", {"x": None}, None),
    ],
)
def test_missing_values_use_three_valued_logic(
    text: str, values: dict[str, object], outcome: bool | None
) -> None:
    # given
    rule = compile_rule(text, CATALOGUE)

    # when
    result = rule.outcome(values)

    # then
    assert result is outcome
    assert rule.evaluate(values) is (outcome is True)


@pytest.mark.parametrize(
    ("text", "outcome"),
    [
        ("x / y > 1", None),
        ("not (x / y > 1)", None),
        ("x / y > 1 or x > 0", True),
        ("x / (y * 2) > 1 and x > 5", False),
        ("x / 0 == 0", None),
    ],
)
def test_division_by_zero_is_unknown(text: str, outcome: bool | None) -> None:
    # given
    rule = compile_rule(text, CATALOGUE)

    # when
    result = rule.outcome({"x": 1, "y": 0})

    # then
    assert result is outcome


# ----------------------------------------------------------------- performance


def test_compiled_rule_evaluates_many_rows_without_reparsing() -> None:
    # given
    rng = random.Random(7)
    rule = compile_rule(
        "days_past_due > 30 and pd_change_90d > 0.05 "
        'or debt_to_asset / current_ratio > 0.85 and industry in ["construction", "real_estate"]',
        CATALOGUE,
    )
    industries = ["construction", "real_estate", "retail", "farming"]
    rows = [
        {
            "days_past_due": rng.randint(0, 90),
            "pd_change_90d": rng.uniform(-0.1, 0.1),
            "debt_to_asset": rng.random(),
            "current_ratio": rng.choice([0.0, 0.5, 1.0, 2.0, None]),
            "industry": rng.choice(industries),
        }
        for _ in range(100_000)
    ]

    # when
    fired = sum(rule.evaluate(row) for row in rows)

    # then
    expected = 0
    for row in rows:
        ratio = row["current_ratio"]
        late = row["days_past_due"] > 30 and row["pd_change_90d"] > 0.05  # type: ignore[operator]
        heavy = (
            ratio is not None
            and ratio != 0
            and row["debt_to_asset"] / ratio > 0.85  # type: ignore[operator]
            and row["industry"] in ("construction", "real_estate")
        )
        expected += bool(late or heavy)
    assert fired == expected
    assert 0 < fired < len(rows)


# -------------------------------------------------------------------- property


@given(a=SMALL_INTS, b=SMALL_INTS)
def test_comparison_agrees_with_python(a: int, b: int) -> None:
    # given
    greater = compile_rule("x > y", CATALOGUE)
    not_greater = compile_rule("not (x > y)", CATALOGUE)

    # when
    values = {"x": a, "y": b}

    # then
    assert greater.evaluate(values) is (a > b)
    assert not_greater.evaluate(values) is (a <= b)
