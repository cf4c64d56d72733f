"""Scorecard points and rating grades from a probability of default (PD).

Conventions:

- Odds are good to bad: a PD of 2% is odds of 98:2 = 49:1. Points rise with the odds,
  so a higher score is a safer borrower:

      points = offset + factor * ln(odds) = offset - factor * ln(PD / (1 - PD))
      factor = pdo / ln 2,   offset = base_points - factor * ln(base_odds)

  With the defaults, odds of 50:1 score 600 and every 20 points double the odds
  (620 is 100:1, 580 is 25:1). Points are whole numbers, rounded half away from zero
  (half-up, as money is rounded); they are not clipped to a range.
- The master scale maps a PD to a grade by upper bounds: a PD belongs to the first
  grade whose bound it does not exceed. Bounds rise strictly and the last one is 1.0,
  so every PD in [0, 1] has exactly one grade and a higher PD never gets a better
  grade. The default bounds follow the usual shape of agency-style SME master scales
  (roughly doubling to tripling per notch), AAA up to 0.05% and C the rest.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

DEFAULT_GRADES: tuple[tuple[str, float], ...] = (
    ("AAA", 0.0005),
    ("AA", 0.001),
    ("A", 0.003),
    ("BBB", 0.01),
    ("BB", 0.03),
    ("B", 0.10),
    ("CCC", 0.25),
    ("CC", 0.50),
    ("C", 1.0),
)


@dataclass(frozen=True, slots=True)
class Scorecard:
    base_points: float = 600
    base_odds: float = 50.0  # good:bad odds that score base_points
    pdo: float = 20  # points to double the odds
    factor: float = field(init=False)
    offset: float = field(init=False)

    def __post_init__(self) -> None:
        if not (self.base_odds > 0 and math.isfinite(self.base_odds)):
            raise ValueError(f"base odds must be positive, got {self.base_odds}")
        if not (self.pdo > 0 and math.isfinite(self.pdo)):
            raise ValueError(f"points to double the odds must be positive, got {self.pdo}")
        if not math.isfinite(self.base_points):
            raise ValueError(f"base points must be finite, got {self.base_points}")
        factor = self.pdo / math.log(2)
        object.__setattr__(self, "factor", factor)
        object.__setattr__(self, "offset", self.base_points - factor * math.log(self.base_odds))

    def points(self, pd: float) -> int:
        """Points for a PD strictly between 0 and 1."""
        if not 0.0 < pd < 1.0:
            raise ValueError(f"a PD for points must lie strictly between 0 and 1, got {pd}")
        return self.points_for_log_odds(math.log(pd / (1.0 - pd)))

    def points_for_log_odds(self, log_odds_of_default: float) -> int:
        """Points for ln(PD / (1 - PD)): what a model gives before the sigmoid, and exact
        where a PD has rounded to 0 or 1."""
        if not math.isfinite(log_odds_of_default):
            raise ValueError(f"log-odds must be finite, got {log_odds_of_default}")
        return half_up(self.offset - self.factor * log_odds_of_default)

    def points_many(self, log_odds_of_default: NDArray[np.float64]) -> NDArray[np.int64]:
        """``points_for_log_odds`` over an array, rounded the same way."""
        x = self.offset - self.factor * np.asarray(log_odds_of_default, dtype=np.float64)
        if not np.isfinite(x).all():
            raise ValueError("log-odds must be finite")
        rounded = np.copysign(np.floor(np.abs(x) + 0.5), x)
        return rounded.astype(np.int64)

    def odds(self, points: float) -> float:
        """Good:bad odds that score ``points`` (the inverse of the formula)."""
        return math.exp((points - self.offset) / self.factor)


def half_up(x: float) -> int:
    """Round half away from zero (2.5 -> 3, -2.5 -> -3), as Decimal's ROUND_HALF_UP."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


@dataclass(frozen=True, slots=True)
class MasterScale:
    """Grades by upper PD bound, best first; see the module doc."""

    grades: tuple[tuple[str, float], ...] = DEFAULT_GRADES
    names: tuple[str, ...] = field(init=False)
    bounds: tuple[float, ...] = field(init=False)

    def __post_init__(self) -> None:
        grades = tuple((str(name), float(bound)) for name, bound in self.grades)
        if not grades:
            raise ValueError("a master scale needs at least one grade")
        names = tuple(name for name, _ in grades)
        bounds = tuple(bound for _, bound in grades)
        if any(not name for name in names) or len(set(names)) != len(names):
            raise ValueError(f"grade names must be non-empty and distinct, got {names}")
        if not all(0.0 < b <= 1.0 for b in bounds):
            raise ValueError(f"upper bounds must lie in (0, 1], got {bounds}")
        for (low_name, low), (high_name, high) in itertools.pairwise(grades):
            if not low < high:
                raise ValueError(
                    f"upper bounds must rise strictly: {low_name} {low} then {high_name} {high}"
                )
        if bounds[-1] != 1.0:
            raise ValueError(
                f"the last grade must reach a PD of 1.0, {names[-1]} ends at {bounds[-1]}"
            )
        object.__setattr__(self, "grades", grades)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "bounds", bounds)

    @classmethod
    def of(cls, grades: Sequence[tuple[str, float]]) -> MasterScale:
        return cls(tuple(grades))

    def grade(self, pd: float) -> str:
        if not 0.0 <= pd <= 1.0:  # NaN fails too
            raise ValueError(f"a PD must lie in [0, 1], got {pd}")
        return self.names[bisect.bisect_left(self.bounds, pd)]

    def grade_many(self, pds: NDArray[np.float64]) -> list[str]:
        """``grade`` over an array of PDs."""
        names = self.names
        return [names[i] for i in self.grade_index(pds).tolist()]

    def grade_index(self, pds: NDArray[np.float64]) -> NDArray[np.intp]:
        """``grade`` over an array of PDs, each grade as its index in ``names``."""
        values = np.asarray(pds, dtype=np.float64)
        if not ((values >= 0.0) & (values <= 1.0)).all():
            raise ValueError("PDs must lie in [0, 1]")
        return np.searchsorted(np.asarray(self.bounds), values, side="left")
