"""The trained scoring model: a CatBoost booster, its feature list and its calibration.

Assumptions:

- A probability of default (PD) is ``sigmoid(a * raw + b)``, where ``raw`` is the
  booster's log-odds (CatBoost's ``RawFormulaVal``) and ``(a, b)`` is the Platt scaling
  that training fitted on out-of-fold predictions (see ``scoring.training``). A blended
  model adds its logistic part: ``sigmoid(a * raw + b + linear(x))``, ``(a, b)`` and the
  part's weight fitted together on out-of-fold predictions (``scoring.linear``).
  Those log-odds are the PD's when the model's calibrator is ``Calibrator.PLATT``;
  with ``Calibrator.ISOTONIC`` the PD is the isotonic map of them that training chose
  on its inner folds instead (``scoring.calibration``).
- A row is turned into a vector the same way at training and at scoring time, by
  ``ScoringModel.vector``: features in the model's order; an unknown number is NaN
  (CatBoost's ``nan_mode="Min"`` sends it to its own side of every split); an unknown
  category is the label ``MISSING_CATEGORY``; every other category is ``str(value)``.
  A row without one of the model's features is an error, never a silent missing value.
- An artifact is two files in one directory: ``model.cbm`` (CatBoost's own format) and
  ``model.json`` (features, calibration and the isotonic map if any, metrics,
  parameters, training-data fingerprint, CatBoost version). Loading checks the
  features against those the caller computes and refuses a model whose names, kinds or order differ.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import catboost
import numpy as np
import pandas
from catboost import CatBoostClassifier
from numpy.typing import NDArray

from scoring.calibration import Calibrator, Isotonic
from scoring.linear import LinearPart
from scoring.spec import MISSING_CATEGORY, FeatureSpec, Kind, Row

MODEL_FILE = "model.cbm"
META_FILE = "model.json"
FORMAT_VERSION = 1

# Up to this many rows CatBoost is fed plain lists (cheapest for one application);
# above it a column-wise DataFrame, which CatBoost converts several times faster.
LIST_INPUT_MAX_ROWS = 256


class ModelMismatch(ValueError):
    """A stored model does not read the features the caller computes."""


def sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def feature_difference(stored: Sequence[FeatureSpec], expected: Sequence[FeatureSpec]) -> str:
    """What differs between two feature lists (names, kinds, order), or "" when nothing."""
    stored_kinds = {f.name: f.kind for f in stored}
    expected_kinds = {f.name: f.kind for f in expected}
    problems: list[str] = []
    missing = [f.name for f in expected if f.name not in stored_kinds]
    extra = [f.name for f in stored if f.name not in expected_kinds]
    if missing:
        problems.append("the model lacks " + ", ".join(missing))
    if extra:
        problems.append("the model has unexpected " + ", ".join(extra))
    for f in expected:
        kind = stored_kinds.get(f.name)
        if kind is not None and kind is not f.kind:
            problems.append(f"{f.name} is {kind.value} in the model, {f.kind.value} expected")
    if problems:
        return "; ".join(problems)
    if len(stored) != len(expected):
        return f"the model has {len(stored)} features, {len(expected)} expected (repeated names)"
    for position, (s, e) in enumerate(zip(stored, expected, strict=True)):
        if s.name != e.name:
            return (
                f"same features in another order: position {position} is {s.name} "
                f"in the model, {e.name} expected"
            )
    return ""


@dataclass
class ScoringModel:
    booster: CatBoostClassifier
    features: tuple[FeatureSpec, ...]
    calibration: tuple[float, float]  # Platt scaling on raw log-odds: a * raw + b
    metrics: dict[str, Any]
    params: dict[str, Any]
    fingerprint: str  # sha256 of the canonical training data, hex
    linear: LinearPart | None = None  # a blend's logistic part, in Platt's log-odds
    isotonic: Isotonic | None = None  # the PD map when the calibrator is isotonic

    @property
    def calibrator(self) -> Calibrator:
        return Calibrator.PLATT if self.isotonic is None else Calibrator.ISOTONIC

    def calibrate(self, log_odds: NDArray[np.float64]) -> NDArray[np.float64]:
        """Calibrated log-odds from ``stacked_log_odds`` (the same under Platt)."""
        if self.isotonic is None:
            return log_odds
        return self.isotonic.log_odds(log_odds)

    def vector(self, row: Row) -> list[float | str]:
        """The row's features in model order, missing values made explicit."""
        return vectorise(self.features, row)

    def raw_log_odds(self, vectors: Sequence[Sequence[float | str]]) -> list[float]:
        if not vectors:
            return []
        data: Any = vectors if len(vectors) <= LIST_INPUT_MAX_ROWS else self._frame(vectors)
        raw = self.booster.predict(data, prediction_type="RawFormulaVal")
        return [float(x) for x in raw]

    def stacked_log_odds(self, vectors: Sequence[Sequence[float | str]]) -> NDArray[np.float64]:
        """``a * raw + b`` (plus a blend's logistic part): the log-odds before isotonic."""
        a, b = self.calibration
        raw = np.asarray(self.raw_log_odds(vectors), dtype=np.float64)
        log_odds = a * raw + b
        if self.linear is not None and vectors:
            columns = [[v[i] for v in vectors] for i in range(len(self.features))]
            log_odds = log_odds + self.linear.logit(columns)
        out: NDArray[np.float64] = log_odds
        return out

    def calibrated_log_odds(self, vectors: Sequence[Sequence[float | str]]) -> list[float]:
        return [float(x) for x in self.calibrate(self.stacked_log_odds(vectors))]

    def pd(self, vectors: Sequence[Sequence[float | str]]) -> list[float]:
        """Calibrated probabilities of default."""
        return [sigmoid(x) for x in self.calibrated_log_odds(vectors)]

    def _frame(self, vectors: Sequence[Sequence[float | str]]) -> pandas.DataFrame:
        columns: dict[str, Any] = {}
        for i, f in enumerate(self.features):
            column = [v[i] for v in vectors]
            numeric = f.kind is Kind.NUMERIC
            columns[f.name] = np.asarray(column, dtype=np.float64) if numeric else column
        return pandas.DataFrame(columns)

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(directory / MODEL_FILE), format="cbm")
        meta = {
            "format": FORMAT_VERSION,
            "features": [
                {"name": f.name, "kind": f.kind.value, "monotone": f.monotone, "label": f.label}
                for f in self.features
            ],
            "calibration": list(self.calibration),
            "metrics": self.metrics,
            "params": self.params,
            "fingerprint": self.fingerprint,
            "catboost_version": catboost.__version__,
        }
        if self.linear is not None:
            meta["linear"] = self.linear.to_json()
        if self.isotonic is not None:
            meta["isotonic"] = self.isotonic.to_json()
        text = json.dumps(meta, indent=2, sort_keys=True, allow_nan=False)
        (directory / META_FILE).write_text(text + "\n", encoding="utf-8")

    @classmethod
    def load(
        cls, directory: Path, *, expected: Sequence[FeatureSpec] | None = None
    ) -> ScoringModel:
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT_VERSION:
            raise ModelMismatch(f"unknown model format {meta.get('format')!r} in {directory}")
        features = tuple(
            FeatureSpec(
                name=f["name"], kind=Kind(f["kind"]), monotone=f["monotone"], label=f["label"]
            )
            for f in meta["features"]
        )
        if expected is not None:
            difference = feature_difference(features, expected)
            if difference:
                raise ModelMismatch(f"model in {directory} does not match: {difference}")
        booster = CatBoostClassifier()
        booster.load_model(str(directory / MODEL_FILE), format="cbm")
        names = list(booster.feature_names_)
        categorical = set(booster.get_cat_feature_indices())
        if names != [f.name for f in features] or categorical != {
            i for i, f in enumerate(features) if f.kind is Kind.CATEGORICAL
        }:
            raise ModelMismatch(f"{MODEL_FILE} and {META_FILE} in {directory} disagree")
        a, b = meta["calibration"]
        return cls(
            booster=booster,
            features=features,
            calibration=(float(a), float(b)),
            metrics=meta["metrics"],
            params=meta["params"],
            fingerprint=meta["fingerprint"],
            linear=LinearPart.from_json(meta["linear"]) if meta.get("linear") else None,
            isotonic=Isotonic.from_json(meta["isotonic"]) if meta.get("isotonic") else None,
        )


def vectorise(features: Sequence[FeatureSpec], row: Row) -> list[float | str]:
    out: list[float | str] = []
    for f in features:
        try:
            value = row[f.name]
        except KeyError:
            raise KeyError(f"row has no feature {f.name!r}") from None
        if f.kind is Kind.NUMERIC:
            out.append(math.nan if value is None else float(value))
        else:
            out.append(MISSING_CATEGORY if value is None else str(value))
    return out
