"""Platt or isotonic, chosen on inner folds by log loss; served with faithful reasons."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from catboost import Pool

from scoring import training
from scoring.calibration import Calibrator, Isotonic, fit_isotonic, reliability, rescale
from scoring.inference import Scorer
from scoring.model import ScoringModel
from scoring.spec import FeatureSpec, Kind, Row
from scoring.training import cross_validate, ece, fit
from tests.scoring.test_training import FAST, SPECS, book

# An additive booster (stumps): it can only add a part per feature to the log-odds.
ADDITIVE: dict[str, Any] = {**FAST, "depth": 1, "iterations": 300, "learning_rate": 0.2}
BOTH = (FeatureSpec("x1", Kind.NUMERIC, monotone=1), FeatureSpec("x2", Kind.NUMERIC, monotone=1))


def both_high(n: int, *, seed: int) -> tuple[list[Row], list[int]]:
    """Loans that default often only when both x1 and x2 are high (an AND): an
    additive model's log-odds take three equally spaced levels (neither, one, both
    high) where the truth has two rates, 3% and 60%. No affine map of those log-odds
    (Platt) puts the middle level at 3%; an isotonic map does."""
    rng = np.random.default_rng(seed)
    x1, x2 = rng.random(n), rng.random(n)
    pd_ = np.where((x1 > 0.5) & (x2 > 0.5), 0.6, 0.03)
    labels = (rng.random(n) < pd_).astype(int).tolist()
    rows: list[Row] = [{"x1": float(a), "x2": float(b)} for a, b in zip(x1, x2, strict=True)]
    return rows, labels


@pytest.fixture(scope="module")
def isotonic_model() -> tuple[ScoringModel, list[Row], list[int]]:
    rows, labels = both_high(3000, seed=5)
    return fit(rows, labels, BOTH, seed=3, params=ADDITIVE), rows, labels


def test_isotonic_is_chosen_where_platt_cannot_calibrate(
    isotonic_model: tuple[ScoringModel, list[Row], list[int]],
) -> None:
    # given: the AND data, scored by an additive booster
    model, _, _ = isotonic_model
    # then: the cross-fitted log loss preferred isotonic, and the model serves it
    check = model.metrics["calibration_check"]
    assert check["isotonic"]["log_loss"] < check["platt"]["log_loss"]
    assert model.metrics["calibrator"] == model.params["calibrator"] == "isotonic"
    assert model.calibrator is Calibrator.ISOTONIC
    # and on fresh loans its PDs are better calibrated than Platt's would be
    rows, labels = both_high(4000, seed=6)
    y = np.asarray(labels)
    vectors = [model.vector(r) for r in rows]
    stacked = model.stacked_log_odds(vectors)
    served = np.asarray(model.pd(vectors))
    platt_pd = 1 / (1 + np.exp(-stacked))
    assert ece(y, served) < ece(y, platt_pd)
    assert training.calibration_check(stacked, y)["better"] == "isotonic"


def test_platt_is_kept_where_isotonic_would_overfit_few_rows() -> None:
    # given: few loans whose log-odds are smooth in the features
    rows, labels = book(70, seed=21)
    # when
    model = fit(rows, labels, SPECS, seed=3, params=FAST)
    # then
    check = model.metrics["calibration_check"]
    assert check["platt"]["log_loss"] < check["isotonic"]["log_loss"]
    assert model.calibrator is Calibrator.PLATT
    assert model.isotonic is None
    assert model.params["calibrator"] == "platt"


def test_a_calibrator_can_be_forced_and_an_unknown_one_is_refused() -> None:
    rows, labels = book(300, seed=2)
    forced = fit(rows, labels, SPECS, seed=3, params={**FAST, "calibrator": "isotonic"})
    assert forced.calibrator is Calibrator.ISOTONIC
    with pytest.raises(ValueError, match="sigmoid"):
        fit(rows, labels, SPECS, params={**FAST, "calibrator": "sigmoid"})


def test_an_isotonic_model_is_saved_and_loaded_whole(
    isotonic_model: tuple[ScoringModel, list[Row], list[int]], tmp_path: Path
) -> None:
    model, rows, _ = isotonic_model
    model.save(tmp_path / "m")
    loaded = ScoringModel.load(tmp_path / "m", expected=BOTH)
    vectors = [model.vector(r) for r in rows[:200]]
    assert loaded.isotonic == model.isotonic
    assert loaded.pd(vectors) == model.pd(vectors)


def test_isotonic_pds_stay_inside_laplaces_bounds() -> None:
    # given: a map fitted on rows whose lowest scores never default
    z = np.arange(100, dtype=np.float64)
    y = (z > 80).astype(np.int64)
    # when
    fitted = fit_isotonic(z, y)
    # then: no PD of 0 or 1, so log-odds and points stay finite
    assert fitted.y[0] == pytest.approx(1 / 102)
    assert fitted.y[-1] == pytest.approx(1 - 1 / 102)
    assert np.isfinite(fitted.log_odds(np.array([-1e9, 50.0, 1e9]))).all()
    with pytest.raises(ValueError, match="inside"):
        Isotonic.from_json({"x": [0.0, 1.0], "y": [0.0, 0.5]})


def test_reasons_under_isotonic_add_up_to_the_calibrated_log_odds(
    isotonic_model: tuple[ScoringModel, list[Row], list[int]],
) -> None:
    # given: the isotonic model, and rows scored one at a time and as a column batch
    model, rows, _ = isotonic_model
    scorer = Scorer(model)
    names = [f.name for f in model.features]
    sample = rows[:300]
    columns = scorer.columns(sample)
    batch = scorer.score_columns(columns, with_reasons=True)
    vectors = [model.vector(r) for r in sample]
    pool = Pool(vectors, feature_names=names)
    # when
    parts = scorer.impacts(pool, [list(c) for c in columns.values()])
    # then: each row's parts, with the calibrated log-odds of its expected value,
    # add up to its calibrated log-odds, the one its PD is the sigmoid of
    stacked = model.stacked_log_odds(vectors)
    native = model.booster.get_feature_importance(pool, type="ShapValues")
    a, b = model.calibration
    expected = a * native[:, -1] + b  # the booster's expected value, as Platt maps it
    base = model.calibrate(expected)
    # (a row on its expected value's isotonic step keeps its parts unscaled: reasons all the
    # same, explaining the score before the map)
    moved = np.abs(batch.log_odds - base) > 1e-12
    assert np.allclose(parts[moved].sum(axis=1) + base[moved], batch.log_odds[moved], atol=1e-9)
    assert np.allclose(parts[~moved], a * native[~moved, :-1], atol=1e-9)
    assert np.allclose(batch.log_odds, model.calibrate(stacked), atol=1e-12)
    # each part keeps its sign: the calibration map never reverses a feature's effect
    assert (np.sign(parts) * np.sign(a * native[:, :-1]) >= 0).all()
    # and a single application gets the batch's PD, points and reasons
    assert batch.reasons is not None
    for k, row in enumerate(sample[:20]):
        one = scorer.assess(row)
        assert one.pd == pytest.approx(float(batch.pd[k]), abs=1e-12)
        assert one.score == int(batch.score[k])
        assert list(one.reasons) == batch.reasons[k]
        for reason in one.reasons:
            assert reason["impact"] == pytest.approx(
                parts[k, names.index(reason["feature"])], abs=1e-4
            )


def test_cross_validation_chooses_the_calibrator_inside_each_outer_fold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: a spy on the choice, which must never see an outer fold's test rows
    seen: list[int] = []
    check = training.calibration_check

    def spy(raw: Any, y: Any, **kwargs: Any) -> dict[str, Any]:
        seen.append(len(y))
        return check(raw, y, **kwargs)

    monkeypatch.setattr(training, "calibration_check", spy)
    rows, labels = both_high(1500, seed=9)
    # when
    result = cross_validate(rows, labels, BOTH, folds=3, seed=4, params=ADDITIVE)
    # then: every choice saw two outer folds' rows at most, and each fold says its own
    assert len(seen) == 3
    assert max(seen) <= 1000
    assert [f["calibrator"] for f in result["per_fold"]] == ["isotonic"] * 3
    assert result["calibrators"] == {"platt": 0, "isotonic": 3}
    # and the reliability curve is that of every out-of-fold PD, the ECE's bins
    curve = result["reliability"]
    assert sum(b["loans"] for b in curve) == 1500
    gaps = sum(b["loans"] * abs(b["pd_mean"] - b["default_rate"]) for b in curve) / 1500
    assert result["ece_pooled"] == pytest.approx(gaps)


def test_the_reliability_curve_bins_like_the_ece() -> None:
    y = np.array([0, 0, 1, 1, 0, 1])
    pd_ = np.array([0.05, 0.07, 0.12, 0.55, 0.58, 0.99])
    curve = reliability(y, pd_)
    assert [(b["low"], b["loans"]) for b in curve] == [(0.0, 2), (0.1, 1), (0.5, 2), (0.9, 1)]
    weighted = sum(b["loans"] * abs(b["pd_mean"] - b["default_rate"]) for b in curve) / 6
    assert ece(y, pd_) == pytest.approx(weighted)


def test_a_row_on_the_average_rows_isotonic_step_keeps_its_reasons() -> None:
    # given: a calibrator flat around the expected value (one isotonic step), steep elsewhere
    def calibrate(z: np.ndarray) -> np.ndarray:
        return np.where(np.abs(z + 2.0) < 0.5, -2.0, 2.0 * z + 2.0)

    parts = np.array([[0.3, -0.1], [1.0, 1.0]])
    z = np.array([-2.0 + 0.2, -2.0 + 2.0])  # expected value -2.0 for both rows

    # when
    scaled = rescale(parts, z, calibrate)

    # then: on the step, the parts stay as they are; off it, they add up to the map's move
    assert scaled[0].tolist() == pytest.approx([0.3, -0.1])
    assert scaled[1].sum() == pytest.approx(calibrate(z[1:])[0] - calibrate(np.array([-2.0]))[0])
