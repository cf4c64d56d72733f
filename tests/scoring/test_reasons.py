"""Reason codes: SHAP values from leaf tables match CatBoost's, and read as sentences."""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import pytest
from catboost import CatBoostClassifier, Pool

import scoring.reasons
from scoring.reasons import (
    MIN_IMPACT,
    Explainer,
    LeafTables,
    NativeExplainer,
    Phrasebook,
    Unit,
    Wording,
    adds_own_weight,
    sentence,
)
from scoring.spec import MISSING_CATEGORY, FeatureSpec, Kind

SPECS = (
    FeatureSpec("leverage", Kind.NUMERIC, 1, "debt-to-asset ratio"),
    FeatureSpec("coverage", Kind.NUMERIC, -1, "interest coverage"),
    FeatureSpec("sector", Kind.CATEGORICAL, 0, "industry"),
    FeatureSpec("age", Kind.NUMERIC, 0, "business age"),
    FeatureSpec("city", Kind.CATEGORICAL, 0, "city"),
)
WORDING = {
    "leverage": Wording(Unit.RATIO, missing="no financial statement to judge from"),
    "coverage": Wording(Unit.TIMES, missing="no financial statement to judge from"),
    "age": Wording(Unit.YEARS),
}
NAMES = [s.name for s in SPECS]
CATEGORICAL = [i for i, s in enumerate(SPECS) if s.kind is Kind.CATEGORICAL]
SECTORS = ("construction", "retail", "software", "farming")
CITIES = tuple(f"city-{i}" for i in range(12))


def vectors(n: int, seed: int) -> tuple[list[list[Any]], list[int]]:
    """Rows whose default odds rise with leverage (strongly) and a risky sector."""
    rng = np.random.default_rng(seed)
    leverage = rng.beta(2.0, 3.0, n)
    coverage = rng.gamma(2.0, 2.0, n)
    sector = rng.integers(0, len(SECTORS), n)
    age = np.where(rng.random(n) < 0.15, math.nan, rng.uniform(0.5, 30.0, n))
    city = rng.integers(0, len(CITIES), n)
    logit = -2.5 + 6.0 * (leverage - 0.4) - 0.15 * coverage + np.where(sector == 0, 0.9, 0.0)
    labels = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int).tolist()
    rows = [
        [
            float(leverage[i]),
            float(coverage[i]),
            SECTORS[sector[i]],
            float(age[i]),
            MISSING_CATEGORY if i % 17 == 0 else CITIES[city[i]],
        ]
        for i in range(n)
    ]
    return rows, labels


def pool(rows: list[list[Any]]) -> Pool:
    return Pool(rows, cat_features=CATEGORICAL, feature_names=NAMES)


def train(*, monotone: bool) -> CatBoostClassifier:
    rows, labels = vectors(1500, seed=3)
    booster = CatBoostClassifier(
        iterations=100,
        depth=4,
        learning_rate=0.1,
        random_seed=5,
        thread_count=1,
        verbose=False,
        allow_writing_files=False,
        monotone_constraints={0: 1, 1: -1} if monotone else None,
    )
    booster.fit(Pool(rows, labels, cat_features=CATEGORICAL, feature_names=NAMES))
    return booster


@pytest.fixture(scope="module")
def free_model() -> CatBoostClassifier:
    return train(monotone=False)


@pytest.fixture(scope="module")
def monotone_model() -> CatBoostClassifier:
    return train(monotone=True)


@pytest.fixture(scope="module", params=["free", "monotone"])
def model(request: pytest.FixtureRequest) -> CatBoostClassifier:
    booster: CatBoostClassifier = request.getfixturevalue(f"{request.param}_model")
    return booster


def catboost_shap(booster: CatBoostClassifier, rows: list[list[Any]]) -> np.ndarray:
    """CatBoost's own ShapValues, each row explained on its own."""
    return np.concatenate(
        [np.asarray(booster.get_feature_importance(pool([r]), type="ShapValues")) for r in rows]
    )


def test_which_models_count_the_explained_row_into_leaf_weights(
    free_model: CatBoostClassifier, monotone_model: CatBoostClassifier
) -> None:
    # Monotone constraints give leaves no training row reached a value; CatBoost then
    # adds the explained rows to the leaf weights. Both cases must be covered below.
    assert not adds_own_weight(free_model)
    assert adds_own_weight(monotone_model)


def test_leaf_tables_reproduce_catboost_shap_values(model: CatBoostClassifier) -> None:
    # given rows the model has not seen, missing values and unseen categories among them
    rows, _ = vectors(60, seed=99)
    rows[0] = [math.nan, math.nan, MISSING_CATEGORY, math.nan, "nowhere"]
    tables = LeafTables.build(model, len(SPECS))
    # when each row is explained on its own, and all of them as one batch
    alone = [tables.explain(pool([r])) for r in rows]
    total, batch = tables.explain(pool(rows))
    # then they agree with CatBoost to rounding, and add up to its prediction
    expected = catboost_shap(model, rows)
    one_by_one = np.concatenate([values for _, values in alone])
    assert np.abs(one_by_one - expected[:, : len(SPECS)]).max() < 1e-9
    assert np.abs(batch - one_by_one).max() < 1e-9
    raw = model.predict(pool(rows), prediction_type="RawFormulaVal")
    assert np.abs(total - raw).max() < 1e-9
    assert np.abs(expected.sum(axis=1) - raw).max() < 1e-9


def test_native_explainer_explains_rows_on_their_own(monotone_model: CatBoostClassifier) -> None:
    rows, _ = vectors(12, seed=8)
    _, values = NativeExplainer(monotone_model, len(SPECS)).explain(pool(rows))
    assert np.abs(values - catboost_shap(monotone_model, rows)[:, : len(SPECS)]).max() < 1e-12


def test_explainer_prefers_tables_and_falls_back_when_they_disagree(
    model: CatBoostClassifier, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert isinstance(Explainer.for_model(model, len(SPECS)), LeafTables)

    real = scoring.reasons.leaf_shap_tables

    def skewed(*args: Any, **kwargs: Any) -> list[np.ndarray]:
        tables = real(*args, **kwargs)
        for table in tables:
            table[:, 0] *= 1.01
        return tables

    monkeypatch.setattr(scoring.reasons, "leaf_shap_tables", skewed)
    with caplog.at_level(logging.WARNING, logger="scoring.reasons"):
        fallback = Explainer.for_model(model, len(SPECS))
    assert isinstance(fallback, NativeExplainer)
    assert "fall back" in caplog.text


def test_the_top_reason_names_what_drives_the_risk(free_model: CatBoostClassifier) -> None:
    # given a highly leveraged borrower, otherwise unremarkable
    row = [0.95, 8.0, "software", 12.0, "city-3"]
    shap = LeafTables.build(free_model, len(SPECS)).shap(pool([row]))
    # when
    reasons = Phrasebook(SPECS, WORDING).reasons([[v] for v in row], shap)[0]
    # then
    assert reasons[0]["feature"] == "leverage"
    assert reasons[0]["text"] == "debt-to-asset ratio 0.95 is high"
    assert reasons[0]["impact"] == pytest.approx(float(shap[0, 0]), abs=1e-4)


def test_reasons_are_at_most_four_risk_raising_parts_strongest_first(
    monotone_model: CatBoostClassifier,
) -> None:
    rows, _ = vectors(300, seed=21)
    slope = 0.8  # as if calibration scaled the log-odds
    shap = slope * LeafTables.build(monotone_model, len(SPECS)).shap(pool(rows))
    columns = [[r[f] for r in rows] for f in range(len(SPECS))]
    found = Phrasebook(SPECS, WORDING).reasons(columns, shap)
    assert len(found) == len(rows)
    for row, reasons in enumerate(found):
        assert len(reasons) <= 4
        impacts = [r["impact"] for r in reasons]
        assert impacts == sorted(impacts, reverse=True)
        assert all(i >= MIN_IMPACT for i in impacts)
        for reason in reasons:
            f = NAMES.index(reason["feature"])
            assert shap[row, f] > 0  # only what raised the risk
        assert len(reasons) <= int((shap[row] > 0).sum())
    assert any(len(r) == 4 for r in found)


def test_reasons_sharing_a_sentence_are_one_reason() -> None:
    # given no statement: leverage and coverage are both missing and both raised the risk
    columns: list[list[Any]] = [[math.nan], [math.nan], ["retail"], [3.0], ["city-1"]]
    impacts = np.array([[0.30, 0.20, 0.25, 0.10, -0.4]])
    # when
    reasons = Phrasebook(SPECS, WORDING).reasons(columns, impacts)[0]
    # then
    assert reasons == [
        {"feature": "leverage", "impact": 0.5, "text": "no financial statement to judge from"},
        {"feature": "sector", "impact": 0.25, "text": "industry retail carries more risk"},
        {"feature": "age", "impact": 0.1, "text": "business age of 3.0 years adds to the risk"},
    ]


def test_negligible_parts_are_not_reasons() -> None:
    columns: list[list[Any]] = [[0.5], [2.0], ["retail"], [3.0], ["city-1"]]
    impacts = np.array([[MIN_IMPACT / 2, 0.0, -0.1, 0.02, 0.0]])
    reasons = Phrasebook(SPECS, WORDING).reasons(columns, impacts)[0]
    assert [r["feature"] for r in reasons] == ["age"]


@pytest.mark.parametrize(
    ("spec", "wording", "value", "text"),
    [
        (SPECS[0], WORDING["leverage"], 0.8234, "debt-to-asset ratio 0.82 is high"),
        (SPECS[1], WORDING["coverage"], 1.26, "interest coverage 1.3 is low"),
        (SPECS[1], WORDING["coverage"], None, "no financial statement to judge from"),
        (SPECS[1], WORDING["coverage"], math.nan, "no financial statement to judge from"),
        (SPECS[2], None, "construction", "industry construction carries more risk"),
        (SPECS[2], None, "real_estate", "industry real estate carries more risk"),
        (SPECS[2], None, MISSING_CATEGORY, "industry unknown"),
        (SPECS[3], WORDING["age"], 1.25, "business age of 1.2 years adds to the risk"),
        (
            FeatureSpec("roa", Kind.NUMERIC, -1, "return on assets"),
            Wording(Unit.PERCENT),
            -0.0312,
            "return on assets -3.1% is low",
        ),
        (
            FeatureSpec("term_months", Kind.NUMERIC, 0, "term"),
            Wording(Unit.MONTHS),
            36.0,
            "term of 36 months adds to the risk",
        ),
        (
            FeatureSpec("late", Kind.NUMERIC, 1, "late instalments"),
            Wording(Unit.COUNT, template="{value} late instalments on earlier loans"),
            3.0,
            "3 late instalments on earlier loans",
        ),
        (
            FeatureSpec("history", Kind.NUMERIC, 0, "repayment history on the platform"),
            Wording(Unit.FLAG),
            0.0,
            "no repayment history on the platform",
        ),
        (
            FeatureSpec("credit_amount", Kind.NUMERIC),
            None,
            12345.0,
            "credit amount of 12,345 adds to the risk",
        ),
        (FeatureSpec("rate", Kind.NUMERIC), None, 0.0734, "rate of 0.0734 adds to the risk"),
    ],
)
def test_sentences(spec: FeatureSpec, wording: Wording | None, value: object, text: str) -> None:
    assert sentence(spec, value, wording) == text
