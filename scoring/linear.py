"""The logistic baseline as a part of the served model: fitted with scikit-learn, kept as
plain numbers, computed on columns, and explained exactly.

Assumptions:

- The baseline is the one ``scoring.training`` measures the booster against: numbers
  median-imputed and standardised, categories one-hot (a category unseen in training
  adds nothing), L2 with C=1, no class weights. Where a feature's direction is known
  (``FeatureSpec.monotone``) and the fitted coefficient points the other way, the
  feature is left out and the rest refitted once, so the blend keeps every declared
  direction (a coefficient of the right sign, or none).
- In a blend the part enters the log-odds times a weight (``scaled``), so what is
  stored is already in the blended model's log-odds: ``logit(x) = intercept + sum of
  terms``, each term a function of one feature.
- A term's SHAP value is exact and simple for a linear model of independent terms: the
  term minus its mean over the training rows (``contributions``). The contributions of
  a row add up to ``logit(x) - expected``; with the booster's SHAP values (which add up
  to ``raw - its expected value``) the parts of a blend add up to its log-odds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas
from numpy.typing import NDArray
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from scoring.spec import MISSING_CATEGORY, FeatureSpec, Kind

FloatArray = NDArray[np.float64]
Vector = Sequence[float | str]


@dataclass(frozen=True)
class NumericTerm:
    """coef * (x - mean) / scale, a missing x read as ``median``."""

    median: float
    mean: float
    scale: float
    coef: float

    def values(self, column: FloatArray) -> FloatArray:
        filled = np.where(np.isnan(column), self.median, column)
        out: FloatArray = self.coef * (filled - self.mean) / self.scale
        return out


@dataclass(frozen=True)
class CategoricalTerm:
    """The coefficient of the row's category; 0 for a category training never saw."""

    coefs: Mapping[str, float]

    def values(self, column: Sequence[Any]) -> FloatArray:
        labels = pandas.Series(np.asarray(column, dtype=object))
        out: FloatArray = labels.map(dict(self.coefs)).fillna(0.0).to_numpy(dtype=np.float64)
        return out


@dataclass(frozen=True)
class LinearPart:
    """A fitted logistic model of the features, in the blended model's log-odds."""

    names: tuple[str, ...]
    intercept: float
    terms: Mapping[str, NumericTerm | CategoricalTerm]  # features left out have none
    means: Mapping[str, float] = field(default_factory=dict)  # each term's training mean

    @property
    def expected(self) -> float:
        """The mean log-odds over the training rows (where contributions start from)."""
        return self.intercept + math.fsum(self.means.values())

    def scaled(self, weight: float, shift: float = 0.0) -> LinearPart:
        """This part times ``weight``, plus ``shift`` in the intercept."""
        terms: dict[str, NumericTerm | CategoricalTerm] = {}
        for name, term in self.terms.items():
            if isinstance(term, NumericTerm):
                terms[name] = replace(term, coef=term.coef * weight)
            else:
                terms[name] = CategoricalTerm({k: v * weight for k, v in term.coefs.items()})
        means = {k: v * weight for k, v in self.means.items()}
        return replace(self, intercept=self.intercept * weight + shift, terms=terms, means=means)

    def contributions(self, columns: Sequence[Any]) -> FloatArray:
        """(rows, features): each feature's term minus its training mean; columns in the
        model's feature order (numbers as floats with NaN, categories as labels)."""
        n = len(columns[0]) if columns else 0
        out = np.zeros((n, len(self.names)))
        for j, name in enumerate(self.names):
            term = self.terms.get(name)
            if term is not None:
                out[:, j] = term.values(_column(term, columns[j])) - self.means.get(name, 0.0)
        return out

    def logit(self, columns: Sequence[Any]) -> FloatArray:
        """The log-odds of each row (columns as ``contributions`` reads them)."""
        n = len(columns[0]) if columns else 0
        total = np.full(n, self.intercept)
        for j, name in enumerate(self.names):
            term = self.terms.get(name)
            if term is not None:
                total += term.values(_column(term, columns[j]))
        return total

    def to_json(self) -> dict[str, Any]:
        terms: dict[str, Any] = {}
        for name, term in self.terms.items():
            if isinstance(term, NumericTerm):
                terms[name] = {
                    "median": term.median,
                    "mean": term.mean,
                    "scale": term.scale,
                    "coef": term.coef,
                }
            else:
                terms[name] = {"categories": dict(term.coefs)}
        return {
            "names": list(self.names),
            "intercept": self.intercept,
            "terms": terms,
            "means": dict(self.means),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LinearPart:
        terms: dict[str, NumericTerm | CategoricalTerm] = {}
        for name, term in data["terms"].items():
            if "categories" in term:
                terms[name] = CategoricalTerm(
                    {str(k): float(v) for k, v in term["categories"].items()}
                )
            else:
                terms[name] = NumericTerm(
                    float(term["median"]),
                    float(term["mean"]),
                    float(term["scale"]),
                    float(term["coef"]),
                )
        return cls(
            names=tuple(data["names"]),
            intercept=float(data["intercept"]),
            terms=terms,
            means={k: float(v) for k, v in data["means"].items()},
        )


def _column(term: NumericTerm | CategoricalTerm, column: Any) -> Any:
    if isinstance(term, NumericTerm):
        return np.asarray(column, dtype=np.float64)
    return [MISSING_CATEGORY if v is None else v for v in column]


def baseline(features: Sequence[FeatureSpec]) -> Pipeline:
    """The logistic regression the pipeline is measured against (see the module doc)."""
    numeric = [f.name for f in features if f.kind is Kind.NUMERIC]
    categorical = [f.name for f in features if f.kind is Kind.CATEGORICAL]
    parts: list[tuple[str, Any, list[str]]] = []
    if numeric:
        impute = SimpleImputer(strategy="median", keep_empty_features=True)
        parts.append(("numeric", make_pipeline(impute, StandardScaler()), numeric))
    if categorical:
        parts.append(("categorical", OneHotEncoder(handle_unknown="ignore"), categorical))
    return make_pipeline(ColumnTransformer(parts), LogisticRegression(C=1.0, max_iter=5000))


def frame(vectors: Sequence[Vector], features: Sequence[FeatureSpec]) -> pandas.DataFrame:
    """Vectors (``ScoringModel.vector``) as the data frame the baseline reads."""
    columns: dict[str, Any] = {}
    for i, f in enumerate(features):
        column = [v[i] for v in vectors]
        numeric = f.kind is Kind.NUMERIC
        columns[f.name] = np.asarray(column, dtype=np.float64 if numeric else object)
    return pandas.DataFrame(columns)


def fit_linear(
    vectors: Sequence[Vector], y: NDArray[np.int64], features: Sequence[FeatureSpec]
) -> LinearPart:
    """The baseline fitted on these rows, as plain numbers, declared directions kept."""
    kept = list(features)
    part = _extract(vectors, y, features, kept)
    wrong = {
        f.name
        for f in kept
        if f.monotone
        and isinstance(term := part.terms.get(f.name), NumericTerm)
        and term.coef * f.monotone < 0
    }
    if wrong:
        kept = [f for f in kept if f.name not in wrong]
        part = _extract(vectors, y, features, kept)
    return part


def _extract(
    vectors: Sequence[Vector],
    y: NDArray[np.int64],
    features: Sequence[FeatureSpec],
    kept: Sequence[FeatureSpec],
) -> LinearPart:
    data = frame(vectors, features)
    terms: dict[str, NumericTerm | CategoricalTerm] = {}
    if not kept:  # nothing left to learn from: the base rate
        rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
        return LinearPart(tuple(f.name for f in features), math.log(rate / (1 - rate)), {}, {})
    model = baseline(kept)
    model.fit(data[[f.name for f in kept]], y)
    transformer, regression = model[0], model[-1]
    coefs = regression.coef_[0].tolist()
    at = 0
    numeric = [f.name for f in kept if f.kind is Kind.NUMERIC]
    if numeric:
        imputer, scaler = transformer.named_transformers_["numeric"]
        for k, name in enumerate(numeric):
            scale = float(scaler.scale_[k])
            terms[name] = NumericTerm(
                float(imputer.statistics_[k]), float(scaler.mean_[k]), scale, coefs[at + k]
            )
        at += len(numeric)
    categorical = [f.name for f in kept if f.kind is Kind.CATEGORICAL]
    if categorical:
        encoder = transformer.named_transformers_["categorical"]
        for name, categories in zip(categorical, encoder.categories_, strict=True):
            terms[name] = CategoricalTerm(
                {str(c): coefs[at + k] for k, c in enumerate(categories.tolist())}
            )
            at += len(categories)
    part = LinearPart(tuple(f.name for f in features), float(regression.intercept_[0]), terms, {})
    columns = [data[f.name].to_numpy() for f in features]
    spread = part.contributions(columns)  # means still 0: the terms themselves
    means = {name: float(spread[:, j].mean()) for j, name in enumerate(part.names) if name in terms}
    return replace(part, means=means)
