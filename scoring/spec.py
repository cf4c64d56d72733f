"""What a scoring model reads: named features, their kind, and what is known of their effect.

A feature's ``monotone`` direction says how the probability of default may move as the
feature rises: +1 only up, -1 only down, 0 unconstrained. Training turns the known
directions into CatBoost monotone constraints, so a model can never learn, say, that
covering interest more times over makes default likelier.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass


class Kind(enum.Enum):
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    name: str
    kind: Kind
    monotone: int = 0
    label: str = ""  # how a reason names it: "debt-to-asset ratio"

    def __post_init__(self) -> None:
        if self.monotone not in (-1, 0, 1):
            raise ValueError(f"monotone must be -1, 0 or 1, got {self.monotone}")
        if self.kind is Kind.CATEGORICAL and self.monotone:
            raise ValueError(f"{self.name}: a categorical feature has no direction")

    @property
    def wording(self) -> str:
        return self.label or self.name.replace("_", " ")


# One row of features: numbers (None when unknown) and category labels (None when unknown).
Row = Mapping[str, float | int | str | None]
MISSING_CATEGORY = "missing"
