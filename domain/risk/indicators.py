"""The weighted early-warning indicator system: AHP weights, indicator levels, a composite score.

Weights come from the analytic hierarchy process (Saaty, T. L. (1980). *The Analytic
Hierarchy Process*. McGraw-Hill). A risk officer compares indicators pairwise on Saaty's
1/9..9 scale: ``a_ij`` says how much more indicator ``i`` matters than ``j``, with
``a_ji = 1 / a_ij`` and ``a_ii = 1``. The weights are the principal (Perron) eigenvector
of that matrix, normalised to sum 1; it is computed with ``numpy.linalg.eig`` and the
eigenvector of the eigenvalue with the largest real part is taken by its real part (for a
positive matrix that eigenvalue is real and simple, and its vector has one sign).

Consistency: ``CI = (lambda_max - n) / (n - 1)`` and ``CR = CI / RI(n)``, with Saaty's
random index ``RI``; ``RI = 0`` for n <= 2, where every reciprocal matrix is consistent
and CR is 0. A matrix is accepted when ``CR < 0.1``. Otherwise the comparisons named as
offending are the three whose judgement ``a_ij`` lies furthest from the ratio the weights
imply, ``w_i / w_j``, measured as ``|ln(a_ij * w_j / w_i)|`` (each pair counted once).

Levels: each indicator has yellow, orange and red boundaries; reaching a boundary
(inclusive) puts the value in that level. ``direction=+1`` means higher is worse,
``-1`` lower is worse. A missing value (``None`` or NaN) counts as GREEN - one unknown
input must not raise a loan's score by itself - but is listed apart as unknown so a
reviewer sees what the score could not see.

Score: ``sum(weight * level / 3) * 100``, in [0, 100]; its level comes from the cut
points (default 25 / 50 / 75, each inclusive).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from kernel.errors import InvalidInput

# Saaty's random consistency index for n = 1..15 (index 0 unused).
RANDOM_INDEX: tuple[float, ...] = (
    0.0,
    0.0,
    0.0,
    0.58,
    0.90,
    1.12,
    1.24,
    1.32,
    1.41,
    1.45,
    1.49,
    1.51,
    1.48,
    1.56,
    1.57,
    1.59,
)
CONSISTENCY_THRESHOLD = 0.1
MAX_CRITERIA = 15
SCALE_MIN, SCALE_MAX = 1.0 / 9.0, 9.0
RECIPROCAL_TOLERANCE = 1e-6
WEIGHT_SUM_TOLERANCE = 1e-6
DEFAULT_CUT_POINTS: tuple[float, float, float] = (25.0, 50.0, 75.0)
_SCALE_SLACK = 1e-9  # 1/9 written as 0.1111 must not be refused for rounding
_OFFENDING_COUNT = 3


class Level(enum.IntEnum):
    GREEN = 0
    YELLOW = 1
    ORANGE = 2
    RED = 3


@dataclass(frozen=True)
class AhpResult:
    weights: dict[str, float]
    lambda_max: float
    consistency_index: float
    consistency_ratio: float
    consistent: bool
    # (row, column, given a_ij, implied w_i / w_j), worst first; empty when consistent
    offending: list[tuple[str, str, float, float]] = field(default_factory=list)


def _validate_matrix(names: Sequence[str], matrix: Sequence[Sequence[float]]) -> np.ndarray:
    n = len(names)
    if len(set(names)) != n:
        raise InvalidInput("indicator names must be unique", field="indicators")
    if not 2 <= n <= MAX_CRITERIA:
        raise InvalidInput(
            f"a comparison matrix needs 2 to {MAX_CRITERIA} indicators, got {n}",
            field="comparisons",
        )
    if len(matrix) != n or any(len(row) != n for row in matrix):
        raise InvalidInput(
            f"the comparison matrix must be {n}x{n}, one row and column per name",
            field="comparisons",
        )
    a = np.array([[float(x) for x in row] for row in matrix], dtype=float)
    for i in range(n):
        for j in range(n):
            value = a[i, j]
            cell = f"comparison {names[i]!r} vs {names[j]!r}"
            at = f"comparisons.{i}.{j}"
            if not math.isfinite(value) or value <= 0:
                raise InvalidInput(f"{cell} must be a positive number, got {value}", field=at)
            if not SCALE_MIN - _SCALE_SLACK <= value <= SCALE_MAX + _SCALE_SLACK:
                raise InvalidInput(f"{cell} is {value}, outside Saaty's scale 1/9..9", field=at)
            if i == j and abs(value - 1.0) > RECIPROCAL_TOLERANCE:
                raise InvalidInput(
                    f"{cell} is on the diagonal and must be 1, got {value}", field=at
                )
            if i < j and abs(value * a[j, i] - 1.0) > RECIPROCAL_TOLERANCE:
                raise InvalidInput(
                    f"{cell} is {value} but {names[j]!r} vs {names[i]!r} is {a[j, i]};"
                    " they must be reciprocal",
                    field=at,
                )
    return a


def ahp_weights(names: Sequence[str], matrix: Sequence[Sequence[float]]) -> AhpResult:
    """Weights and consistency of a pairwise-comparison matrix (rows and columns = names)."""
    a = _validate_matrix(names, matrix)
    n = len(names)
    values, vectors = np.linalg.eig(a)
    k = int(np.argmax(values.real))
    lambda_max = float(values.real[k])
    vector = vectors.real[:, k]
    w = vector / vector.sum()
    # lambda_max >= n for any positive reciprocal matrix; below n is only rounding.
    ci = max(0.0, (lambda_max - n) / (n - 1))
    ri = RANDOM_INDEX[n]
    cr = ci / ri if ri > 0 else 0.0
    consistent = cr < CONSISTENCY_THRESHOLD
    weights = {name: float(w[i]) for i, name in enumerate(names)}
    offending: list[tuple[str, str, float, float]] = []
    if not consistent:
        cells = [
            (abs(math.log(a[i, j] * w[j] / w[i])), i, j) for i in range(n) for j in range(i + 1, n)
        ]
        cells.sort(key=lambda c: c[0], reverse=True)
        offending = [
            (names[i], names[j], float(a[i, j]), float(w[i] / w[j]))
            for _, i, j in cells[:_OFFENDING_COUNT]
        ]
    return AhpResult(
        weights=weights,
        lambda_max=lambda_max,
        consistency_index=ci,
        consistency_ratio=cr,
        consistent=consistent,
        offending=offending,
    )


@dataclass(frozen=True)
class IndicatorRule:
    name: str
    direction: int  # +1: higher is worse; -1: lower is worse
    thresholds: tuple[float, float, float]  # yellow, orange, red boundaries

    def __post_init__(self) -> None:
        if not self.name:
            raise InvalidInput("an indicator needs a name", field="indicators")
        if self.direction not in (1, -1):
            raise InvalidInput(
                f"{self.name}: direction must be +1 or -1, got {self.direction}", field="indicators"
            )
        if len(self.thresholds) != 3 or not all(math.isfinite(t) for t in self.thresholds):
            raise InvalidInput(
                f"{self.name}: needs three finite thresholds (yellow, orange, red)",
                field="indicators",
            )
        yellow, orange, red = (t * self.direction for t in self.thresholds)
        if not yellow <= orange <= red:
            order = "increase" if self.direction == 1 else "decrease"
            raise InvalidInput(
                f"{self.name}: thresholds yellow, orange, red must {order}, got {self.thresholds}",
                field="indicators",
            )


def is_unknown(value: float | None) -> bool:
    return value is None or math.isnan(value)


def level_of(rule: IndicatorRule, value: float | None) -> Level:
    """The level a value reaches; a boundary belongs to the worse level. Unknown is GREEN."""
    if value is None or math.isnan(value):
        return Level.GREEN
    signed = value * rule.direction
    for level, threshold in zip(
        (Level.RED, Level.ORANGE, Level.YELLOW), reversed(rule.thresholds), strict=True
    ):
        if signed >= threshold * rule.direction:
            return level
    return Level.GREEN


def _checked_weights(names: Sequence[str], weights: Mapping[str, float]) -> dict[str, float]:
    missing = sorted(set(names) - set(weights))
    extra = sorted(set(weights) - set(names))
    if missing or extra:
        raise InvalidInput(
            f"weights must name exactly the indicators; missing {missing}, unexpected {extra}",
            field="indicators",
        )
    for name, w in weights.items():
        if not math.isfinite(w) or w < 0:
            raise InvalidInput(
                f"weight of {name!r} must be a non-negative number, got {w}",
                field=f"indicators.{list(names).index(name)}.weight",
            )
    total = math.fsum(weights.values())
    if abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
        raise InvalidInput(f"weights must sum to 1, got {total}", field="indicators")
    return {name: weights[name] / total for name in names}


def _contributions(levels: Mapping[str, Level], weights: Mapping[str, float]) -> dict[str, float]:
    normalised = _checked_weights(list(levels), weights)
    return {name: normalised[name] * int(lvl) / 3 * 100 for name, lvl in levels.items()}


def _score(contributions: Mapping[str, float]) -> float:
    return min(100.0, max(0.0, math.fsum(contributions.values())))


def warning_score(levels: Mapping[str, Level], weights: Mapping[str, float]) -> float:
    """``sum(weight * level / 3) * 100``: 0 when all green, 100 when all red."""
    return _score(_contributions(levels, weights))


def _check_cut_points(cut_points: tuple[float, float, float]) -> None:
    if len(cut_points) != 3 or not 0 < cut_points[0] < cut_points[1] < cut_points[2] <= 100:
        raise InvalidInput(
            f"cut points must rise strictly within (0, 100], got {cut_points}", field="cutPoints"
        )


def overall_level(
    score: float, cut_points: tuple[float, float, float] = DEFAULT_CUT_POINTS
) -> Level:
    """The level of a composite score; a cut point belongs to the worse level."""
    _check_cut_points(cut_points)
    if not 0 <= score <= 100:
        raise InvalidInput(f"a warning score lies in [0, 100], got {score}")
    yellow, orange, red = cut_points
    if score >= red:
        return Level.RED
    if score >= orange:
        return Level.ORANGE
    if score >= yellow:
        return Level.YELLOW
    return Level.GREEN


@dataclass(frozen=True)
class WarningResult:
    score: float
    level: Level
    levels: dict[str, Level]
    unknown: list[str]  # indicators with no value; counted GREEN in the score
    contributions: dict[str, float]  # each indicator's share of the score; they sum to it


class WarningSystem:
    """Rules, their weights and the score cut points; ``assess`` scores one loan's values."""

    def __init__(
        self,
        rules: Sequence[IndicatorRule],
        weights: Mapping[str, float],
        cut_points: tuple[float, float, float] = DEFAULT_CUT_POINTS,
    ) -> None:
        names = [rule.name for rule in rules]
        if not names:
            raise InvalidInput("a warning system needs at least one indicator", field="indicators")
        if len(set(names)) != len(names):
            raise InvalidInput("indicator names must be unique", field="indicators")
        _check_cut_points(cut_points)
        self.rules: tuple[IndicatorRule, ...] = tuple(rules)
        self.weights: dict[str, float] = _checked_weights(names, weights)
        self.cut_points = cut_points

    @classmethod
    def from_ahp(
        cls,
        rules: Sequence[IndicatorRule],
        matrix: Sequence[Sequence[float]],
        cut_points: tuple[float, float, float] = DEFAULT_CUT_POINTS,
    ) -> WarningSystem:
        """Weights from a comparison matrix ordered as ``rules``; refused when CR >= 0.1."""
        result = ahp_weights([rule.name for rule in rules], matrix)
        if not result.consistent:
            named = "; ".join(
                f"{row} vs {col}: given {given:.3g}, implied {implied:.3g}"
                for row, col, given, implied in result.offending
            )
            raise InvalidInput(
                f"the comparisons are inconsistent (CR {result.consistency_ratio:.3f} >= "
                f"{CONSISTENCY_THRESHOLD}); revisit {named}",
                field="comparisons",
            )
        return cls(rules, result.weights, cut_points)

    def assess(self, values: Mapping[str, float | None]) -> WarningResult:
        """Levels and score of one set of values; a missing or None value is unknown.

        Values of indicators the system has no rule for are ignored: a scan computes the
        whole catalogue, a system may weigh only part of it.
        """
        levels = {rule.name: level_of(rule, values.get(rule.name)) for rule in self.rules}
        unknown = [rule.name for rule in self.rules if is_unknown(values.get(rule.name))]
        contributions = _contributions(levels, self.weights)
        score = _score(contributions)
        return WarningResult(
            score=score,
            level=overall_level(score, self.cut_points),
            levels=levels,
            unknown=unknown,
            contributions=contributions,
        )
