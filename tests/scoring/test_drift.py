"""Population stability: zero for the same population, large for a moved one."""

from __future__ import annotations

import random

import pytest

from scoring.drift import psi, reference, reference_of, verdict


def test_the_same_population_is_stable() -> None:
    # given
    rng = random.Random(7)
    train = [rng.gauss(0, 1) for _ in range(5000)]
    recent = [rng.gauss(0, 1) for _ in range(2000)]

    # when
    index = psi(reference(train, categorical=False), recent)

    # then
    assert index < 0.02
    assert verdict(index) == "stable"


def test_a_shifted_population_is_unstable() -> None:
    # given
    rng = random.Random(7)
    train = [rng.gauss(0, 1) for _ in range(5000)]
    moved = [rng.gauss(1.0, 1) for _ in range(2000)]

    # when
    index = psi(reference(train, categorical=False), moved)

    # then
    assert index > 0.25
    assert verdict(index) == "unstable"


def test_missing_values_and_unseen_categories_count_as_bins() -> None:
    # given: the training sample knew two industries and never missed a value
    ref = reference(["retail"] * 50 + ["catering"] * 50, categorical=True)

    # when
    same = psi(ref, ["retail"] * 40 + ["catering"] * 40)
    unseen = psi(ref, ["mining"] * 40 + ["retail"] * 40)
    missing = psi(reference([1.0, 2.0, 3.0, 4.0] * 25, categorical=False), [None] * 50 + [2.0] * 50)

    # then
    assert same == pytest.approx(0.0)
    assert unseen > 0.25
    assert missing > 0.25


def test_the_reference_keeps_every_feature_and_the_score() -> None:
    # when
    ref = reference_of(
        [{"a": 1.0, "b": "x"}, {"a": 2.0, "b": "y"}], [("a", False), ("b", True)], [600.0, 640.0]
    )

    # then
    assert set(ref["features"]) == {"a", "b"}
    assert ref["features"]["b"]["kind"] == "categorical"
    assert ref["score"]["kind"] == "numeric"
