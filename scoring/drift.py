"""Population stability: has what the model sees moved away from what it learnt from?

The population stability index compares the share of a variable's values falling in
each bin, training sample (``p``) against recent applications (``q``):
``PSI = sum((q - p) * ln(q / p))``. Bins are the training sample's deciles, fixed at
training time and stored with the model. The usual reading: below 0.1 stable,
0.1 to 0.25 worth watching, above 0.25 unstable (the model should be re-validated).
Empty bins are floored at 0.0001 so one rare bin cannot make the index infinite.
Categorical variables use their categories as bins ("other" gathers unseen ones).
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from scoring.model import ScoringModel
from scoring.scorecard import Scorecard
from scoring.spec import Kind, Row

FLOOR = 1e-4
WATCH = 0.1
UNSTABLE = 0.25
DECILES = 10


def reference(values: Sequence[float | str | None], *, categorical: bool) -> dict[str, Any]:
    """The bins of a variable in the training sample, and each bin's share."""
    present = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    missing = (len(values) - len(present)) / len(values) if values else 0.0
    if categorical:
        counts = Counter(str(v) for v in present)
        total = len(values) or 1
        return {
            "kind": "categorical",
            "shares": {k: n / total for k, n in counts.items()},
            "missing": missing,
        }
    numbers = sorted(float(v) for v in present)
    edges: list[float] = []
    if numbers:
        for k in range(1, DECILES):
            edge = numbers[min(len(numbers) - 1, k * len(numbers) // DECILES)]
            if not edges or edge > edges[-1]:
                edges.append(edge)
    shares = _numeric_shares(numbers, edges, total=len(values))
    return {"kind": "numeric", "edges": edges, "shares": shares, "missing": missing}


def _numeric_shares(numbers: Sequence[float], edges: list[float], *, total: int) -> list[float]:
    counts = [0] * (len(edges) + 1)
    for value in numbers:
        counts[bisect.bisect_right(edges, value)] += 1
    return [c / (total or 1) for c in counts]


def psi(ref: dict[str, Any], values: Sequence[float | str | None]) -> float:
    """The index of recent ``values`` against a :func:`reference`; missing is a bin too."""
    if not values:
        return 0.0
    present = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    missing = (len(values) - len(present)) / len(values)
    pairs: list[tuple[float, float]] = [(ref["missing"], missing)]
    if ref["kind"] == "categorical":
        counts = Counter(str(v) for v in present)
        known = ref["shares"]
        for category, share in known.items():
            pairs.append((share, counts.pop(category, 0) / len(values)))
        pairs.append((0.0, sum(counts.values()) / len(values)))  # unseen categories
    else:
        numbers = [float(v) for v in present]
        now = _numeric_shares(numbers, ref["edges"], total=len(values))
        pairs.extend(zip(ref["shares"], now, strict=True))
    return sum(
        (max(q, FLOOR) - max(p, FLOOR)) * math.log(max(q, FLOOR) / max(p, FLOOR))
        for p, q in pairs
        if p > 0 or q > 0
    )


def verdict(index: float) -> str:
    if index > UNSTABLE:
        return "unstable"
    if index > WATCH:
        return "watch"
    return "stable"


def reference_of(
    rows: Sequence[dict[str, Any]],
    features: Sequence[tuple[str, bool]],
    scores: Sequence[float],
) -> dict[str, Any]:
    """The training sample's bins for each (feature, is categorical) and for the score."""
    return {
        "features": {
            name: reference([row.get(name) for row in rows], categorical=categorical)
            for name, categorical in features
        },
        "score": reference(list(scores), categorical=False),
    }


def training_reference(
    model: ScoringModel, rows: Sequence[Row], scorecard: Scorecard
) -> dict[str, Any]:
    """What drift is later measured against: the training rows' features and scores."""
    log_odds = model.calibrated_log_odds([model.vector(row) for row in rows])
    scores = scorecard.points_many(np.asarray(log_odds, dtype=np.float64))
    return reference_of(
        [dict(row) for row in rows],
        [(f.name, f.kind is Kind.CATEGORICAL) for f in model.features],
        [float(s) for s in scores.tolist()],
    )
