"""Training a PD model with CatBoost, and measuring it honestly.

Assumptions:

- A label is 1 when the loan went bad (defaulted) within the outcome window the data
  was built with, 0 otherwise. The probability of default (PD) is the calibrated
  probability of label 1 for a new application from the same population; it holds
  only as long as the population does (drift monitoring watches that).
- Validation never scores what it trained on. ``fit`` splits its data into
  ``validation_folds`` (5) stratified folds; each fold is scored by a model trained on
  the others and early-stopped on that fold, and the mean of those best iteration
  counts is the number of trees of the final model, refitted on all the data. One
  validation split of a small book (800 rows: some 50 bads held out) puts the
  stopping point at the mercy of a few loans; five average that out, and give the
  out-of-fold predictions that calibration needs at no extra cost. Early stopping
  watches the log loss, which is smooth, not the AUC, which moves in steps on small
  folds.
- Calibration is Platt scaling or isotonic regression, whichever has the lower
  cross-fitted log loss on the inner out-of-fold predictions (``scoring.calibration``
  says why log loss, and how reasons stay exact under isotonic); ``params["calibrator"]``
  = "platt" or "isotonic" forces one. Platt scaling (Platt, 1999, with its smoothed targets
  ``(n_bad + 1) / (n_bad + 2)`` and ``1 / (n_good + 2)``) of the raw log-odds:
  ``PD = sigmoid(a * raw + b)``, fitted on the out-of-fold predictions, as
  scikit-learn's ``CalibratedClassifierCV(ensemble=False)`` does. Two parameters stay
  stable on few defaults, where isotonic regression overfits, and a positive slope
  keeps the booster's ranking, hence its AUC and every monotone constraint. A slope
  that comes out non-positive means the booster found no signal: the PD is then the
  base rate. The calibrated Brier score and ECE that ``fit`` records are measured on
  the same out-of-fold predictions the two parameters were fitted on;
  ``cross_validate`` gives the honest ones, on rows no part of the pipeline saw.
- Hyperparameters are set for small books with few defaults, not for one data set:
  shallow symmetric trees (depth 4: interactions of four features are plenty for a
  few hundred bads), a slow learning rate (0.03) with early stopping choosing the
  count, strong L2 on leaf values (``l2_leaf_reg=10``: a leaf of a few bads is shrunk
  towards the prior) and row subsampling (Bernoulli, 0.8). Categories of up to 10
  levels are one-hot splits (``one_hot_max_size=10``) instead of CatBoost's ordered
  target statistics, which on a few hundred bads are noisy estimates of noisy rates;
  more levels (industry codes, regions) still get target statistics. On German
  Credit (5 folds, seed 42) one-hot splits measured AUC 0.798 against 0.786 with
  CatBoost's default of 2, in a fifth of the time.
- Classes are not reweighted by default. ``auto_class_weights="Balanced"`` moved the
  German Credit AUC by -0.005 to +0.004 depending on depth (the spread between folds
  is 0.02), and doubled the ECE before calibration. ``params["candidates"]`` lists
  alternatives (e.g. ``[{}, {"auto_class_weights": "Balanced"}]``) that ``fit`` tries
  on the same inner folds, keeping a later one only if its out-of-fold AUC is higher.
- Monotone constraints come from the feature specs (numeric features only). CatBoost
  enforces them in every tree, so the raw log-odds, and the PD after a positive Platt
  slope, move only the allowed way when such a feature rises.
- ``cross_validate`` runs the whole of ``fit`` inside each outer stratified fold, and
  a logistic regression (one-hot categories, median-imputed and standardised numbers,
  L2 with C=1, no class weights) on the same folds, as the baseline the boosted model
  has to beat. The AUC spread is the population standard deviation over folds, as
  scikit-learn's ``cross_val_score(...).std()`` gives it; Brier score, KS and ECE (10
  equal-width bins) are means over folds.
- The search (``params["budget_seconds"]``, set by ``lendgraph model train/evaluate
  --budget``): ``SEARCH_SPACE`` is tried in order on the same inner folds, the default
  first, then a shallow, strongly regularised variant, then deeper, shallower and
  differently regularised ones; iterations always by early stopping. Before each
  candidate the time spent so far per candidate is taken as its cost, and the search
  stops where that would overrun the budget. The candidate with the best out-of-fold
  AUC is kept (ties: the earlier).
- The blend (``params["blend"]``): the logistic baseline is fitted on the same inner
  folds, and a logistic regression of the outcome on the two out-of-fold log-odds
  (booster, baseline) gives their weights and the intercept, which are also the
  calibration. The blend is kept only when both weights are positive (each part keeps
  its ranking and its monotone directions) and its out-of-fold AUC beats the booster's.
  Weights and choice are fitted on inner folds only: inside ``cross_validate`` no outer
  test row is seen. That AUC is measured on the rows the three weights were fitted on;
  the outer folds give the honest figure.
- ``cross_validate`` with a search or a blend reports, beside the pipeline's own
  figures, those of the default configuration, of the tuned booster alone and of the
  blend (always built, whether the pipeline kept it or not; the booster alone where
  the inner folds gave the baseline no positive weight) on the same outer folds,
  each fold's chosen configuration, and the gain of the pipeline over the default.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from catboost import CatBoostClassifier, Pool
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold

from scoring.calibration import Calibrator, fit_isotonic, log_loss, reliability
from scoring.linear import baseline as baseline_pipeline
from scoring.linear import fit_linear, frame
from scoring.model import ScoringModel, vectorise
from scoring.spec import FeatureSpec, Kind, Row
from scoring.tabular import read_csv

Vector = list[float | str]
FloatArray = NDArray[np.float64]
# Called with (boosters trained so far, boosters to train): training takes minutes, and
# whoever waits is shown how far it is.
Progress = Callable[[int, int], None]

DEFAULT_PARAMS: dict[str, Any] = {
    "loss_function": "Logloss",
    "iterations": 3000,  # a ceiling: early stopping decides the count
    "learning_rate": 0.03,
    "depth": 4,
    "l2_leaf_reg": 10.0,
    "one_hot_max_size": 10,
    "bootstrap_type": "Bernoulli",
    "subsample": 0.8,
    "thread_count": 2,
    # Not CatBoost's own: how fit validates itself and what it chooses between.
    "early_stopping_rounds": 200,
    "validation_folds": 5,
    "candidates": [{}],
    "budget_seconds": None,  # a number: search SEARCH_SPACE within it
    "blend": False,
    "calibrator": "auto",  # or "platt" / "isotonic": skip the choice
}
# Tried in this order while the budget lasts; each on top of DEFAULT_PARAMS.
SEARCH_SPACE: tuple[dict[str, Any], ...] = (
    {},
    {"depth": 2, "l2_leaf_reg": 30.0, "learning_rate": 0.05},  # shallow, regularised
    {"depth": 6, "l2_leaf_reg": 5.0, "learning_rate": 0.05},
    {"depth": 3, "l2_leaf_reg": 20.0},
    {"depth": 1, "l2_leaf_reg": 10.0, "learning_rate": 0.1},  # additive
    {"depth": 5, "l2_leaf_reg": 3.0, "learning_rate": 0.05},
    {"depth": 4, "l2_leaf_reg": 30.0, "learning_rate": 0.02},
    {"depth": 2, "l2_leaf_reg": 3.0, "learning_rate": 0.1},
)
DEFAULT_BUDGET_SECONDS = 180.0
ECE_BINS = 10


@dataclass
class Trial:
    overrides: dict[str, Any]
    catboost_params: dict[str, Any]
    oof: FloatArray  # out-of-fold raw log-odds
    best: list[int]  # best iteration count per inner fold
    auc: float


def resolve_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The defaults with the caller's settings on top."""
    return {**DEFAULT_PARAMS, **(params or {})}


@dataclass
class Search:
    """What the inner folds chose: the default's trial, the best one, and the blend's
    weights (booster, baseline, intercept) with its out-of-fold AUC when one was tried."""

    features: tuple[FeatureSpec, ...]
    vectors: list[Vector]
    y: NDArray[np.int64]
    k: int
    stopping: int
    trials: list[Trial]
    chosen: Trial
    blend: tuple[float, float, float] | None
    blend_auc: float | None
    blend_kept: bool
    seed: int = 42
    blend_oof_linear: FloatArray = field(default_factory=lambda: np.zeros(0))  # weighted
    calibrator: str = "auto"  # "auto": chosen by calibration_check; else forced
    steps: int = 1  # boosters the search trained, and the final fit

    def booster(self, trial: Trial) -> CatBoostClassifier:
        iterations = max(1, round(statistics.fmean(trial.best)))
        booster = CatBoostClassifier(**{**trial.catboost_params, "iterations": iterations})
        booster.fit(_pool(self.vectors, self.y, self.features, None))
        return booster

    def model(self, trial: Trial, *, blended: bool) -> ScoringModel:
        """The final model of a trial, refitted on every row; with its blend if asked."""
        y, oof = self.y, trial.oof
        booster = self.booster(trial)
        linear = None
        if blended and self.blend is not None:
            w_booster, w_linear, intercept = self.blend
            linear = fit_linear(self.vectors, y, self.features).scaled(w_linear)
            a, b = w_booster, intercept
            log_odds = a * oof + b + self.blend_oof_linear
        else:
            a, b = platt(oof, y)
            log_odds = a * oof + b
        iterations = int(booster.tree_count_)
        check = calibration_check(log_odds, y, seed=self.seed)
        chosen = Calibrator(
            check.get("better", "platt") if self.calibrator == "auto" else self.calibrator
        )
        isotonic = fit_isotonic(log_odds, y) if chosen is Calibrator.ISOTONIC else None
        calibrated = _sigmoid(log_odds) if isotonic is None else isotonic.pd(log_odds)
        metrics: dict[str, Any] = {
            "n_rows": len(y),
            "n_bad": int(y.sum()),
            "validation": f"{self.k}-fold stratified, out-of-fold",
            "auc": auc(y, log_odds),
            "ks": ks(y, log_odds),
            "brier_uncalibrated": brier(y, _sigmoid(oof)),
            "ece_uncalibrated": ece(y, _sigmoid(oof)),
            "brier": brier(y, calibrated),
            "ece": ece(y, calibrated),
            "calibration": ("blend weights" if linear is not None else "platt")
            + (" then isotonic" if isotonic is not None else ""),
            "calibrator": chosen.value,
            "calibration_check": check,
            "best_iterations": trial.best,
            "iterations": iterations,
            "selection": [
                {"params": t.overrides, "auc": t.auc, "iterations": round(statistics.fmean(t.best))}
                for t in self.trials
            ],
            "chosen": trial.overrides,
            "blend": None
            if self.blend is None
            else {
                "weights": {"booster": self.blend[0], "baseline": self.blend[1]},
                "auc": self.blend_auc,
                "kept": linear is not None,
            },
        }
        recorded = {
            **{
                key: value
                for key, value in trial.catboost_params.items()
                if key != "monotone_constraints"
            },
            "iterations": iterations,
            "monotone_constraints": {f.name: f.monotone for f in self.features if f.monotone},
            "early_stopping_rounds": self.stopping,
            "validation_folds": self.k,
            "candidates": [t.overrides for t in self.trials],
            "blend": linear is not None,
            "calibrator": chosen.value,
        }
        return ScoringModel(
            booster=booster,
            features=self.features,
            calibration=(a, b),
            metrics=metrics,
            params=recorded,
            fingerprint=fingerprint(self.features, self.vectors, y),
            linear=linear,
            isotonic=isotonic,
        )


def search(
    rows: Sequence[Row],
    labels: Sequence[int],
    specs: Sequence[FeatureSpec],
    *,
    seed: int = 42,
    params: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> Search:
    """Candidates and the blend tried on inner folds; see the module doc."""
    features = tuple(specs)
    y = _check(rows, labels, features)
    vectors = [vectorise(features, row) for row in rows]
    settings = resolve_params(params)
    stopping = int(settings.pop("early_stopping_rounds"))
    budget = settings.pop("budget_seconds")
    blend = bool(settings.pop("blend"))
    calibrator = str(settings.pop("calibrator"))
    if calibrator != "auto":
        Calibrator(calibrator)  # raises on an unknown name
    candidates = [dict(c) for c in settings.pop("candidates")] or [{}]
    if budget is not None and not (params and "candidates" in params):
        candidates = [dict(c) for c in SEARCH_SPACE]
    k = min(int(settings.pop("validation_folds")), int(y.sum()), int(len(y) - y.sum()))
    if k < 2:
        raise ValueError("training needs at least two bad and two good rows")

    splits = list(StratifiedKFold(k, shuffle=True, random_state=seed).split(vectors, y))
    total = len(candidates) * k + 1  # every inner fold of every candidate, and the final fit
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    began = time.perf_counter()
    trials: list[Trial] = []
    for overrides in candidates:
        spent = time.perf_counter() - began
        if trials and budget is not None and spent + spent / len(trials) > float(budget):
            total = done + 1  # the rest is skipped: only the final fit is left
            break
        cb_params = _catboost_params({**settings, **overrides}, features, seed)
        oof, best = _out_of_fold(vectors, y, features, cb_params, splits, stopping, step)
        trials.append(Trial(overrides, cb_params, oof, best, auc(y, oof)))
    chosen = trials[0]
    for trial in trials[1:]:
        if trial.auc > chosen.auc:  # strictly: the plainer, earlier candidate wins ties
            chosen = trial
    found = Search(features, vectors, y, k, stopping, trials, chosen, None, None, False, seed)
    found.calibrator = calibrator
    found.steps = total
    if blend:
        linear_oof = np.zeros(len(y))
        for train, valid in splits:
            part = fit_linear([vectors[i] for i in train], y[train], features)
            linear_oof[valid] = part.logit(_columns([vectors[i] for i in valid], features))
        weights = _stack(chosen.oof, linear_oof, y)
        if weights is not None:
            blended = weights[0] * chosen.oof + weights[1] * linear_oof + weights[2]
            found.blend, found.blend_auc = weights, auc(y, blended)
            found.blend_kept = found.blend_auc > chosen.auc
            found.blend_oof_linear = weights[1] * linear_oof
    return found


def fit(
    rows: Sequence[Row],
    labels: Sequence[int],
    specs: Sequence[FeatureSpec],
    *,
    seed: int = 42,
    params: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> ScoringModel:
    """Train, early-stop and calibrate a model on labelled feature rows (searching and
    blending when ``params`` ask for it)."""
    found = search(rows, labels, specs, seed=seed, params=params, progress=progress)
    model = found.model(found.chosen, blended=found.blend_kept)
    if progress is not None:
        progress(found.steps, found.steps)
    return model


def calibration_check(
    raw: FloatArray, y: NDArray[np.int64], *, folds: int = 5, seed: int = 42
) -> dict[str, Any]:
    """Platt scaling against isotonic regression of out-of-fold log-odds, cross-fitted
    (each part calibrated by the map fitted on the others): log loss, Brier and ECE of
    each, and which is better by log loss (Platt on ties): the calibrator a model serves
    unless told otherwise (``scoring.calibration``)."""
    k = min(folds, int(y.sum()), int(len(y) - y.sum()))
    if k < 2:
        return {}
    by: dict[str, FloatArray] = {"platt": np.zeros(len(y)), "isotonic": np.zeros(len(y))}
    for train, test in StratifiedKFold(k, shuffle=True, random_state=seed).split(raw, y):
        a, b = platt(raw[train], y[train])
        by["platt"][test] = _sigmoid(a * raw[test] + b)
        by["isotonic"][test] = fit_isotonic(raw[train], y[train]).pd(raw[test])
    found: dict[str, Any] = {
        name: {
            "log_loss": log_loss(y, pd_),
            "brier": brier(y, pd_),
            "ece": ece(y, pd_),
        }
        for name, pd_ in by.items()
    }
    better = found["isotonic"]["log_loss"] < found["platt"]["log_loss"]
    found["better"] = "isotonic" if better else "platt"
    return found


def _stack(
    booster: FloatArray, linear: FloatArray, y: NDArray[np.int64]
) -> tuple[float, float, float] | None:
    """Weights of the two log-odds and the intercept, by logistic regression; None when
    a weight is not positive (a part would then reverse its own ranking)."""
    stacker = LogisticRegression(C=1e6, max_iter=1000)
    stacker.fit(np.column_stack([booster, linear]), y)
    w_booster, w_linear = (float(w) for w in stacker.coef_[0])
    if not (w_booster > 0 and w_linear > 0):
        return None
    return w_booster, w_linear, float(stacker.intercept_[0])


def _columns(vectors: Sequence[Vector], features: Sequence[FeatureSpec]) -> list[Any]:
    return [
        np.asarray([v[i] for v in vectors], dtype=np.float64)
        if f.kind is Kind.NUMERIC
        else [v[i] for v in vectors]
        for i, f in enumerate(features)
    ]


def cross_validate(
    rows: Sequence[Row],
    labels: Sequence[int],
    specs: Sequence[FeatureSpec],
    *,
    folds: int = 5,
    seed: int = 42,
    params: Mapping[str, Any] | None = None,
    keep_predictions: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Stratified k-fold figures of the whole pipeline and of a logistic baseline; with a
    search or a blend, of the default, the tuned booster and the blend too.

    ``progress`` hears of every booster trained, counted in outer folds of ``per_fold``
    boosters each (the inner count is only known once a fold's fit has begun). A search
    budget is the whole evaluation's: each outer fold searches within its share.
    """
    features = tuple(specs)
    y = _check(rows, labels, features)
    if min(int(y.sum()), int(len(y) - y.sum())) < folds or folds < 2:
        raise ValueError(f"{folds}-fold validation needs at least {folds} bad and good rows")
    vectors = [vectorise(features, row) for row in rows]
    settings = resolve_params(params)
    searching = settings["budget_seconds"] is not None or bool(settings["blend"])
    inner_params = dict(params or {})
    if settings["budget_seconds"] is not None:
        inner_params["budget_seconds"] = float(settings["budget_seconds"]) / folds
    started = time.perf_counter()
    model_folds: list[dict[str, Any]] = []
    baseline_folds: list[dict[str, Any]] = []
    variants: dict[str, list[dict[str, Any]]] = {"default": [], "tuned": [], "blend": []}
    chosen: list[dict[str, Any]] = []
    out_of_fold = np.zeros(len(y), dtype=np.float64)
    splits = StratifiedKFold(folds, shuffle=True, random_state=seed).split(vectors, y)
    for index, (train, test) in enumerate(splits):
        train_rows = [rows[i] for i in train]
        test_vectors = [vectors[i] for i in test]

        def inner(done: int, per_fold: int, before: int = index) -> None:
            if progress is not None:
                progress(before * per_fold + done, folds * per_fold)

        found = search(
            train_rows, y[train].tolist(), features, seed=seed, params=inner_params, progress=inner
        )
        model = found.model(found.chosen, blended=found.blend_kept)
        inner(found.steps, found.steps)
        raw = np.asarray(model.raw_log_odds(test_vectors))
        pd_ = np.asarray(model.pd(test_vectors))
        out_of_fold[test] = pd_
        figures = _figures(y[test], pd_)
        figures["brier_uncalibrated"] = brier(y[test], _sigmoid(raw))
        figures["ece_uncalibrated"] = ece(y[test], _sigmoid(raw))
        figures["iterations"] = model.metrics["iterations"]
        figures["calibrator"] = model.calibrator.value
        model_folds.append(figures)
        baseline = baseline_pipeline(features)
        baseline.fit(frame([vectors[i] for i in train], features), y[train])
        proba = baseline.predict_proba(frame(test_vectors, features))[:, 1]
        baseline_folds.append(_figures(y[test], np.asarray(proba, dtype=np.float64)))
        if searching:
            tuned = model if not model.linear else found.model(found.chosen, blended=False)
            default = (
                tuned
                if found.chosen is found.trials[0]
                else found.model(found.trials[0], blended=False)
            )
            # Where the inner folds give the baseline no positive weight, the blend is
            # the booster alone.
            blend = model if model.linear else tuned
            if not model.linear and found.blend is not None:
                blend = found.model(found.chosen, blended=True)
            for name, variant in (("default", default), ("tuned", tuned), ("blend", blend)):
                pds = np.asarray(variant.pd(test_vectors))
                variants[name].append(_figures(y[test], pds))
            chosen.append(
                {
                    "params": found.chosen.overrides,
                    "iterations": model.metrics["iterations"],
                    "candidates_tried": len(found.trials),
                    "blend": model.linear is not None,
                    "blend_weights": None if found.blend is None else list(found.blend[:2]),
                    "calibrator": model.calibrator.value,
                    "calibration_check": model.metrics["calibration_check"],
                }
            )

    result = _summary(model_folds)
    result.update(
        {
            "n_rows": len(y),
            "n_bad": int(y.sum()),
            "folds": folds,
            "seed": seed,
            "brier_uncalibrated": _mean(model_folds, "brier_uncalibrated"),
            "ece_uncalibrated": _mean(model_folds, "ece_uncalibrated"),
            "per_fold": model_folds,
            "calibrators": {
                c.value: sum(f["calibrator"] == c.value for f in model_folds) for c in Calibrator
            },
            # Every row's PD from the outer fold that did not train on it, binned as the
            # ECE bins them: the reliability curve, and the ECE of all rows at once.
            "reliability": reliability(y, out_of_fold),
            "ece_pooled": ece(y, out_of_fold),
            "params": resolve_params(params),
            "baseline": {
                "model": "logistic regression (one-hot, median impute, standardise, L2 C=1)",
                **_summary(baseline_folds),
                "per_fold": baseline_folds,
            },
            "folds_won": sum(
                m["auc"] >= b["auc"] for m, b in zip(model_folds, baseline_folds, strict=True)
            ),
        }
    )
    if searching:
        compared = {name: _summary(f) for name, f in variants.items()}
        result["variants"] = compared
        result["chosen_per_fold"] = chosen
        result["gain_over_default"] = result["auc_mean"] - compared["default"]["auc_mean"]
    result["elapsed_seconds"] = round(time.perf_counter() - started, 2)
    if keep_predictions:
        # Each row's PD from the fold model that did not see it: what reports draw on.
        result["predictions"] = {"labels": y.tolist(), "pd": out_of_fold.tolist()}
    return result


def evaluate_csv(
    path: Path,
    target: str,
    bad_value: str,
    folds: int = 5,
    seed: int = 42,
    *,
    params: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Read a lender's CSV and cross-validate the pipeline on it; JSON-serialisable."""
    table = read_csv(path, target=target, bad_value=bad_value)
    result = cross_validate(
        table.rows,
        table.labels,
        table.specs,
        folds=folds,
        seed=seed,
        params=params,
        progress=progress,
    )
    return {"data": table.report, **result}


# Metrics --------------------------------------------------------------------------


def auc(y: FloatArray | NDArray[np.int64], score: FloatArray) -> float:
    return float(roc_auc_score(y, score))


def ks(y: FloatArray | NDArray[np.int64], score: FloatArray) -> float:
    """Kolmogorov-Smirnov: the largest gap between the score distributions of bads and goods."""
    fpr, tpr, _ = roc_curve(y, score)
    return float(np.max(tpr - fpr))


def brier(y: FloatArray | NDArray[np.int64], pd_: FloatArray) -> float:
    return float(np.mean((pd_ - y) ** 2))


def ece(y: FloatArray | NDArray[np.int64], pd_: FloatArray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: |mean PD - default rate| over equal-width PD bins, weighted."""
    index = np.minimum((pd_ * bins).astype(np.int64), bins - 1)
    total = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            total += float(mask.sum()) * abs(float(pd_[mask].mean()) - float(y[mask].mean()))
    return total / len(y)


def platt(raw: FloatArray, y: NDArray[np.int64]) -> tuple[float, float]:
    """Platt's (a, b) minimising the log loss of sigmoid(a * raw + b), by Newton's method."""
    n_bad = int(y.sum())
    n_good = len(y) - n_bad
    target = np.where(y == 1, (n_bad + 1) / (n_bad + 2), 1 / (n_good + 2))
    base = math.log((n_bad + 1) / (n_good + 1))
    a, b = 1.0, 0.0

    def loss(a: float, b: float) -> float:
        z = a * raw + b
        # log(1 + e^z) - t z, written to stay finite for large |z|
        return float(np.sum(np.logaddexp(0.0, z) - target * z))

    current = loss(a, b)
    for _ in range(100):
        p = _sigmoid(a * raw + b)
        r = p - target
        w = p * (1 - p)
        g = np.array([np.dot(r, raw), r.sum()])
        h = np.array([[np.dot(w, raw * raw), np.dot(w, raw)], [np.dot(w, raw), w.sum()]])
        h += 1e-12 * np.eye(2)
        step = np.linalg.solve(h, g)
        scale = 1.0
        while scale > 1e-10:
            na, nb = a - scale * float(step[0]), b - scale * float(step[1])
            new = loss(na, nb)
            if new <= current:
                break
            scale /= 2
        else:
            break
        a, b, improved = na, nb, current - new
        current = new
        if improved < 1e-12 * max(1.0, abs(current)):
            break
    if not a > 0:
        return 0.0, base
    return a, b


def fingerprint(
    features: Sequence[FeatureSpec],
    vectors: Sequence[Sequence[float | str]],
    labels: Sequence[int] | NDArray[np.int64],
) -> str:
    """SHA-256 of the training data as the model saw it: one JSON line per row."""
    digest = hashlib.sha256()
    header = [[f.name, f.kind.value] for f in features]
    digest.update(json.dumps(header, separators=(",", ":")).encode() + b"\n")
    for vector, label in zip(vectors, labels, strict=True):
        cells = (None if isinstance(v, float) and math.isnan(v) else v for v in vector)
        line = [int(label), *cells]
        digest.update(json.dumps(line, separators=(",", ":")).encode() + b"\n")
    return digest.hexdigest()


# Helpers --------------------------------------------------------------------------


def _check(
    rows: Sequence[Row], labels: Sequence[int], features: Sequence[FeatureSpec]
) -> NDArray[np.int64]:
    if len(rows) != len(labels):
        raise ValueError(f"{len(rows)} rows but {len(labels)} labels")
    if not features:
        raise ValueError("no features")
    names = [f.name for f in features]
    if len(set(names)) != len(names):
        raise ValueError(f"feature names repeat: {names}")
    y = np.asarray(labels, dtype=np.int64)
    if not np.isin(y, (0, 1)).all():
        raise ValueError("labels must be 0 (good) or 1 (bad)")
    if y.min(initial=1) == y.max(initial=0):
        raise ValueError("labels need both classes, good (0) and bad (1)")
    return y


def _catboost_params(
    settings: Mapping[str, Any], features: Sequence[FeatureSpec], seed: int
) -> dict[str, Any]:
    constraints = {i: f.monotone for i, f in enumerate(features) if f.monotone}
    out = {
        **settings,
        "random_seed": seed,
        "verbose": False,
        "allow_writing_files": False,
    }
    if constraints:
        out["monotone_constraints"] = constraints
    return out


def _out_of_fold(
    vectors: Sequence[Vector],
    y: NDArray[np.int64],
    features: Sequence[FeatureSpec],
    cb_params: Mapping[str, Any],
    splits: Sequence[tuple[NDArray[np.intp], NDArray[np.intp]]],
    stopping: int,
    trained: Callable[[], None],
) -> tuple[FloatArray, list[int]]:
    """Raw log-odds of every row from the model that early-stopped on its fold."""
    oof = np.zeros(len(y))
    best: list[int] = []
    for train, valid in splits:
        booster = CatBoostClassifier(**cb_params)
        booster.fit(
            _pool(vectors, y, features, train),
            eval_set=_pool(vectors, y, features, valid),
            early_stopping_rounds=stopping,
            use_best_model=True,
        )
        best.append(int(booster.get_best_iteration()) + 1)
        oof[valid] = booster.predict(
            _pool(vectors, None, features, valid), prediction_type="RawFormulaVal"
        )
        trained()
    return oof, best


def _pool(
    vectors: Sequence[Vector],
    y: NDArray[np.int64] | None,
    features: Sequence[FeatureSpec],
    index: NDArray[np.intp] | None,
) -> Pool:
    data = list(vectors) if index is None else [vectors[i] for i in index]
    label = None if y is None else (y if index is None else y[index])
    return Pool(
        data,
        label=label,
        cat_features=[i for i, f in enumerate(features) if f.kind is Kind.CATEGORICAL],
        feature_names=[f.name for f in features],
    )


def _sigmoid(z: FloatArray) -> FloatArray:
    out: FloatArray = np.exp(-np.logaddexp(0.0, -z))
    return out


def _figures(y: NDArray[np.int64], pd_: FloatArray) -> dict[str, Any]:
    return {"auc": auc(y, pd_), "ks": ks(y, pd_), "brier": brier(y, pd_), "ece": ece(y, pd_)}


def _mean(folds: Sequence[Mapping[str, Any]], key: str) -> float:
    return statistics.fmean(float(f[key]) for f in folds)


def _summary(folds: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    aucs = [float(f["auc"]) for f in folds]
    return {
        "auc_mean": statistics.fmean(aucs),
        "auc_std": statistics.pstdev(aucs),
        "aucs": aucs,
        "ks": _mean(folds, "ks"),
        "brier": _mean(folds, "brier"),
        "ece": _mean(folds, "ece"),
    }
