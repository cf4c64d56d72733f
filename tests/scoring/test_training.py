"""Training, the stored artifact, calibration and cross-validation, on data made here
and on the German Credit file shipped with the project."""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scoring.model import ModelMismatch, ScoringModel
from scoring.spec import MISSING_CATEGORY, FeatureSpec, Kind, Row
from scoring.training import (
    brier,
    cross_validate,
    ece,
    evaluate_csv,
    fingerprint,
    fit,
    ks,
    platt,
)

GERMAN_CREDIT = Path(__file__).resolve().parents[2] / "scoring" / "data" / "german_credit.csv"
GERMAN_CREDIT_SHA256 = "6b50831841e75276567bd233b1bc99cfa3793452de95743f506e1f5186144ab3"

# Few, fast trees: these tests check behaviour, not quality.
FAST: dict[str, Any] = {
    "iterations": 80,
    "learning_rate": 0.15,
    "early_stopping_rounds": 20,
    "validation_folds": 3,
    "candidates": [{}],
}
SPECS = (
    FeatureSpec("coverage", Kind.NUMERIC, monotone=-1, label="interest coverage"),
    FeatureSpec("leverage", Kind.NUMERIC, monotone=1, label="debt-to-asset ratio"),
    FeatureSpec("sector", Kind.CATEGORICAL),
    FeatureSpec("age", Kind.NUMERIC),
)
SECTORS = ("retail trade", "construction", "software & services", "agriculture")


def book(n: int, *, seed: int = 7, base: float = -1.0) -> tuple[list[Row], list[int]]:
    """Synthetic loans whose default odds rise with leverage and fall with coverage."""
    rng = np.random.default_rng(seed)
    coverage = rng.gamma(2.0, 2.0, n)
    leverage = rng.beta(2.0, 3.0, n)
    sector = rng.integers(0, len(SECTORS), n)
    age = rng.integers(1, 40, n).astype(float)
    effect = np.array([0.4, 0.8, -0.3, 0.0])
    logit = base - 0.35 * coverage + 3.0 * leverage + effect[sector]
    labels = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int).tolist()
    rows: list[Row] = []
    for i in range(n):
        rows.append(
            {
                "coverage": None if i % 17 == 0 else float(coverage[i]),
                "leverage": float(leverage[i]),
                "sector": None if i % 23 == 0 else SECTORS[sector[i]],
                "age": float(age[i]),
            }
        )
    return rows, labels


@pytest.fixture(scope="module")
def trained() -> tuple[ScoringModel, list[Row], list[int]]:
    rows, labels = book(600)
    return fit(rows, labels, SPECS, seed=3, params=FAST), rows, labels


def test_vector_makes_missing_values_explicit(
    trained: tuple[ScoringModel, list[Row], list[int]],
) -> None:
    model, _, _ = trained

    vector = model.vector({"coverage": None, "leverage": 1, "sector": None, "age": 4})

    assert math.isnan(float(vector[0]))
    assert vector[1:] == [1.0, MISSING_CATEGORY, 4.0]
    assert model.vector({"coverage": 2, "leverage": 0.5, "sector": 12, "age": 3})[2] == "12"
    with pytest.raises(KeyError, match="row has no feature 'age'"):
        model.vector({"coverage": 2, "leverage": 0.5, "sector": "x"})


def test_fit_records_what_it_did(trained: tuple[ScoringModel, list[Row], list[int]]) -> None:
    model, _rows, labels = trained

    assert model.features == SPECS
    assert model.metrics["n_rows"] == 600
    assert model.metrics["n_bad"] == sum(labels)
    assert model.metrics["auc"] > 0.7
    assert 1 <= model.metrics["iterations"] <= FAST["iterations"]
    assert model.params["iterations"] == model.metrics["iterations"]
    assert model.params["monotone_constraints"] == {"coverage": -1, "leverage": 1}
    assert model.params["thread_count"] == 2
    assert model.calibration[0] > 0
    assert len(model.fingerprint) == 64
    json.dumps([model.metrics, model.params], allow_nan=False)


def test_fit_chooses_the_candidate_with_the_best_out_of_fold_auc() -> None:
    rows, labels = book(300, seed=4)
    candidates = [{"depth": 1, "iterations": 2}, {}, {"auto_class_weights": "Balanced"}]

    model = fit(rows, labels, SPECS, params={**FAST, "candidates": candidates})

    trials = model.metrics["selection"]
    assert [t["params"] for t in trials] == candidates
    best = max(t["auc"] for t in trials)
    first_best = next(t for t in trials if t["auc"] == best)
    assert model.metrics["chosen"] == first_best["params"] != candidates[0]
    assert model.metrics["auc"] == best
    assert model.params["candidates"] == candidates


def test_the_same_seed_gives_the_same_model(
    trained: tuple[ScoringModel, list[Row], list[int]],
) -> None:
    model, rows, labels = trained

    again = fit(rows, labels, SPECS, seed=3, params=FAST)

    vectors = [model.vector(r) for r in rows[:50]]
    assert again.pd(vectors) == model.pd(vectors)
    assert (again.fingerprint, again.calibration) == (model.fingerprint, model.calibration)


def test_save_then_load_gives_identical_pds(
    trained: tuple[ScoringModel, list[Row], list[int]], tmp_path: Path
) -> None:
    # given a trained model saved to a directory
    model, rows, _ = trained
    model.save(tmp_path / "v1")

    # when it is loaded back, checked against the features it was trained on
    loaded = ScoringModel.load(tmp_path / "v1", expected=SPECS)

    # then it scores every row exactly as before, one row or the whole book at once
    vectors = [loaded.vector(r) for r in rows]
    assert loaded.pd(vectors) == model.pd(vectors)
    assert loaded.pd(vectors[:1]) == model.pd(vectors[:1])
    assert (loaded.features, loaded.calibration) == (model.features, model.calibration)
    assert (loaded.metrics, loaded.params) == (model.metrics, model.params)
    assert loaded.fingerprint == model.fingerprint
    meta = json.loads((tmp_path / "v1" / "model.json").read_text())
    assert meta["features"][1] == {
        "name": "leverage",
        "kind": "numeric",
        "monotone": 1,
        "label": "debt-to-asset ratio",
    }
    assert meta["catboost_version"]
    assert (tmp_path / "v1" / "model.cbm").stat().st_size > 0


def test_small_and_large_inputs_score_alike(
    trained: tuple[ScoringModel, list[Row], list[int]],
) -> None:
    # lists for a few rows, a DataFrame for many: the same numbers either way
    model, rows, _ = trained
    vectors = [model.vector(r) for r in rows]

    whole = model.raw_log_odds(vectors)
    pieces = [
        x for i in range(0, len(vectors), 100) for x in model.raw_log_odds(vectors[i : i + 100])
    ]

    assert whole == pieces
    assert model.raw_log_odds([]) == []


@pytest.mark.parametrize(
    ("expected", "difference"),
    [
        (
            (*SPECS[:3], FeatureSpec("years_in_business", Kind.NUMERIC)),
            "the model lacks years_in_business; the model has unexpected age",
        ),
        (
            (*SPECS[:3], FeatureSpec("age", Kind.CATEGORICAL)),
            "age is numeric in the model, categorical expected",
        ),
        (
            (SPECS[1], SPECS[0], *SPECS[2:]),
            "another order: position 0 is coverage in the model, leverage expected",
        ),
        (SPECS[:3], "the model has unexpected age"),
    ],
)
def test_load_refuses_other_features(
    trained: tuple[ScoringModel, list[Row], list[int]],
    tmp_path: Path,
    expected: tuple[FeatureSpec, ...],
    difference: str,
) -> None:
    model, _, _ = trained
    model.save(tmp_path)

    with pytest.raises(ModelMismatch) as caught:
        ScoringModel.load(tmp_path, expected=expected)

    assert difference in str(caught.value)


def test_monotone_features_move_pd_only_the_allowed_way(
    trained: tuple[ScoringModel, list[Row], list[int]],
) -> None:
    model, rows, _ = trained
    grid = np.linspace(0.0, 1.0, 41).tolist()
    for row in rows[:40]:
        # raising leverage (+1) never lowers the PD
        up = model.pd([model.vector({**row, "leverage": x}) for x in grid])
        assert all(b >= a for a, b in itertools.pairwise(up))
        # raising coverage (-1) never raises it
        down = model.pd([model.vector({**row, "coverage": 20 * x}) for x in grid])
        assert all(b <= a for a, b in itertools.pairwise(down))
    assert up[-1] > up[0]  # and the constraint did not flatten the feature


def test_calibration_corrects_a_skewed_booster() -> None:
    # given a book with few defaults (about 6 %), a booster trained with balanced class
    # weights, whose raw probabilities overstate the risk, and one trained without
    rows, labels = book(1600, seed=11, base=-3.0)
    train, test = slice(0, 1000), slice(1000, None)
    assert 0.03 < np.mean(labels) < 0.1
    skewed = fit(
        rows[train], labels[train], SPECS, params={**FAST, "auto_class_weights": "Balanced"}
    )
    plain = fit(rows[train], labels[train], SPECS, params=FAST)

    # when both score rows neither saw
    y = np.asarray(labels[test])

    def before_and_after(model: ScoringModel) -> tuple[float, float, float, float]:
        vectors = [model.vector(r) for r in rows[test]]
        raw = 1 / (1 + np.exp(-np.asarray(model.raw_log_odds(vectors))))
        calibrated = np.asarray(model.pd(vectors))
        return brier(y, raw), brier(y, calibrated), ece(y, raw), ece(y, calibrated)

    # then calibration cuts the skewed booster's Brier score and ECE by far
    brier_raw, brier_calibrated, ece_raw, ece_calibrated = before_and_after(skewed)
    assert brier_calibrated < brier_raw - 0.02
    assert ece_calibrated < ece_raw / 3
    # and costs the plain one next to nothing
    brier_raw, brier_calibrated, _, _ = before_and_after(plain)
    assert brier_calibrated <= brier_raw + 0.002
    for model in (skewed, plain):
        assert model.metrics["brier"] <= model.metrics["brier_uncalibrated"] + 1e-9


def test_platt_recovers_a_known_scaling() -> None:
    rng = np.random.default_rng(5)
    raw = rng.normal(0.0, 2.0, 20_000)
    y = (rng.random(raw.size) < 1 / (1 + np.exp(-(0.5 * raw - 1.0)))).astype(np.int64)

    a, b = platt(raw, y)

    assert a == pytest.approx(0.5, abs=0.03)
    assert b == pytest.approx(-1.0, abs=0.05)


def test_platt_without_signal_falls_back_to_the_base_rate() -> None:
    raw = np.array([3.0, 2.0, 1.0, -1.0, -2.0, -3.0])
    y = np.array([0, 0, 0, 1, 1, 1])  # higher raw, fewer defaults: no usable ranking

    a, b = platt(raw, y)

    assert (a, b) == (0.0, 0.0)


def test_metrics_on_known_values() -> None:
    y = np.array([0, 0, 1, 1])
    score = np.array([0.1, 0.36, 0.32, 0.8])

    assert ks(y, score) == pytest.approx(0.5)
    assert brier(y, score) == pytest.approx((0.01 + 0.1296 + 0.4624 + 0.04) / 4)
    # three bins: 0.1 (no default), 0.32 and 0.36 (mean 0.34, one default in two), 0.8
    assert ece(y, score) == pytest.approx((0.1 + 2 * 0.16 + 0.2) / 4)


def test_fingerprint_follows_the_data() -> None:
    rows, labels = book(50)
    vectors: list[list[float | str]] = [[float(r["leverage"] or 0), str(r["sector"])] for r in rows]
    specs = (SPECS[1], SPECS[2])

    same = fingerprint(specs, vectors, labels)
    flipped = fingerprint(specs, vectors, [1 - labels[0], *labels[1:]])

    assert same == fingerprint(specs, [list(v) for v in vectors], list(labels))
    assert flipped != same


@pytest.mark.parametrize(
    ("labels", "message"),
    [([0, 1], "3 rows but 2 labels"), ([0, 0, 0], "both classes"), ([0, 1, 2], "labels must be 0")],
)
def test_fit_refuses_bad_labels(labels: list[int], message: str) -> None:
    rows, _ = book(3)

    with pytest.raises(ValueError, match=message):
        fit(rows, labels, SPECS, params=FAST)


def test_cross_validate_reports_model_and_baseline_on_the_same_folds() -> None:
    rows, labels = book(400, seed=2)

    result = cross_validate(rows, labels, SPECS, folds=3, seed=1, params=FAST)

    for key in ("auc_mean", "auc_std", "aucs", "ks", "brier", "ece", "n_rows", "n_bad"):
        assert key in result
        assert key in result["baseline"] or key in ("n_rows", "n_bad")
    assert (result["n_rows"], result["n_bad"], result["folds"]) == (400, sum(labels), 3)
    assert len(result["aucs"]) == len(result["baseline"]["aucs"]) == 3
    assert result["auc_mean"] == pytest.approx(np.mean(result["aucs"]))
    assert result["auc_std"] == pytest.approx(np.std(result["aucs"]))
    assert 0.6 < result["auc_mean"] <= 1
    assert 0.6 < result["baseline"]["auc_mean"] <= 1
    json.dumps(result, allow_nan=False)


@pytest.mark.skipif(not GERMAN_CREDIT.exists(), reason="German Credit is not shipped")
def test_german_credit_is_the_published_file() -> None:
    digest = hashlib.sha256(GERMAN_CREDIT.read_bytes()).hexdigest()

    assert digest == GERMAN_CREDIT_SHA256


@pytest.mark.skipif(not GERMAN_CREDIT.exists(), reason="German Credit is not shipped")
def test_german_credit_quick_cross_validation() -> None:
    params = {**FAST, "iterations": 150, "learning_rate": 0.1, "validation_folds": 2}

    result = evaluate_csv(GERMAN_CREDIT, "class", "bad", folds=2, seed=42, params=params)

    assert (result["n_rows"], result["n_bad"]) == (1000, 300)
    assert result["data"]["columns"]["purpose"]["kind"] == "categorical"
    assert result["auc_mean"] > 0.7
    assert result["baseline"]["auc_mean"] > 0.7
    json.dumps(result, allow_nan=False)
