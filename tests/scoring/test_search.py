"""The search within a budget, the blend with the logistic baseline, and its reasons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from catboost import Pool

from scoring.inference import Scorer
from scoring.linear import NumericTerm, baseline, fit_linear, frame
from scoring.model import ScoringModel, vectorise
from scoring.spec import FeatureSpec, Kind
from scoring.training import SEARCH_SPACE, calibration_check, cross_validate, fit, search
from tests.scoring.test_training import FAST, SPECS, book

# The search's own candidates (no "candidates" given), few and fast trees each.
SEARCHING: dict[str, Any] = {k: v for k, v in FAST.items() if k != "candidates"}
BLENDED: dict[str, Any] = {**FAST, "blend": True}


@pytest.fixture(scope="module")
def blended() -> tuple[ScoringModel, list[Any]]:
    rows, labels = book(700, seed=11)
    found = search(rows, labels, SPECS, seed=3, params=BLENDED)
    assert found.blend is not None  # the data is linear in its log-odds: both parts count
    return found.model(found.chosen, blended=True), rows


def test_the_search_tries_every_candidate_within_a_large_budget_and_one_within_none() -> None:
    rows, labels = book(300, seed=5)
    wide = search(rows, labels, SPECS, params={**SEARCHING, "budget_seconds": 1e9})
    narrow = search(rows, labels, SPECS, params={**SEARCHING, "budget_seconds": 0.0})
    assert [t.overrides for t in wide.trials] == list(SEARCH_SPACE)
    assert [t.overrides for t in narrow.trials] == [{}]  # the default is always tried
    best = max(t.auc for t in wide.trials)
    assert wide.chosen.auc == best
    assert wide.chosen is next(t for t in wide.trials if t.auc == best)  # ties: the earlier


def test_the_linear_part_is_the_baseline_regression_exactly() -> None:
    # given features without declared directions: nothing is left out
    specs = tuple(FeatureSpec(f.name, f.kind, 0, f.label) for f in SPECS)
    rows, labels = book(400, seed=8)
    vectors = [vectorise(specs, r) for r in rows]
    y = np.asarray(labels)
    # when
    part = fit_linear(vectors, y, specs)
    reference = baseline(specs).fit(frame(vectors, specs), y)
    # then: the same log-odds as scikit-learn's, row by row
    columns = [[v[i] for v in vectors] for i in range(len(specs))]
    expected = reference.decision_function(frame(vectors, specs))
    assert np.allclose(part.logit(columns), expected, atol=1e-9)


def test_a_direction_the_regression_contradicts_leaves_the_feature_out() -> None:
    # given age declared to raise the risk while the data says nothing of it: if its
    # coefficient comes out negative it is dropped; leverage (+1) is kept with its sign
    rows, labels = book(400, seed=8)
    for row, label in zip(rows, labels, strict=True):
        row["age"] = 30.0 - 20.0 * label + (hash(str(row["leverage"])) % 5)
    specs = (*SPECS[:3], FeatureSpec("age", Kind.NUMERIC, monotone=1))
    vectors = [vectorise(specs, r) for r in rows]
    part = fit_linear(vectors, np.asarray(labels), specs)
    assert "age" not in part.terms
    leverage = part.terms["leverage"]
    assert isinstance(leverage, NumericTerm)
    assert leverage.coef > 0
    coverage = part.terms.get("coverage")
    assert coverage is None or (isinstance(coverage, NumericTerm) and coverage.coef < 0)


def test_a_blends_parts_add_up_to_its_log_odds(blended: tuple[ScoringModel, list[Any]]) -> None:
    # given a blended model, and CatBoost's own SHAP values of each row explained alone
    model, rows = blended
    assert model.linear is not None
    scorer = Scorer(model)
    a, b = model.calibration
    categorical = [i for i, f in enumerate(model.features) if f.kind is Kind.CATEGORICAL]
    names = [f.name for f in model.features]
    for row in rows[:25]:
        vector = model.vector(row)
        pool = Pool([vector], cat_features=categorical, feature_names=names)
        columns = [[v] for v in vector]
        native = model.booster.get_feature_importance(pool, type="ShapValues")[0]
        # when
        parts = scorer.impacts(pool, columns)[0]
        log_odds = scorer.score_columns(dict(zip(names, columns, strict=True))).log_odds[0]
        # then: each feature's part is the booster's (times a) plus the baseline's, and
        # with the model's expected log-odds they add up to the blend's log-odds
        linear = model.linear.contributions(columns)[0]
        assert np.allclose(parts, a * native[:-1] + linear, atol=1e-9)
        expected = a * native[-1] + b + model.linear.expected
        assert parts.sum() + expected == pytest.approx(log_odds, abs=1e-9)
        assert log_odds == pytest.approx(model.calibrated_log_odds([vector])[0], abs=1e-12)


def test_a_blended_model_is_saved_and_loaded_whole(
    blended: tuple[ScoringModel, list[Any]], tmp_path: Path
) -> None:
    model, rows = blended
    model.save(tmp_path)
    loaded = ScoringModel.load(tmp_path, expected=model.features)
    vectors = [model.vector(r) for r in rows[:50]]
    assert loaded.linear == model.linear
    assert loaded.pd(vectors) == model.pd(vectors)


def test_batch_and_single_assessments_of_a_blend_agree(
    blended: tuple[ScoringModel, list[Any]],
) -> None:
    model, rows = blended
    scorer = Scorer(model)
    batch = list(scorer.assess_many(rows[:60], chunk=25, with_reasons=True))
    assert batch == [scorer.assess(r) for r in rows[:60]]


def test_fit_keeps_the_blend_only_when_it_beats_the_booster_on_inner_folds() -> None:
    rows, labels = book(500, seed=13)
    model = fit(rows, labels, SPECS, seed=2, params=BLENDED)
    blend = model.metrics["blend"]
    assert blend is not None
    assert blend["kept"] == (blend["auc"] > model.metrics["selection"][0]["auc"])
    assert (model.linear is not None) == blend["kept"]


def test_evaluate_reports_default_tuned_and_blend_with_a_small_budget() -> None:
    # CI's smoke of the search: a budget of a few seconds, two outer folds
    rows, labels = book(400, seed=17)
    params = {**SEARCHING, "budget_seconds": 4.0, "blend": True}
    result = cross_validate(rows, labels, SPECS, folds=2, seed=1, params=params)
    variants = result["variants"]
    assert set(variants) == {"default", "tuned", "blend"}
    for figures in variants.values():
        assert len(figures["aucs"]) == 2
        assert figures["auc_std"] >= 0.0
    assert len(result["chosen_per_fold"]) == 2
    for chosen in result["chosen_per_fold"]:
        assert 1 <= chosen["candidates_tried"] <= len(SEARCH_SPACE)
        assert chosen["params"] in list(SEARCH_SPACE)
    assert result["gain_over_default"] == pytest.approx(
        result["auc_mean"] - variants["default"]["auc_mean"]
    )


def test_calibration_is_checked_platt_against_isotonic_on_inner_folds() -> None:
    # given out-of-fold log-odds that Platt fits exactly, and ones it cannot (a step)
    rng = np.random.default_rng(4)
    raw = rng.normal(0.0, 1.5, 3000)
    logistic = (rng.random(3000) < 1 / (1 + np.exp(-(0.8 * raw - 1.0)))).astype(np.int64)
    step = (rng.random(3000) < np.where(raw > 1.0, 0.6, 0.05)).astype(np.int64)
    # when
    smooth, stepped = calibration_check(raw, logistic), calibration_check(raw, step)
    # then
    assert smooth["better"] == "platt"
    assert stepped["better"] == "isotonic"
    assert stepped["isotonic"]["ece"] < stepped["platt"]["ece"]
