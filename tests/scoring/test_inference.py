"""Scoring rows of platform features: one at a time and streamed, with and without reasons."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pandas
import pytest
from catboost import CatBoostClassifier, Pool
from prometheus_client import REGISTRY

from scoring.features import PLATFORM_FEATURES, History, Profile, Request, Statement, features
from scoring.inference import Assessment, Scorer
from scoring.model import ScoringModel
from scoring.scorecard import MasterScale, Scorecard
from scoring.spec import Kind

AS_OF = date(2026, 6, 30)
INDUSTRY_RISK = {"manufacturing": 0.0, "construction": 0.6, "software": -0.3, "hospitality": 0.4}


def money(x: float) -> Decimal:
    return Decimal(f"{x:.2f}")


def application(rng: random.Random) -> tuple[dict[str, Any], int]:
    """One synthetic application's features and whether it defaulted."""
    health = rng.gauss(0.0, 1.0)
    industry = rng.choice(list(INDUSTRY_RISK))
    revenue = 5_000_000 * math.exp(rng.gauss(0.1 * health, 0.6))
    statements = []
    for years_back in range(rng.choice([0, 1, 2, 2])):
        assets = revenue / rng.uniform(0.6, 1.8)
        leverage = min(max(0.55 - 0.15 * health + rng.gauss(0.0, 0.1), 0.05), 1.1)
        liabilities = assets * leverage
        operating = revenue * (0.06 + 0.04 * health + rng.gauss(0.0, 0.02))
        interest = liabilities * rng.uniform(0.0, 0.06)
        net = (operating - interest) * 0.75
        statements.append(
            Statement(
                fiscal_year=AS_OF.year - 1 - years_back,
                revenue=money(revenue / (1.05**years_back)),
                cost_of_sales=money(revenue * 0.7),
                operating_profit=money(operating),
                interest_expense=money(interest),
                net_profit=money(net),
                total_assets=money(assets),
                current_assets=money(assets * rng.uniform(0.3, 0.8)),
                total_liabilities=money(liabilities),
                current_liabilities=money(liabilities * rng.uniform(0.4, 0.9)),
                equity=money(assets - liabilities),
                operating_cash_flow=money(net + 0.04 * assets),
            )
        )
    history = None
    if rng.random() < 0.4:
        history = History(max(0, int(rng.gauss(5 - 12 * health, 10))), rng.randint(0, 3), 1)
    profile = Profile(
        industry,
        rng.choice(["Beijing", "Shanghai", "Zhejiang"]),
        AS_OF - timedelta(days=rng.randint(200, 9000)),
        rng.randint(3, 300),
        money(revenue) if rng.random() < 0.8 else None,
    )
    request = Request(
        money(revenue * rng.uniform(0.05, 0.5)),
        rng.choice([12, 24, 36]),
        rng.choice(["working_capital_loan", "term_loan"]),
        rng.choice(["annuity", "equal_principal"]),
    )
    row = features(profile, statements, request, history, as_of=AS_OF)
    logit = -2.2 - 0.9 * health + INDUSTRY_RISK[industry] + rng.gauss(0.0, 0.5)
    return row, int(rng.random() < 1 / (1 + math.exp(-logit)))


def book(n: int, seed: int) -> tuple[list[dict[str, Any]], list[int]]:
    rng = random.Random(seed)
    pairs = [application(rng) for _ in range(n)]
    return [r for r, _ in pairs], [y for _, y in pairs]


@pytest.fixture(scope="module")
def model() -> ScoringModel:
    rows, labels = book(1200, seed=1)
    specs = PLATFORM_FEATURES
    booster = CatBoostClassifier(
        iterations=100,
        depth=4,
        learning_rate=0.1,
        random_seed=3,
        thread_count=1,
        verbose=False,
        allow_writing_files=False,
        monotone_constraints={i: f.monotone for i, f in enumerate(specs) if f.monotone},
    )
    shell = ScoringModel(
        booster=booster,
        features=specs,
        calibration=(0.9, -0.2),
        metrics={},
        params={},
        fingerprint="test",
    )
    booster.fit(
        Pool(
            [shell.vector(r) for r in rows],
            labels,
            cat_features=[i for i, f in enumerate(specs) if f.kind is Kind.CATEGORICAL],
            feature_names=[f.name for f in specs],
        )
    )
    return shell


@pytest.fixture(scope="module")
def rows() -> list[dict[str, Any]]:
    return book(250, seed=2)[0]


def test_one_assessment(model: ScoringModel, rows: list[dict[str, Any]]) -> None:
    # given
    scorer = Scorer(model, Scorecard(), MasterScale(), version="pd-2026.11.1")
    # when
    result = scorer.assess(rows[0])
    # then
    assert isinstance(result, Assessment)
    assert result.model_version == "pd-2026.11.1"
    assert result.pd == pytest.approx(model.pd([model.vector(rows[0])])[0], abs=1e-12)
    assert result.grade == MasterScale().grade(result.pd)
    assert result.score == Scorecard().points(result.pd)
    assert 1 <= len(result.reasons) <= 4
    assert {"feature", "impact", "text"} == set(result.reasons[0])


def test_pd_score_and_grade_hang_together(model: ScoringModel, rows: list[dict[str, Any]]) -> None:
    scale, card = MasterScale(), Scorecard()
    results = list(Scorer(model, card, scale).assess_many(rows, chunk=64, with_reasons=True))
    assert len(results) == len(rows)
    for result in results:
        assert 0.0 <= result.pd <= 1.0
        assert result.grade == scale.grade(result.pd)
        assert result.score == card.points(result.pd)
    by_pd = sorted(results, key=lambda r: r.pd)
    assert [r.score for r in by_pd] == sorted((r.score for r in by_pd), reverse=True)


@pytest.mark.parametrize("with_reasons", [True, False])
@pytest.mark.parametrize("chunk", [1, 7, 10_000])
def test_one_at_a_time_and_streamed_agree(
    model: ScoringModel, rows: list[dict[str, Any]], chunk: int, with_reasons: bool
) -> None:
    scorer = Scorer(model, version="v1")
    single = [scorer.assess(r, with_reasons=with_reasons) for r in rows]
    streamed = list(scorer.assess_many(rows, chunk=chunk, with_reasons=with_reasons))
    assert streamed == single


def test_reasons_do_not_change_the_pd(model: ScoringModel, rows: list[dict[str, Any]]) -> None:
    scorer = Scorer(model)
    plain = list(scorer.assess_many(rows, with_reasons=False))
    explained = list(scorer.assess_many(rows, with_reasons=True))
    assert [a[:3] for a in plain] == [a[:3] for a in explained]  # pd, score, grade
    assert all(a.reasons == () for a in plain)
    assert any(a.reasons for a in explained)


def test_reason_impacts_are_calibrated_log_odds(
    model: ScoringModel, rows: list[dict[str, Any]]
) -> None:
    # impacts are SHAP values times the Platt slope: they sum, with the expected value,
    # to the calibrated log-odds, so the biggest one is at most what the PD moved by
    a, b = model.calibration
    scorer = Scorer(model)
    categorical = [i for i, f in enumerate(model.features) if f.kind is Kind.CATEGORICAL]
    for row in rows[:30]:
        result = scorer.assess(row)
        shap = model.booster.get_feature_importance(
            Pool(
                [model.vector(row)],
                cat_features=categorical,
                feature_names=[f.name for f in model.features],
            ),
            type="ShapValues",
        )[0]
        for reason in result.reasons:
            index = [f.name for f in model.features].index(reason["feature"])
            assert reason["impact"] >= a * shap[index] - 1e-4
        assert math.log(result.pd / (1 - result.pd)) == pytest.approx(a * shap.sum() + b)


def test_streaming_reads_one_chunk_at_a_time(
    model: ScoringModel, rows: list[dict[str, Any]]
) -> None:
    # given a portfolio that counts how far it has been read
    pulled = 0

    def portfolio() -> Iterator[dict[str, Any]]:
        nonlocal pulled
        for row in rows:
            pulled += 1
            yield row

    scorer = Scorer(model)
    stream = scorer.assess_many(portfolio(), chunk=10)
    # when the first assessment is taken, only the first chunk has been read
    taken = [next(stream)]
    assert pulled == 10
    taken += [next(stream) for _ in range(9)]
    assert pulled == 10
    taken.append(next(stream))
    assert pulled == 20
    # then what came out is the portfolio's first rows, in order
    assert taken == [scorer.assess(r, with_reasons=False) for r in rows[:11]]


def test_a_row_without_a_feature_is_refused(
    model: ScoringModel, rows: list[dict[str, Any]]
) -> None:
    broken = dict(rows[0])
    del broken["debt_to_asset"]
    with pytest.raises(KeyError, match="debt_to_asset"):
        Scorer(model).assess(broken)
    with pytest.raises(KeyError, match="debt_to_asset"):
        list(Scorer(model).assess_many([rows[1], broken]))


def test_chunk_must_be_positive(model: ScoringModel, rows: list[dict[str, Any]]) -> None:
    with pytest.raises(ValueError, match="chunk"):
        next(Scorer(model).assess_many(rows, chunk=0))


def test_categories_are_read_like_training_reads_them(
    model: ScoringModel, rows: list[dict[str, Any]]
) -> None:
    # a missing category and a number where a label is expected: as ScoringModel.vector
    odd = dict(rows[3], industry=None, region=310000)
    scorer = Scorer(model)
    [streamed] = list(scorer.assess_many([odd]))
    assert streamed.pd == pytest.approx(model.pd([model.vector(odd)])[0], abs=1e-12)
    assert streamed == scorer.assess(odd, with_reasons=False)


def test_no_signal_means_no_reasons(model: ScoringModel, rows: list[dict[str, Any]]) -> None:
    # a Platt slope of 0 (training found no signal): every PD is the base rate
    flat = ScoringModel(
        booster=model.booster,
        features=model.features,
        calibration=(0.0, math.log(0.05 / 0.95)),
        metrics={},
        params={},
        fingerprint="flat",
    )
    results = list(Scorer(flat).assess_many(rows[:20], with_reasons=True))
    assert all(r.pd == pytest.approx(0.05) for r in results)
    assert all(r.reasons == () for r in results)


def test_assessments_are_counted_by_mode_and_grade(
    model: ScoringModel, rows: list[dict[str, Any]]
) -> None:
    # given
    scorer = Scorer(model, Scorecard(), MasterScale())

    def counted(mode: str) -> float:
        return sum(
            sample.value
            for family in REGISTRY.collect()
            for sample in family.samples
            if sample.name == "lendgraph_scoring_assessments_total"
            and sample.labels["mode"] == mode
        )

    single, batch = counted("single"), counted("batch")
    chunks = REGISTRY.get_sample_value(
        "lendgraph_scoring_duration_seconds_count", {"mode": "batch"}
    )
    # when
    one = scorer.assess(rows[0])
    many = list(scorer.assess_many(rows[:100], chunk=40))
    # then
    assert counted("single") == single + 1
    assert counted("batch") == batch + 100
    assert (
        REGISTRY.get_sample_value("lendgraph_scoring_duration_seconds_count", {"mode": "batch"})
        == (chunks or 0) + 3
    )
    graded = REGISTRY.get_sample_value(
        "lendgraph_scoring_assessments_total", {"mode": "single", "grade": one.grade}
    )
    assert graded is not None
    assert graded >= 1
    assert len(many) == 100


# ------------------------------------------------------------------- column batches


@pytest.mark.parametrize("with_reasons", [True, False])
def test_a_batch_of_columns_gives_each_row_what_it_gets_alone(
    model: ScoringModel, rows: list[dict[str, Any]], with_reasons: bool
) -> None:
    # given the rows as columns, one of them with a missing category and a missing number
    odd = dict(rows[3], industry=None, debt_to_asset=None, region=310000)
    batch_rows = [*rows, odd]
    scorer = Scorer(model, Scorecard(), MasterScale())
    columns = scorer.columns(batch_rows)
    # when
    scores = scorer.score_columns(columns, with_reasons=with_reasons)
    # then every figure is the single-row path's, exactly
    single = [scorer.assess(r, with_reasons=with_reasons) for r in batch_rows]
    assert scores.pd.tolist() == [a.pd for a in single]
    assert scores.score.tolist() == [a.score for a in single]
    assert scores.grades() == [a.grade for a in single]
    if with_reasons:
        assert scores.reasons is not None
        assert [tuple(r) for r in scores.reasons] == [a.reasons for a in single]
    else:
        assert scores.reasons is None


def test_a_data_frame_is_a_batch_of_columns(
    model: ScoringModel, rows: list[dict[str, Any]]
) -> None:
    # given the same rows as a DataFrame, its columns in another order, one more column
    scorer = Scorer(model)
    frame = pandas.DataFrame(rows[:50]).iloc[:, ::-1].assign(loan_id=range(50))
    # when
    scores = scorer.score_columns(frame, with_reasons=True)
    # then
    assert scores.pd.tolist() == [scorer.assess(r).pd for r in rows[:50]]
    assert scores.reasons == [list(scorer.assess(r).reasons) for r in rows[:50]]


def test_a_batch_without_a_feature_or_with_ragged_columns_is_refused(
    model: ScoringModel, rows: list[dict[str, Any]]
) -> None:
    scorer = Scorer(model)
    columns = scorer.columns(rows[:5])
    without = {k: v for k, v in columns.items() if k != "roa"}
    with pytest.raises(KeyError, match="roa"):
        scorer.score_columns(without)
    ragged = dict(columns, roa=columns["roa"][:4])
    with pytest.raises(ValueError, match="different lengths"):
        scorer.score_columns(ragged)
