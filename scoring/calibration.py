"""Which calibrator turns a model's log-odds into a PD: Platt scaling or isotonic regression.

Assumptions:

- Every model has log-odds ``z`` before this step: ``a * raw + b`` (Platt's two
  parameters on the booster's raw log-odds) or, for a blend, ``a * raw + b + linear(x)``
  (the stacking weights). ``Calibrator.PLATT`` serves ``PD = sigmoid(z)``.
  ``Calibrator.ISOTONIC`` serves ``PD = iso(z)``, a non-decreasing step-and-ramp map
  fitted by isotonic regression of the outcome on the out-of-fold ``z``. Both keep the
  ranking (isotonic may tie rows Platt separates), so monotone constraints still hold
  in the weak sense: a PD never moves the forbidden way.
- An isotonic PD is bounded away from 0 and 1: a block of rows where no loan (or every
  loan) defaulted says the rate is small, not zero. The bounds are Laplace's
  ``1 / (n + 2)`` and ``1 - 1 / (n + 2)`` for the ``n`` rows the map was fitted on, so
  log-odds, points and the log loss stay finite.
- The choice is by log loss, cross-fitted on the out-of-fold predictions the training
  already has (the inner folds): each part of the rows is calibrated by both maps
  fitted on the other parts, and the map with the lower log loss over all rows wins;
  Platt wins ties. Log loss rather than Brier, because a PD is used as a probability
  (priced, provisioned), so a confident PD that turns out wrong must cost much: Brier
  is bounded by 1 per loan and barely tells a PD of 0.1% from 1% on a defaulter, which
  is exactly how an isotonic map fitted on few rows fails (its end blocks say "never").
  Log loss is also what early stopping and Platt scaling minimise. Brier and ECE are
  reported beside it. Inside ``cross_validate`` this runs within each outer fold, on
  that fold's inner out-of-fold predictions only.
- Reasons under isotonic calibration: a feature's part is its part in ``z`` (SHAP
  values of the booster times ``a``, plus its logistic term), scaled per row by
  ``(L - L0) / (z - z0)``, where ``L = logit(iso(z))`` is the row's calibrated log-odds
  and ``L0 = logit(iso(z0))`` that of the row's expected value ``z0``. The parts keep
  their signs and proportions and add up, with ``L0``, to ``L``: they explain how far
  the features moved this row's calibrated log-odds from the model's expected one.
  A row whose ``z`` falls in the same isotonic step as ``z0`` has the average row's PD,
  and scaling by zero would leave it without reasons, which a decision must never have
  (an applicant is owed the main reasons): its parts are those of ``z``, unscaled,
  explaining the model's score before the map. Under Platt scaling the factor is 1
  and ``L0 = z0``.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.isotonic import IsotonicRegression

FloatArray = NDArray[np.float64]


class Calibrator(enum.Enum):
    PLATT = "platt"  # sigmoid of the log-odds (for a blend: of the stacked log-odds)
    ISOTONIC = "isotonic"  # isotonic regression of the outcome on the log-odds


@dataclass(frozen=True)
class Isotonic:
    """A fitted isotonic map: PD by linear interpolation between thresholds, clipped
    at the ends (scikit-learn's ``out_of_bounds="clip"``)."""

    x: tuple[float, ...]
    y: tuple[float, ...]

    def pd(self, z: FloatArray) -> FloatArray:
        out: FloatArray = np.interp(np.asarray(z, dtype=np.float64), self.x, self.y)
        return out

    def log_odds(self, z: FloatArray) -> FloatArray:
        p = self.pd(z)
        out: FloatArray = np.log(p) - np.log1p(-p)
        return out

    def to_json(self) -> dict[str, Any]:
        return {"x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Isotonic:
        x = tuple(float(v) for v in data["x"])
        y = tuple(float(v) for v in data["y"])
        if not x or len(x) != len(y):
            raise ValueError("an isotonic map needs as many PDs as thresholds, at least one")
        if any(b < a for a, b in itertools.pairwise(y)) or not (y[0] > 0 and y[-1] < 1):
            raise ValueError("an isotonic map's PDs rise and stay inside (0, 1)")
        return cls(x, y)


def fit_isotonic(z: FloatArray, y: NDArray[np.int64]) -> Isotonic:
    """Isotonic regression of the outcome on ``z``, PDs within Laplace's bounds."""
    bound = 1.0 / (len(y) + 2)
    regression = IsotonicRegression(out_of_bounds="clip", y_min=bound, y_max=1.0 - bound)
    regression.fit(np.asarray(z, dtype=np.float64), np.asarray(y, dtype=np.float64))
    xs = np.asarray(regression.X_thresholds_, dtype=np.float64)
    ys = np.asarray(regression.y_thresholds_, dtype=np.float64)
    return Isotonic(tuple(float(v) for v in xs), tuple(float(v) for v in ys))


def log_loss(y: NDArray[np.int64], pd_: FloatArray) -> float:
    p = np.clip(np.asarray(pd_, dtype=np.float64), 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def reliability(
    y: Sequence[int] | NDArray[np.int64], pd_: Sequence[float] | FloatArray, bins: int = 10
) -> list[dict[str, Any]]:
    """The reliability curve on equal-width PD bins (those of the ECE): per non-empty
    bin its range, loans, mean predicted PD and observed default rate, lowest first.
    The ECE is the loan-weighted mean of |pd_mean - default_rate| over these bins."""
    labels = np.asarray(y, dtype=np.float64)
    pds = np.asarray(pd_, dtype=np.float64)
    index = np.minimum((pds * bins).astype(np.int64), bins - 1)
    out: list[dict[str, Any]] = []
    for b in range(bins):
        mask = index == b
        if mask.any():
            out.append(
                {
                    "low": b / bins,
                    "high": (b + 1) / bins,
                    "loans": int(mask.sum()),
                    "pd_mean": float(pds[mask].mean()),
                    "default_rate": float(labels[mask].mean()),
                }
            )
    return out


def rescale(
    parts: FloatArray, z: FloatArray, calibrate: Callable[[FloatArray], FloatArray]
) -> FloatArray:
    """Parts (rows, features) of the log-odds ``z`` scaled per row to add up, with the
    calibrated log-odds of the row's expected value, to its calibrated log-odds
    (``calibrate`` maps ``z`` to those; see the module doc). ``z - parts.sum(1)`` is
    each row's expected value; a row calibrated like its expected value (an isotonic
    step) keeps its parts unscaled, so no decision comes without reasons."""
    expected = z - parts.sum(axis=1)
    gap = z - expected
    moved = calibrate(z) - calibrate(expected)
    safe = (np.abs(gap) > 1e-12) & (np.abs(moved) > 1e-12)
    factor = np.divide(moved, gap, out=np.ones_like(gap), where=safe)
    out: FloatArray = parts * factor[:, None]
    return out
