"""Scorecard scaling (600 points at 50:1, 20 to double the odds) and the master scale."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scoring.scorecard import DEFAULT_GRADES, MasterScale, Scorecard, half_up


def pd_for_odds(odds: float) -> float:
    """The PD whose good:bad odds are ``odds``:1."""
    return 1.0 / (1.0 + odds)


def test_fifty_to_one_scores_six_hundred() -> None:
    assert Scorecard().points(pd_for_odds(50.0)) == 600


@pytest.mark.parametrize(("odds", "points"), [(100.0, 620), (200.0, 640), (25.0, 580), (1.0, 487)])
def test_every_twenty_points_double_the_odds(odds: float, points: int) -> None:
    assert Scorecard().points(pd_for_odds(odds)) == points


def test_higher_pd_never_scores_higher() -> None:
    card = Scorecard()
    pds = np.linspace(0.0001, 0.9999, 500)
    points = [card.points(float(pd)) for pd in pds]
    assert points == sorted(points, reverse=True)


def test_scaling_is_configurable_and_invertible() -> None:
    card = Scorecard(base_points=500, base_odds=20.0, pdo=40)
    assert card.points(pd_for_odds(20.0)) == 500
    assert card.points(pd_for_odds(40.0)) == 540
    assert card.odds(540) == pytest.approx(40.0)
    assert card.factor == pytest.approx(40 / math.log(2))


def test_log_odds_and_pd_give_the_same_points() -> None:
    card = Scorecard()
    for pd in (0.0004, 0.013, 0.2, 0.77):
        z = math.log(pd / (1 - pd))
        assert card.points_for_log_odds(z) == card.points(pd)
        assert card.points_many(np.array([z])).tolist() == [card.points(pd)]


def test_points_round_half_away_from_zero() -> None:
    assert [half_up(x) for x in (2.5, 3.5, -2.5, 2.4999, -0.5, 0.49)] == [3, 4, -3, 2, -1, 0]
    # factor 1 and offset 0: points are minus the log-odds
    plain = Scorecard(base_points=0, base_odds=1.0, pdo=math.log(2))
    log_odds = np.array([-2.5, 2.5, -3.5, 0.4])
    assert plain.points_many(log_odds).tolist() == [3, -3, 4, 0]
    assert [plain.points_for_log_odds(float(z)) for z in log_odds] == [3, -3, 4, 0]


@pytest.mark.parametrize("pd", [0.0, 1.0, -0.1, math.nan])
def test_points_need_a_pd_strictly_inside(pd: float) -> None:
    with pytest.raises(ValueError, match="strictly between"):
        Scorecard().points(pd)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_odds": 0.0}, "base odds"),
        ({"base_odds": -5.0}, "base odds"),
        ({"pdo": 0}, "double the odds"),
        ({"base_points": math.inf}, "base points"),
    ],
)
def test_scorecard_rejects_meaningless_scaling(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Scorecard(**kwargs)


def test_default_master_scale() -> None:
    scale = MasterScale()
    assert scale.names == ("AAA", "AA", "A", "BBB", "BB", "B", "CCC", "CC", "C")
    assert scale.grade(0.0) == "AAA"
    assert scale.grade(0.0005) == "AAA"  # bounds are inclusive
    assert scale.grade(0.00051) == "AA"
    assert scale.grade(0.02) == "BB"
    assert scale.grade(0.3) == "CC"
    assert scale.grade(1.0) == "C"


def test_grades_never_improve_as_pd_rises() -> None:
    scale = MasterScale()
    pds = np.concatenate([np.linspace(0.0, 1.0, 2001), [b for _, b in DEFAULT_GRADES]])
    pds.sort()
    ranks = [scale.names.index(scale.grade(float(pd))) for pd in pds]
    assert ranks == sorted(ranks)
    assert scale.grade_many(pds) == [scale.grade(float(pd)) for pd in pds]


def test_a_custom_scale() -> None:
    scale = MasterScale.of([("low", 0.02), ("medium", 0.1), ("high", 1.0)])
    assert [scale.grade(pd) for pd in (0.01, 0.02, 0.05, 0.5)] == ["low", "low", "medium", "high"]


@pytest.mark.parametrize(
    ("grades", "message"),
    [
        ((), "at least one grade"),
        ((("A", 0.1), ("B", 0.1), ("C", 1.0)), "rise strictly"),
        ((("A", 0.2), ("B", 0.1), ("C", 1.0)), "rise strictly"),
        ((("A", 0.1), ("B", 0.9)), "reach a PD of 1.0"),
        ((("A", 0.0), ("B", 1.0)), r"lie in \(0, 1\]"),
        ((("A", 0.1), ("B", 1.5)), r"lie in \(0, 1\]"),
        ((("A", 0.1), ("A", 1.0)), "distinct"),
        ((("", 0.1), ("B", 1.0)), "non-empty"),
    ],
)
def test_master_scale_validation(grades: tuple[tuple[str, float], ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MasterScale(grades)


@pytest.mark.parametrize("pd", [-0.01, 1.01, math.nan])
def test_grades_need_a_probability(pd: float) -> None:
    with pytest.raises(ValueError, match="PD"):
        MasterScale().grade(pd)
    with pytest.raises(ValueError, match="PD"):
        MasterScale().grade_many(np.array([0.1, pd]))
