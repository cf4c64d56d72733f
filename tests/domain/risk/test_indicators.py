from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.risk.indicators import (
    IndicatorRule,
    Level,
    WarningSystem,
    ahp_weights,
    level_of,
    overall_level,
    warning_score,
)
from kernel.errors import InvalidInput

THREE = ["days_past_due", "pd_change_90d", "debt_to_asset"]
CONSISTENT_3 = [[1, 3, 5], [1 / 3, 1, 5 / 3], [1 / 5, 3 / 5, 1]]
CYCLIC_3 = [[1, 9, 1 / 9], [1 / 9, 1, 9], [9, 1 / 9, 1]]

DPD = IndicatorRule("days_past_due", direction=1, thresholds=(1, 30, 90))
PD_CHANGE = IndicatorRule("pd_change_90d", direction=1, thresholds=(0.02, 0.05, 0.10))
CURRENT_RATIO = IndicatorRule("current_ratio", direction=-1, thresholds=(1.2, 1.0, 0.8))
RULES = [DPD, PD_CHANGE, CURRENT_RATIO]
WEIGHTS = {"days_past_due": 0.5, "pd_change_90d": 0.3, "current_ratio": 0.2}


def test_consistent_matrix_gives_textbook_weights() -> None:
    # given a perfectly consistent matrix (weights 15:5:3)
    # when
    result = ahp_weights(THREE, CONSISTENT_3)
    # then
    assert [round(result.weights[n], 3) for n in THREE] == [0.652, 0.217, 0.130]
    assert result.lambda_max == pytest.approx(3.0)
    assert result.consistency_ratio == pytest.approx(0.0, abs=1e-9)
    assert result.consistent
    assert result.offending == []


def test_cyclic_judgements_are_inconsistent_and_named() -> None:
    # given a matrix where a beats b, b beats c, c beats a, all strongly
    # when
    result = ahp_weights(THREE, CYCLIC_3)
    # then
    assert result.consistency_ratio >= 0.1
    assert not result.consistent
    assert len(result.offending) == 3
    assert {(row, col) for row, col, _, _ in result.offending} == {
        ("days_past_due", "pd_change_90d"),
        ("days_past_due", "debt_to_asset"),
        ("pd_change_90d", "debt_to_asset"),
    }
    for _, _, given_value, implied in result.offending:
        assert min(given_value, 1 / given_value) == pytest.approx(1 / 9)
        assert implied == pytest.approx(1.0)


def test_single_bad_judgement_is_named_first() -> None:
    # given a consistent 4x4 matrix with one judgement reversed
    names = ["a", "b", "c", "d"]
    w = [8.0, 4.0, 2.0, 1.0]
    matrix = [[wi / wj for wj in w] for wi in w]
    matrix[0][3], matrix[3][0] = 1 / 8, 8.0
    # when
    result = ahp_weights(names, matrix)
    # then
    assert not result.consistent
    assert result.offending[0][:3] == ("a", "d", 1 / 8)


def test_saaty_style_4x4_satisfies_the_eigen_equation() -> None:
    # given a near-consistent 4x4 matrix of integer judgements
    names = ["dpd", "pd", "leverage", "liquidity"]
    matrix = [
        [1, 3, 5, 7],
        [1 / 3, 1, 3, 5],
        [1 / 5, 1 / 3, 1, 3],
        [1 / 7, 1 / 5, 1 / 3, 1],
    ]
    # when
    result = ahp_weights(names, matrix)
    # then A.w = lambda_max.w, weights sum to 1 and rank as judged
    w = np.array([result.weights[n] for n in names])
    assert np.allclose(np.array(matrix) @ w, result.lambda_max * w)
    assert w.sum() == pytest.approx(1.0)
    assert list(w) == sorted(w, reverse=True)
    assert result.lambda_max > 4
    assert 0 < result.consistency_ratio < 0.1
    assert result.consistency_index == pytest.approx((result.lambda_max - 4) / 3)
    assert result.consistency_ratio == pytest.approx(result.consistency_index / 0.90)


def test_two_criteria_are_always_consistent() -> None:
    # given / when
    result = ahp_weights(["a", "b"], [[1, 9], [1 / 9, 1]])
    # then
    assert result.consistency_ratio == 0.0
    assert result.weights["a"] == pytest.approx(0.9)


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        ([[1, 3, 5], [1 / 3, 1, 2], [1 / 5, 3 / 5, 1]], "'pd_change_90d' vs 'debt_to_asset'"),
        ([[1, 0, 5], [1, 1, 2], [1 / 5, 1 / 2, 1]], "positive"),
        ([[1, 3, 5], [1 / 3, 1, 2]], "3x3"),
        ([[1, 3, 5], [1 / 3, 1], [1 / 5, 1 / 2, 1]], "3x3"),
        ([[1, 12, 5], [1 / 12, 1, 2], [1 / 5, 1 / 2, 1]], "scale"),
        ([[2, 3, 5], [1 / 3, 1, 2], [1 / 5, 1 / 2, 1]], "diagonal"),
        ([[1, -3, 5], [-1 / 3, 1, 2], [1 / 5, 1 / 2, 1]], "positive"),
    ],
)
def test_invalid_matrices_are_refused_naming_the_cell(
    matrix: list[list[float]], message: str
) -> None:
    # given / when / then
    with pytest.raises(InvalidInput, match=message):
        ahp_weights(THREE, matrix)


def test_too_few_or_duplicate_names_are_refused() -> None:
    # given / when / then
    with pytest.raises(InvalidInput, match="2 to 15"):
        ahp_weights(["a"], [[1]])
    with pytest.raises(InvalidInput, match="unique"):
        ahp_weights(["a", "a"], [[1, 1], [1, 1]])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, Level.GREEN),
        (1, Level.YELLOW),
        (29.9, Level.YELLOW),
        (30, Level.ORANGE),
        (89, Level.ORANGE),
        (90, Level.RED),
        (400, Level.RED),
        (None, Level.GREEN),
        (math.nan, Level.GREEN),
    ],
)
def test_level_when_higher_is_worse(value: float | None, expected: Level) -> None:
    # given DPD: yellow from 1, orange from 30, red from 90
    # when / then
    assert level_of(DPD, value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2.0, Level.GREEN),
        (1.21, Level.GREEN),
        (1.2, Level.YELLOW),
        (1.0, Level.ORANGE),
        (0.81, Level.ORANGE),
        (0.8, Level.RED),
        (0.1, Level.RED),
    ],
)
def test_level_when_lower_is_worse(value: float, expected: Level) -> None:
    # given current ratio: yellow at 1.2 or below, orange at 1.0, red at 0.8
    # when / then
    assert level_of(CURRENT_RATIO, value) is expected


@pytest.mark.parametrize(
    ("direction", "thresholds"),
    [(1, (30, 1, 90)), (-1, (0.8, 1.0, 1.2)), (0, (1, 2, 3)), (1, (1, 2, math.inf))],
)
def test_rules_with_bad_thresholds_are_refused(
    direction: int, thresholds: tuple[float, float, float]
) -> None:
    # given / when / then
    with pytest.raises(InvalidInput):
        IndicatorRule("x", direction=direction, thresholds=thresholds)


def test_warning_score_bounds() -> None:
    # given
    all_green = dict.fromkeys(WEIGHTS, Level.GREEN)
    all_red = dict.fromkeys(WEIGHTS, Level.RED)
    # when / then
    assert warning_score(all_green, WEIGHTS) == 0.0
    assert warning_score(all_red, WEIGHTS) == pytest.approx(100.0)
    assert warning_score(all_red, WEIGHTS) <= 100.0


def test_warning_score_weighs_levels() -> None:
    # given
    levels = {"days_past_due": Level.RED, "pd_change_90d": Level.YELLOW, "current_ratio": 0}
    # when
    score = warning_score({k: Level(v) for k, v in levels.items()}, WEIGHTS)
    # then
    assert score == pytest.approx(0.5 * 100 + 0.3 * 100 / 3)


def test_weights_must_cover_the_indicators_and_sum_to_one() -> None:
    # given
    levels = dict.fromkeys(WEIGHTS, Level.YELLOW)
    # when / then
    with pytest.raises(InvalidInput, match="missing"):
        warning_score(levels, {"days_past_due": 0.5, "pd_change_90d": 0.5})
    with pytest.raises(InvalidInput, match="sum to 1"):
        warning_score(levels, {**WEIGHTS, "current_ratio": 0.3})
    with pytest.raises(InvalidInput, match="non-negative"):
        warning_score(levels, {**WEIGHTS, "days_past_due": 0.8, "current_ratio": -0.1})
    nearly = {**WEIGHTS, "current_ratio": 0.2 + 5e-7}
    assert warning_score(levels, nearly) == pytest.approx(100 / 3)


@pytest.mark.parametrize(
    ("score", "expected"),
    [(0, Level.GREEN), (24.9, Level.GREEN), (25, Level.YELLOW), (50, Level.ORANGE),
     (75, Level.RED), (100, Level.RED)],
)  # fmt: skip
def test_overall_level_cut_points(score: float, expected: Level) -> None:
    # given / when / then
    assert overall_level(score) is expected


def test_overall_level_refuses_bad_input() -> None:
    # given / when / then
    with pytest.raises(InvalidInput):
        overall_level(101)
    with pytest.raises(InvalidInput):
        overall_level(10, (50, 25, 75))


def test_assess_explains_the_score() -> None:
    # given
    system = WarningSystem(RULES, WEIGHTS)
    # when
    result = system.assess({"days_past_due": 45, "pd_change_90d": None, "current_ratio": 0.7})
    # then
    assert result.levels == {
        "days_past_due": Level.ORANGE,
        "pd_change_90d": Level.GREEN,
        "current_ratio": Level.RED,
    }
    assert result.unknown == ["pd_change_90d"]
    assert result.score == pytest.approx(0.5 * 200 / 3 + 0.2 * 100)
    assert math.fsum(result.contributions.values()) == pytest.approx(result.score)
    assert result.contributions["pd_change_90d"] == 0.0
    assert result.level is Level.ORANGE


def test_assess_treats_missing_values_as_unknown() -> None:
    # given
    system = WarningSystem(RULES, WEIGHTS)
    # when
    result = system.assess({"days_past_due": 100, "not_a_rule": 5.0})
    # then
    assert result.unknown == ["pd_change_90d", "current_ratio"]
    assert result.score == pytest.approx(50.0)
    assert result.level is Level.ORANGE


def test_from_ahp_builds_weights_in_rule_order() -> None:
    # given rules in the order of the matrix rows
    # when
    system = WarningSystem.from_ahp(RULES, CONSISTENT_3)
    # then
    assert system.weights["days_past_due"] == pytest.approx(15 / 23)
    assert system.weights["current_ratio"] == pytest.approx(3 / 23)


def test_from_ahp_refuses_an_inconsistent_matrix_naming_comparisons() -> None:
    # given / when / then
    with pytest.raises(InvalidInput, match="inconsistent") as raised:
        WarningSystem.from_ahp(RULES, CYCLIC_3)
    assert "days_past_due vs pd_change_90d" in raised.value.message


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=1.0, max_value=9.0), min_size=2, max_size=8))
def test_consistent_matrix_yields_its_weights_back(w: list[float]) -> None:
    # given the perfectly consistent matrix a_ij = w_i / w_j
    names = [f"i{k}" for k in range(len(w))]
    matrix = [[wi / wj for wj in w] for wi in w]
    # when
    result = ahp_weights(names, matrix)
    # then
    total = sum(w)
    for name, wi in zip(names, w, strict=True):
        assert result.weights[name] == pytest.approx(wi / total, rel=1e-6)
    assert result.consistency_ratio == pytest.approx(0.0, abs=1e-9)
    assert result.consistent
