"""Reason codes: which features raised an applicant's risk, by how much, in plain words.

Assumptions:

- A feature's part in one prediction is its SHAP value: CatBoost's
  ``get_feature_importance(type="ShapValues")`` with its default (``Regular``) algorithm,
  path-dependent TreeSHAP, which weighs the branches a row did not take by the share of
  training rows that went each way. Parts add up with the expected value to the
  booster's raw log-odds of default; times the Platt slope ``a`` they add up to the
  calibrated log-odds, which is the ``impact`` a reason reports. Only parts that raised
  the risk (positive) are reasons; the four largest are given, strongest first.
- CatBoost computes those values per row, walking every tree: milliseconds for one
  application (a third of a second for a monotone model, whose leaf weights it
  recounts) and about ten thousand rows a second at best, too slow for scoring.
  In a symmetric (oblivious) tree a row's SHAP values depend only on the leaf it falls
  in, because every split a row meets on the way is decided by the leaf's index bits.
  ``Explainer`` therefore computes, once per model, the exact Shapley values of every
  leaf of every tree (at most 2^depth leaves, and at most depth players per tree, so
  the 2^players coalitions are enumerated outright), and a row's SHAP values are the
  sum over trees of its leaves' entries. CatBoost itself tells which leaf a row falls
  in (``calc_leaf_indexes``), so quantisation, missing values, one-hot and CTR
  features are CatBoost's own; this module never re-implements a split.
- The value function is CatBoost's, reproduced exactly: the tree is traversed from its
  last split to its first (CatBoost's order; path-dependent values depend on it); a
  split on a CTR of several categorical features is one player whose value is shared
  equally among those features (CatBoost's "combination classes"); a feature met at
  several depths is one player; a node no training row reached is never entered.
- Each row is explained on its own, as CatBoost explains a one-row pool, so a row's
  reasons never depend on which other rows share its batch. That matters for models
  with monotone constraints: they give leaves no training row reached a value, and
  CatBoost then adds the explained rows to the leaf weights (``adds_own_weight``), a
  row alone adding 1 to each of its leaves; the tables hold, per leaf, the values
  computed with that leaf's extra weight, so the parts still add up to the prediction.
- ``Explainer.for_model`` checks the tables against ``ShapValues`` on probe rows and
  falls back to CatBoost's own computation (slow, but right) if they ever disagree,
  e.g. after a CatBoost upgrade changes the JSON layout. The tests check agreement to
  1e-9 on models with and without monotone constraints, CTRs and missing values.
- Sentences come from the feature's label, its value and its declared direction:
  "debt-to-asset ratio 0.82 is high" (monotone +1), "interest coverage 1.3 is low"
  (monotone -1), "term of 36 months adds to the risk" (no declared direction: the model
  may have learnt either way), "industry construction carries more risk"; a missing
  value says what is missing. Reasons with the same sentence (several ratios missing
  for want of a statement) are one reason, their impacts added.
"""

from __future__ import annotations

import enum
import json
import logging
import math
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
from catboost import CatBoost, Pool
from numpy.typing import NDArray

from scoring.spec import MISSING_CATEGORY, FeatureSpec, Kind

log = logging.getLogger(__name__)

TOP_REASONS = 4
# Smaller parts (in calibrated log-odds) are noise, not reasons: 1e-4 moves a PD of
# 5% by less than 0.0005 percentage points.
MIN_IMPACT = 1e-4
AGREEMENT = 1e-9  # tables against CatBoost's ShapValues, in raw log-odds
PROBE_ROWS = 8

FloatArray = NDArray[np.float64]
Reason = dict[str, Any]  # {"feature": str, "impact": float, "text": str}


# ------------------------------------------------------------------------ sentences


class Unit(enum.Enum):
    """How a feature's value is written in a sentence."""

    PLAIN = "plain"  # 0.823, 12.5, 5,951
    RATIO = "ratio"  # 0.82
    PERCENT = "percent"  # 12.5%
    TIMES = "times"  # 1.3
    YEARS = "years"  # 2.4 years
    MONTHS = "months"  # 36 months
    DAYS = "days"  # 45 days
    COUNT = "count"  # 3
    AMOUNT = "amount"  # 1,250,000
    FLAG = "flag"  # 1 yes, 0 no


@dataclass(frozen=True, slots=True)
class Wording:
    """How reasons speak of one feature; every field has a default built from the label."""

    unit: Unit = Unit.PLAIN
    missing: str = ""  # the value is unknown; default "{label} unknown"
    template: str = ""  # any known value, with {label} and {value}; default by direction
    yes: str = ""  # flags set; default "{label} adds to the risk"
    no: str = ""  # flags clear; default "no {label}"


_FORMATS: Mapping[Unit, Callable[[float], str]] = {
    Unit.RATIO: lambda v: format(v, ".2f"),
    Unit.PERCENT: lambda v: format(v, ".1%"),
    Unit.TIMES: lambda v: format(v, ".1f"),
    Unit.YEARS: lambda v: format(v, ".1f") + " years",
    Unit.MONTHS: lambda v: format(v, ".0f") + " months",
    Unit.DAYS: lambda v: format(v, ".0f") + " days",
    Unit.COUNT: lambda v: format(v, ",.0f"),
    Unit.AMOUNT: lambda v: format(v, ",.0f"),
    Unit.FLAG: lambda v: "yes" if v else "no",
    Unit.PLAIN: lambda v: format(v, ",.0f") if abs(v) >= 1000 or v == int(v) else format(v, ".3g"),
}


def written(value: float, unit: Unit) -> str:
    """A feature value as a sentence shows it: 0.82, 12.5%, 36 months..."""
    return _FORMATS[unit](value)


def sentence(spec: FeatureSpec, value: object, wording: Wording | None = None) -> str:
    """Why ``value`` of this feature raised the risk, in a few plain words."""
    return speaker(spec, wording)(value)


def speaker(spec: FeatureSpec, wording: Wording | None = None) -> Callable[[object], str]:
    """``sentence`` for one feature, with what does not depend on the value decided once."""
    w = wording or Wording()
    label = spec.wording
    missing = w.missing or f"{label} unknown"
    if spec.kind is Kind.CATEGORICAL:
        template = w.template or "{label} {value} carries more risk"
        said: dict[object, str] = {}  # a feature has few categories: each written once

        def categorical(value: object) -> str:
            if value is None or value == MISSING_CATEGORY:
                return missing
            text = said.get(value)
            if text is None:
                shown = str(value).replace("_", " ")
                text = said[value] = template.format(label=label, value=shown)
            return text

        return categorical
    if w.unit is Unit.FLAG:
        yes = w.yes or f"{label} adds to the risk"
        no = w.no or f"no {label}"

        def flag(value: object) -> str:
            number = _number(value)
            return missing if number is None else yes if number else no

        return flag
    if w.template:
        template = w.template
    elif spec.monotone > 0:
        template = "{label} {value} is high"
    elif spec.monotone < 0:
        template = "{label} {value} is low"
    else:
        template = "{label} of {value} adds to the risk"
    # The template with the label in: a prefix and a suffix around the value.
    before, _, after = template.replace("{label}", label).partition("{value}")
    shown = _FORMATS[w.unit]

    def numeric(value: object) -> str:
        number = _number(value)
        if number is None:
            return missing
        return before + shown(number) + after

    return numeric


class Phrasebook:
    """Turns SHAP values of a batch of rows into reasons; built once per model.

    Sentences that do not depend on the value (a missing value, a flag set or clear)
    are fixed per feature; features that share one are a single reason, their parts
    added. The merging and the ranking are array operations over the whole batch, so
    only the (at most four) sentences kept per row are ever written.
    """

    def __init__(self, specs: Sequence[FeatureSpec], wording: Mapping[str, Wording]) -> None:
        self.specs = tuple(specs)
        self.names = [s.name for s in self.specs]
        words = [wording.get(s.name) for s in self.specs]
        self.speakers = [speaker(s, w) for s, w in zip(self.specs, words, strict=True)]
        n = len(self.specs)
        fixed: dict[str, int] = {}

        def key(text: str) -> int:
            return n + fixed.setdefault(text, len(fixed))

        self.missing_key = [key(say(None)) for say in self.speakers]
        self.flag_keys: dict[int, tuple[int, int]] = {
            f: (key(self.speakers[f](1.0)), key(self.speakers[f](0.0)))
            for f, (s, w) in enumerate(zip(self.specs, words, strict=True))
            if w is not None and w.unit is Unit.FLAG and s.kind is Kind.NUMERIC
        }
        self.fixed = list(fixed)
        said_by: dict[int, set[int]] = {}
        for f, k in enumerate(self.missing_key):
            said_by.setdefault(k, set()).add(f)
        for f, pair in self.flag_keys.items():
            for k in pair:
                said_by.setdefault(k, set()).add(f)
        self.shared = [k for k, fs in said_by.items() if len(fs) > 1]
        self.owner = {k: min(fs) for k, fs in said_by.items()}

    def reasons(
        self, columns: Sequence[Sequence[Any]], impacts: FloatArray, *, top: int = TOP_REASONS
    ) -> list[list[Reason]]:
        """Per row, its ``top`` largest risk-raising reasons, strongest first.

        ``columns`` holds each feature's values for the batch (numbers as floats with
        NaN or None for missing, categories as labels, ``MISSING_CATEGORY`` or None);
        ``impacts`` (rows, features) is in calibrated log-odds.
        """
        n, features = impacts.shape
        width = features + len(self.fixed)
        keys = np.empty(impacts.shape, dtype=np.int64)
        for f, spec in enumerate(self.specs):
            if spec.kind is Kind.CATEGORICAL:
                labels = np.asarray(columns[f], dtype=object)
                missing = labels == MISSING_CATEGORY
                if None in labels.tolist():
                    missing |= np.array([v is None for v in labels.tolist()], dtype=bool)
                keys[:, f] = np.where(missing, self.missing_key[f], f)
                continue
            values = np.asarray(columns[f], dtype=np.float64)
            otherwise: Any = f
            if f in self.flag_keys:
                yes, no = self.flag_keys[f]
                otherwise = np.where(values != 0.0, yes, no)
            keys[:, f] = np.where(np.isnan(values), self.missing_key[f], otherwise)
        raising = np.where(impacts > 0.0, impacts, 0.0)
        flat = (np.arange(n, dtype=np.int64)[:, None] * width + keys).ravel()
        merged = np.bincount(flat, weights=raising.ravel(), minlength=n * width)
        merged = merged.reshape(n, width)
        # The feature a fixed sentence is filed under: its largest part in the row (the
        # only one, for a sentence no other feature can say).
        strongest = {
            k: np.argmax(np.where(keys == k, raising, -1.0), axis=1).tolist() for k in self.shared
        }
        top = min(top, width)
        picked = np.argpartition(-merged, top - 1, axis=1)[:, :top]
        strength = np.take_along_axis(merged, picked, axis=1)
        order = np.lexsort((picked, -strength), axis=1)  # strongest first, ties by key
        picked = np.take_along_axis(picked, order, axis=1)
        strength = np.take_along_axis(strength, order, axis=1)
        kept = (strength >= MIN_IMPACT).sum(axis=1).tolist()
        shown = np.round(strength, 4).tolist()
        chosen = picked.tolist()
        values_of = [c.tolist() if isinstance(c, np.ndarray) else c for c in columns]
        names, speakers, fixed = self.names, self.speakers, self.fixed
        out: list[list[Reason]] = []
        for row in range(n):
            found: list[Reason] = []
            for k, amount in zip(chosen[row][: kept[row]], shown[row], strict=False):
                if k < features:
                    found.append(
                        {
                            "feature": names[k],
                            "impact": amount,
                            "text": speakers[k](values_of[k][row]),
                        }
                    )
                else:
                    member = strongest[k][row] if k in strongest else self.owner[k]
                    found.append(
                        {"feature": names[member], "impact": amount, "text": fixed[k - features]}
                    )
            out.append(found)
        return out


def _number(value: object) -> float | None:
    if type(value) is float:  # the usual case, first
        return None if value != value else value
    if value is None or isinstance(value, str):
        return None
    number = float(value)  # type: ignore[arg-type]
    return None if math.isnan(number) else number


# ----------------------------------------------------------------------- SHAP values


class Explainer:
    """SHAP values of a CatBoost model, in raw log-odds, each row explained on its own."""

    n_features: int

    def explain(self, pool: Pool, *, thread_count: int = 1) -> tuple[FloatArray, FloatArray]:
        """(what the values add up to (n,), SHAP values (n, n_features)) of each row."""
        raise NotImplementedError

    def shap(self, pool: Pool, *, thread_count: int = 1) -> FloatArray:
        """SHAP values (n, n_features) of each row."""
        return self.explain(pool, thread_count=thread_count)[1]

    @staticmethod
    def for_model(booster: CatBoost, n_features: int) -> Explainer:
        """Leaf tables when they reproduce CatBoost on probe rows, CatBoost's own else."""
        native = NativeExplainer(booster, n_features)
        try:
            tables = LeafTables.build(booster, n_features)
            # CatBoost explaining rows one by one is slow (a third of a second each):
            # fewer probes then; a misread model shows on any row.
            probes = _probe_pool(booster, n_features, rows=2 if native.alone else PROBE_ROWS)
            mine = tables.explain(probes)
            theirs = native.explain(probes)
            gap = max(
                float(np.max(np.abs(a - b), initial=0.0)) for a, b in zip(mine, theirs, strict=True)
            )
            if gap > AGREEMENT:
                raise ValueError(f"leaf tables differ from CatBoost's ShapValues by {gap:.3g}")
        except ValueError as exc:
            log.warning("reason codes fall back to CatBoost's own SHAP (slow): %s", exc)
            return native
        return tables


class NativeExplainer(Explainer):
    """CatBoost's own ``ShapValues``: right for any model, slow (milliseconds a row)."""

    def __init__(self, booster: CatBoost, n_features: int) -> None:
        self.booster = booster
        self.n_features = n_features
        self.alone = adds_own_weight(booster)

    def explain(self, pool: Pool, *, thread_count: int = 1) -> tuple[FloatArray, FloatArray]:
        parts = (
            [pool.slice([i]) for i in range(pool.num_row())] if self.alone else [pool]
        )  # a pool's own rows weigh in otherwise, see adds_own_weight
        shap = np.concatenate(
            [
                np.asarray(
                    self.booster.get_feature_importance(
                        part, type="ShapValues", shap_mode="NoPreCalc", thread_count=thread_count
                    ),
                    dtype=np.float64,
                )
                for part in parts
            ]
        )
        return shap.sum(axis=1), shap[:, : self.n_features]


class LeafTables(Explainer):
    """Exact TreeSHAP of every leaf of a model of symmetric trees, looked up per row."""

    def __init__(self, booster: CatBoost, n_features: int, tables: Sequence[FloatArray]) -> None:
        """``tables``: per tree, (leaves, n_features + 1), the last column the tree's
        expected value (scale and bias included) that the row's values add up from."""
        self.booster = booster
        self.n_features = n_features
        sizes = [len(t) for t in tables]
        self.offsets = np.cumsum([0, *sizes[:-1]], dtype=np.int64)
        # One row per (tree, leaf): one application is a gather of a row per tree.
        self.dense = np.concatenate(tables) if tables else np.zeros((0, n_features + 1))
        # Batches go feature by feature over the trees that use the feature, so the
        # work is rows x (tree, feature) pairs rather than rows x trees x features.
        self.uses: list[list[tuple[int, FloatArray]]] = [[] for _ in range(n_features + 1)]
        for tree, table in enumerate(tables):
            for column in np.flatnonzero(np.any(table != 0.0, axis=0)):
                self.uses[int(column)].append((tree, np.ascontiguousarray(table[:, column])))

    @classmethod
    def build(cls, booster: CatBoost, n_features: int) -> LeafTables:
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "model.json"
            booster.save_model(str(path), format="json")
            model = json.loads(path.read_text(encoding="utf-8"))
        return cls(booster, n_features, leaf_shap_tables(model, n_features))

    def explain(self, pool: Pool, *, thread_count: int = 1) -> tuple[FloatArray, FloatArray]:
        leaves = np.asarray(self.booster.calc_leaf_indexes(pool, thread_count=thread_count))
        values = self.lookup(leaves, with_expected=True)
        return values.sum(axis=1), values[:, : self.n_features]

    def shap(self, pool: Pool, *, thread_count: int = 1) -> FloatArray:
        leaves = np.asarray(self.booster.calc_leaf_indexes(pool, thread_count=thread_count))
        return self.lookup(leaves)

    def lookup(self, leaves: NDArray[Any], *, with_expected: bool = False) -> FloatArray:
        """SHAP values (n, n_features) of rows that fall in ``leaves`` (n, trees); with
        the expected value as one more column when asked."""
        n, width = leaves.shape[0], self.n_features + int(with_expected)
        if n <= 8:
            picked = self.dense[leaves.astype(np.int64) + self.offsets, :width]  # (n, T, w)
            small: FloatArray = picked.sum(axis=1)
            return small
        by_tree = np.ascontiguousarray(leaves.T)  # each tree's leaves contiguous
        out = np.zeros((width, n))
        for column, uses in enumerate(self.uses[:width]):
            total = out[column]
            for tree, values in uses:
                total += values[by_tree[tree]]
        return out.T


def adds_own_weight(booster: CatBoost) -> bool:
    """Whether CatBoost's ShapValues count the explained rows into the leaf weights.

    It does when a leaf no training row reached has a value (monotone constraints give
    them one), so that a row landing there is explained rather than dropped. A row
    explained on its own then adds 1 to the weight of each of its leaves.
    """
    values = np.abs(np.asarray(booster.get_leaf_values(), dtype=np.float64))
    weights = np.asarray(booster.get_leaf_weights(), dtype=np.float64)
    return bool(np.any((weights == 0.0) & (values >= 1e-9)))


def leaf_shap_tables(model: Mapping[str, Any], n_features: int) -> list[FloatArray]:
    """Per tree, a (leaves, n_features + 1) table: each leaf's SHAP values, and the
    tree's expected value in the last column (the model's bias is in the first tree's).

    ``model`` is CatBoost's JSON export of a single-dimension model of symmetric trees.
    """
    if "oblivious_trees" not in model:
        raise ValueError("only symmetric (oblivious) trees are tabulated")
    players_of = _split_players(model)
    scale, bias = model["scale_and_bias"]
    own_weight = any(
        w == 0 and abs(v) >= 1e-9
        for tree in model["oblivious_trees"]
        for v, w in zip(tree["leaf_values"], tree.get("leaf_weights") or [], strict=False)
    )
    tables: list[FloatArray] = []
    # Trees of one pattern (which of its players each level splits on) go together.
    patterns: dict[tuple[int, ...], list[tuple[int, list[tuple[int, ...]]]]] = {}
    for index, tree in enumerate(model["oblivious_trees"]):
        splits = tree.get("splits") or []
        if tree.get("leaf_weights") is None:
            raise ValueError("the model has no leaf weights")
        if len(tree["leaf_values"]) != 1 << len(splits):
            raise ValueError("only single-dimension models are tabulated")
        # Axis a of the (2,)*d leaf array is split d-1-a: CatBoost's traversal order.
        by_axis = [players_of(s) for s in reversed(splits)]
        players = list(dict.fromkeys(by_axis))
        pattern = tuple(players.index(p) for p in by_axis)
        patterns.setdefault(pattern, []).append((index, players))
        tables.append(np.zeros((1 << len(splits), n_features + 1)))
    for pattern, members in patterns.items():
        trees = [model["oblivious_trees"][i] for i, _ in members]
        values = scale * np.array([t["leaf_values"] for t in trees], dtype=np.float64)
        weights = np.array([t["leaf_weights"] for t in trees], dtype=np.float64)
        mean, phi = _shapley(values, weights, pattern, own_weight=own_weight)
        for k, (i, players) in enumerate(members):
            tables[i][:, n_features] = mean[k]
            for player, features in enumerate(players):
                for feature in features:
                    if feature >= n_features:
                        raise ValueError(f"feature {feature} beyond the {n_features} expected")
                    tables[i][:, feature] += phi[k, player] / len(features)
    if tables:
        tables[0][:, n_features] += float(bias[0] if isinstance(bias, list) else bias)
    return tables


def _shapley(
    values: FloatArray, weights: FloatArray, owner: tuple[int, ...], *, own_weight: bool
) -> tuple[FloatArray, FloatArray]:
    """Expected values (g, leaves) and Shapley values (g, players, leaves) of g trees
    of one pattern, for a row in each leaf.

    ``owner[a]`` is the player that axis ``a`` of the (2,)*depth leaf array splits on,
    axis 0 being the first split traversed. v(S) at a leaf follows the leaf's branch
    where the split's player is in S and otherwise weighs both branches by their share
    of the training weight at that node. With ``own_weight`` the row itself weighs 1
    in its leaf (see ``adds_own_weight``), so each leaf has weights of its own.
    """
    g, leaves = values.shape
    if own_weight:  # one variant of each tree per leaf the row may be in
        values = np.repeat(values, leaves, axis=0)
        weights = (weights[:, None, :] + np.eye(leaves)).reshape(g * leaves, leaves)
    mean, phi = _shapley_by_weights(values, weights, owner)
    if not own_weight:
        return np.repeat(mean[:, None], leaves, axis=1), phi
    diagonal = np.arange(leaves)
    per_leaf = phi.reshape(g, leaves, -1, leaves)[:, diagonal, :, diagonal]  # (L, g, k)
    return mean.reshape(g, leaves), np.transpose(per_leaf, (1, 2, 0))


def _shapley_by_weights(
    values: FloatArray, weights: FloatArray, owner: tuple[int, ...]
) -> tuple[FloatArray, FloatArray]:
    g, depth = values.shape[0], len(owner)
    if depth == 0:
        return values[:, 0], np.zeros((g, 0, 1))
    # CatBoost's TreeSHAP never enters a node no row reached, which counts the leaves
    # below it as 0 (monotone constraints can give them a value).
    values = np.where(weights > 0.0, values, 0.0)
    k = max(owner) + 1
    full = (g,) + (2,) * depth
    v, w = values.reshape(full), weights.reshape(full)
    # cover[j]: the weight of the node a leaf's path reaches after j splits.
    cover = [w.sum(axis=tuple(range(1 + j, 1 + depth)), keepdims=True) for j in range(depth)]
    cover.append(w)
    share = [
        np.divide(cover[j + 1], cover[j], out=np.zeros(cover[j + 1].shape), where=cover[j] > 0)
        for j in range(depth)
    ]
    value_of = np.empty((1 << k, g, 1 << depth))
    for coalition in range(1 << k):
        free = [a for a in range(depth) if not coalition >> owner[a] & 1]
        m = v
        for a in free:
            m = m * share[a]
        if free:
            m = m.sum(axis=tuple(1 + a for a in free), keepdims=True)
        value_of[coalition] = np.broadcast_to(m, full).reshape(g, -1)
    weight = [math.factorial(s) * math.factorial(k - s - 1) / math.factorial(k) for s in range(k)]
    phi = np.zeros((g, k, 1 << depth))
    for p in range(k):
        others = [q for q in range(k) if q != p]
        for size in range(k):
            for members in combinations(others, size):
                coalition = sum(1 << q for q in members)
                phi[:, p] += weight[size] * (value_of[coalition | 1 << p] - value_of[coalition])
    return value_of[0][:, 0], phi


def _split_players(model: Mapping[str, Any]) -> Any:
    """A function from a JSON split to its player: the flat indexes of its features."""
    info = model["features_info"]
    floats = info.get("float_features") or []
    float_flat = {f["feature_index"]: f["flat_feature_index"] for f in floats}
    cat_flat = {
        f["feature_index"]: f["flat_feature_index"] for f in info.get("categorical_features") or []
    }
    if info.get("text_features") or info.get("embedding_features"):
        raise ValueError("text and embedding features are not tabulated")
    one_hot = {
        (s["cat_feature_index"], s["value"])
        for tree in model["oblivious_trees"]
        for s in tree.get("splits") or []
        if s["split_type"] == "OneHotFeature"
    }
    # Binary features are numbered floats' borders first, one-hot values, then CTRs'
    # borders in the order of ``features_info.ctrs``.
    start = sum(len(f.get("borders") or []) for f in floats) + len(one_hot)
    ctr_starts: list[int] = []
    ctr_players: list[tuple[int, ...]] = []
    for ctr in info.get("ctrs") or []:
        ctr_starts.append(start)
        start += len(ctr["borders"])
        cats = [e for e in ctr["elements"] if e["combination_element"] == "cat_feature_value"]
        ctr_players.append(tuple(sorted(cat_flat[e["cat_feature_index"]] for e in cats)))

    def players_of(split: Mapping[str, Any]) -> tuple[int, ...]:
        kind = split["split_type"]
        if kind == "FloatFeature":
            return (float_flat[split["float_feature_index"]],)
        if kind == "OneHotFeature":
            return (cat_flat[split["cat_feature_index"]],)
        if kind == "OnlineCtr":
            at = int(np.searchsorted(ctr_starts, split["split_index"], side="right")) - 1
            if at < 0 or split["split_index"] >= start:
                raise ValueError(f"CTR split {split['split_index']} outside the model's CTRs")
            return ctr_players[at]
        raise ValueError(f"split type {kind} is not tabulated")

    return players_of


def _probe_pool(booster: CatBoost, n_features: int, *, rows: int = PROBE_ROWS) -> Pool:
    """Rows that take many paths through the trees: values either side of the model's
    borders, missing values, and categories unseen or missing."""
    rng = np.random.default_rng(0)
    categorical = set(booster.get_cat_feature_indices())
    borders = booster.get_borders()
    probes: list[list[float | str]] = []
    for r in range(rows):
        row: list[float | str] = []
        for f in range(n_features):
            if f in categorical:
                row.append(MISSING_CATEGORY if r % 3 == 0 else f"probe-{rng.integers(4)}")
                continue
            cuts = borders.get(f) or [0.0]
            if r == 0:
                row.append(math.nan)
            else:
                cut = float(cuts[int(rng.integers(len(cuts)))])
                row.append(cut + float(rng.choice([-1e-3, 1e-3])) * max(1.0, abs(cut)))
        probes.append(row)
    return Pool(
        probes, cat_features=sorted(categorical), feature_names=list(booster.feature_names_)
    )
