"""Scoring applications: PD, scorecard points, grade and reasons, one at a time or streamed.

Assumptions:

- The PD is the model's calibrated probability, ``sigmoid(a * raw + b)`` with ``raw``
  the booster's own prediction (``RawFormulaVal``), whether or not reasons are asked
  for: the same row gets the same PD, points and grade from ``assess`` and from
  ``assess_many``, with or without reasons. Points come from the calibrated log-odds
  ``a * raw + b`` directly (``Scorecard.points_for_log_odds``), so they stay exact for
  PDs too close to 0 or 1 to tell apart in a float.
- With an isotonic calibrator (``scoring.calibration``) the PD is the isotonic map of
  those log-odds and points come from its log-odds; reasons are the parts below,
  scaled per row so that they add up to the calibrated log-odds (see there).
- Reasons are SHAP values (``scoring.reasons``) scaled by the Platt slope ``a``, in
  calibrated log-odds; a blended model adds each feature's part in its logistic term
  (``scoring.linear``), so the parts of every feature, with the model's expected
  log-odds, add up to the log-odds the PD is the sigmoid of. A row's feature values
  are read the way ``ScoringModel.vector`` reads them: a row lacking one of the model's
  features is an error.
- One application is one ``Pool`` built from a plain list (no one-row data frame),
  predicted and, for reasons, placed in its leaves on one thread: waking CatBoost's
  thread pool costs more than scoring the row.
- A batch is column-oriented (``score_columns``): one array per feature goes into one
  ``Pool``, predicted on ``threads`` threads, and the PDs, points and grades come back
  as arrays, with no object per row; only reasons, when asked for, are per-row lists.
  Reasons of a batch are CatBoost's SHAP values of the whole matrix at once (the leaf
  tables of ``scoring.reasons``, one ``calc_leaf_indexes`` call for every row, equal
  to ``ShapValues`` of each row to 1e-9). ``assess_many`` streams rows of features
  through the same path in chunks (a chunk's rows read into columns, its assessments
  yielded before the next chunk is read), so memory holds one chunk whatever the size
  of the portfolio.
"""

from __future__ import annotations

import itertools
import operator
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, NamedTuple

import numpy as np
import pandas
from catboost import Pool
from numpy.typing import NDArray

from kernel import metrics
from scoring.calibration import rescale
from scoring.features import PLATFORM_WORDING
from scoring.model import ScoringModel
from scoring.reasons import Explainer, Phrasebook, Reason, Wording
from scoring.scorecard import MasterScale, Scorecard
from scoring.spec import MISSING_CATEGORY, FeatureSpec, Kind, Row

DEFAULT_CHUNK = 10_000


class Assessment(NamedTuple):
    """One row's assessment (a named tuple: streams of them are made by the million)."""

    pd: float
    score: int
    grade: str
    reasons: tuple[Reason, ...] = ()
    model_version: str | None = None


class Scores(NamedTuple):
    """A batch's assessments as columns, one entry per row, in the order scored."""

    pd: NDArray[np.float64]
    log_odds: NDArray[np.float64]  # calibrated: a * raw + b, or its isotonic map
    score: NDArray[np.int64]
    grade: NDArray[np.intp]  # index into ``grade_names``
    grade_names: tuple[str, ...]
    reasons: list[list[Reason]] | None = None

    def grades(self) -> list[str]:
        """The grades by name (a list of as many strings as rows)."""
        names = self.grade_names
        return [names[i] for i in self.grade.tolist()]


class Scorer:
    """Assesses rows of features with one model, scorecard and master scale.

    Cheap to create: what is costly to derive from a model (its SHAP leaf tables) is
    built on first use and shared by every Scorer of the same model object.
    """

    def __init__(
        self,
        model: ScoringModel,
        scorecard: Scorecard | None = None,
        master_scale: MasterScale | None = None,
        *,
        version: str | None = None,
        wording: Mapping[str, Wording] | None = None,
        threads: int = -1,
    ) -> None:
        self.model = model
        self.scorecard = scorecard or Scorecard()
        self.master_scale = master_scale or MasterScale()
        self.version = version
        self.threads = threads
        self._wording = PLATFORM_WORDING if wording is None else wording
        specs = model.features
        self._names = [f.name for f in specs]
        self._categorical = [i for i, f in enumerate(specs) if f.kind is Kind.CATEGORICAL]
        self._numeric_at = [i for i, f in enumerate(specs) if f.kind is Kind.NUMERIC]
        self._get_numbers = _getter([self._names[i] for i in self._numeric_at])
        self._get_labels = _getter([self._names[i] for i in self._categorical])

    def warm(self) -> Scorer:
        """Build the model's SHAP leaf tables now (a fraction of a second, once per
        model object), so that the first application scored does not wait for them."""
        _explained(self.model)
        return self

    # ------------------------------------------------------------------ one at a time

    def assess(self, row: Row, *, with_reasons: bool = True) -> Assessment:
        """One application, in-process; see the module doc."""
        started = time.perf_counter()
        vector = self.model.vector(row)
        pool = Pool([vector], cat_features=self._categorical, feature_names=self._names)
        raw = np.asarray(
            self.model.booster.predict(pool, prediction_type="RawFormulaVal", thread_count=1),
            dtype=np.float64,
        )
        columns = [[v] for v in vector]
        stacked = self._stacked(raw, columns)
        reasons = self._reasons(pool, columns, stacked, thread_count=1) if with_reasons else None
        scores = self._scores(stacked, reasons, mode="single", started=started)
        return Assessment(
            float(scores.pd[0]),
            int(scores.score[0]),
            scores.grade_names[int(scores.grade[0])],
            tuple(reasons[0]) if reasons is not None else (),
            self.version,
        )

    # ---------------------------------------------------------------------- streaming

    def assess_many(
        self, rows: Iterable[Row], *, chunk: int = DEFAULT_CHUNK, with_reasons: bool = False
    ) -> Iterator[Assessment]:
        """Assessments in the order of ``rows``, reading ``chunk`` rows at a time."""
        if chunk < 1:
            raise ValueError(f"chunk must be positive, got {chunk}")
        source = iter(rows)
        while part := list(islice(source, chunk)):
            scores = self.score_columns(self.columns(part), with_reasons=with_reasons)
            reasons: Iterable[tuple[Reason, ...]] = (
                map(tuple, scores.reasons)
                if scores.reasons is not None
                else itertools.repeat((), len(part))
            )
            yield from map(
                Assessment,
                scores.pd.tolist(),
                scores.score.tolist(),
                scores.grades(),
                reasons,
                itertools.repeat(self.version),
            )

    # ------------------------------------------------------------------------ columns

    def score_columns(self, columns: Mapping[str, Any], *, with_reasons: bool = False) -> Scores:
        """A whole batch given as columns, by feature name (a DataFrame will do).

        Numbers are floats with NaN (or None) for unknown; categories are labels, None or
        ``MISSING_CATEGORY`` for unknown; further columns are ignored. Every row gets
        what ``assess`` gives it alone.
        """
        started = time.perf_counter()
        ordered = self._ordered(columns)
        pool = self._pool(ordered)
        raw = np.asarray(
            self.model.booster.predict(
                pool, prediction_type="RawFormulaVal", thread_count=self.threads
            ),
            dtype=np.float64,
        )
        stacked = self._stacked(raw, ordered)
        reasons = (
            self._reasons(pool, ordered, stacked, thread_count=self.threads)
            if with_reasons
            else None
        )
        return self._scores(stacked, reasons, mode="batch", started=started)

    def columns(self, rows: Sequence[Row]) -> dict[str, Any]:
        """Rows of features as the columns ``score_columns`` reads, missing values as
        ``ScoringModel.vector`` has them.

        Rows are read row by row (each row's mapping stays in cache), the numbers
        straight into one float matrix (None becomes NaN); that is three times faster
        than reading a column at a time.
        """
        try:
            numbers = np.array(list(map(self._get_numbers, rows)), dtype=np.float64)
            labels = list(map(self._get_labels, rows))
        except KeyError:
            for row in rows:
                self.model.vector(row)  # raises, naming the missing feature
            raise
        # Each column contiguous: CatBoost reads them faster.
        numbers = np.ascontiguousarray(numbers.reshape(len(rows), len(self._numeric_at)).T)
        by_feature: list[Any] = [None] * len(self._names)
        for j, f in enumerate(self._numeric_at):
            by_feature[f] = numbers[j]
        for f, values in zip(
            self._categorical, _transposed(labels, len(self._categorical)), strict=True
        ):
            by_feature[f] = values
        return dict(zip(self._names, by_feature, strict=True))  # in the model's order

    # ----------------------------------------------------------------------- helpers

    def _stacked(self, raw: NDArray[np.float64], columns: Sequence[Any]) -> NDArray[np.float64]:
        """The log-odds before an isotonic map: ``a * raw + b`` (plus a blend's part)."""
        a, b = self.model.calibration
        log_odds: NDArray[np.float64] = a * raw + b
        if self.model.linear is not None:
            log_odds = log_odds + self.model.linear.logit(columns)
        return log_odds

    def _scores(
        self,
        stacked: NDArray[np.float64],
        reasons: list[list[Reason]] | None,
        *,
        mode: str,
        started: float,
    ) -> Scores:
        log_odds = self.model.calibrate(stacked)
        pds = np.exp(-np.logaddexp(0.0, -log_odds))  # sigmoid, finite for any log-odds
        points = self.scorecard.points_many(log_odds)
        grades = self.master_scale.grade_index(pds)
        names = self.master_scale.names
        counts = np.bincount(grades, minlength=len(names)).tolist()
        metrics.scored(mode, dict(zip(names, counts, strict=True)), time.perf_counter() - started)
        return Scores(pds, log_odds, points, grades, names, reasons)

    def _reasons(
        self,
        pool: Pool,
        columns: Sequence[Sequence[Any]],
        stacked: NDArray[np.float64],
        *,
        thread_count: int,
    ) -> list[list[Reason]]:
        explained = _explained(self.model)
        return explained.phrasebook(self._wording).reasons(
            columns, self.impacts(pool, columns, thread_count=thread_count, stacked=stacked)
        )

    def impacts(
        self,
        pool: Pool,
        columns: Sequence[Sequence[Any]],
        *,
        thread_count: int = 1,
        stacked: NDArray[np.float64] | None = None,
    ) -> NDArray[np.float64]:
        """Each feature's part (rows, features) in the calibrated log-odds of each row:
        the booster's SHAP values times the Platt slope, plus the logistic part's; with
        an isotonic calibrator, scaled per row to add up to the calibrated log-odds
        (``scoring.calibration.rescale``). ``stacked``: the rows' log-odds before the
        isotonic map, when the caller has them."""
        shap = _explained(self.model).explainer.shap(pool, thread_count=thread_count)
        parts: NDArray[np.float64] = self.model.calibration[0] * shap
        if self.model.linear is not None:
            parts = parts + self.model.linear.contributions(columns)
        if self.model.isotonic is None:
            return parts
        if stacked is None:
            raw = self.model.booster.predict(
                pool, prediction_type="RawFormulaVal", thread_count=thread_count
            )
            stacked = self._stacked(np.asarray(raw, dtype=np.float64), columns)
        return rescale(parts, stacked, self.model.calibrate)

    def _ordered(self, columns: Mapping[str, Any]) -> list[Any]:
        """The model's features in its order: numbers as contiguous float arrays,
        categories as lists of labels with ``MISSING_CATEGORY`` for unknown."""
        try:
            given = [columns[name] for name in self._names]
        except KeyError as exc:
            raise KeyError(f"columns have no feature {exc.args[0]!r}") from None
        lengths = {len(c) for c in given}
        if len(lengths) > 1:
            raise ValueError(f"columns of different lengths: {sorted(lengths)}")
        out: list[Any] = list(given)
        for f in self._numeric_at:  # NumPy reads None as NaN, as ``vector`` has it
            out[f] = np.ascontiguousarray(given[f], dtype=np.float64)
        for f in self._categorical:
            out[f] = _labels(given[f])
        return out

    def _pool(self, columns: Sequence[Any]) -> Pool:
        frame = pandas.DataFrame(dict(zip(self._names, columns, strict=True)), copy=False)
        return Pool(frame, cat_features=self._categorical)


def _getter(names: Sequence[str]) -> Callable[[Row], tuple[Any, ...]]:
    """A row's values of ``names``, always as a tuple (itemgetter gives one name bare)."""
    if not names:
        return lambda row: ()
    get = operator.itemgetter(*names)
    if len(names) == 1:
        return lambda row: (get(row),)
    return get


def _labels(values: Any) -> NDArray[np.object_]:
    """A column of category labels as ``ScoringModel.vector`` reads a label: unknown
    (None, or a data frame's NA) is ``MISSING_CATEGORY``, anything else its ``str``.
    Element-wise work only where a column holds something other than labels."""
    if isinstance(values, pandas.Series):
        values = values.to_numpy(dtype=object)
    labels: NDArray[np.object_] = np.asarray(values, dtype=object)
    missing = pandas.isna(labels)
    if missing.any():
        labels = np.where(missing, MISSING_CATEGORY, labels)
    if pandas.api.types.infer_dtype(labels, skipna=False) != "string":
        labels = np.array([str(v) for v in labels.tolist()], dtype=object)
    return labels


def _transposed(rows: Sequence[tuple[Any, ...]], width: int) -> list[tuple[Any, ...]]:
    return list(zip(*rows, strict=True)) if rows else [() for _ in range(width)]


@dataclass
class _Explained:
    explainer: Explainer
    books: dict[int, tuple[Mapping[str, Wording], Phrasebook]] = field(default_factory=dict)
    specs: tuple[FeatureSpec, ...] = ()

    def phrasebook(self, wording: Mapping[str, Wording]) -> Phrasebook:
        found = self.books.get(id(wording))
        if found is None or found[0] is not wording:
            found = self.books[id(wording)] = (wording, Phrasebook(self.specs, wording))
        return found[1]


# SHAP tables per live model object: built once, dropped with the model.
_EXPLAINED: dict[int, tuple[weakref.ref[ScoringModel], _Explained]] = {}
_LOCK = threading.Lock()


def _explained(model: ScoringModel) -> _Explained:
    key = id(model)
    with _LOCK:
        entry = _EXPLAINED.get(key)
        if entry is not None and entry[0]() is model:
            return entry[1]
        built = _Explained(
            explainer=Explainer.for_model(model.booster, len(model.features)),
            specs=model.features,
        )
        _EXPLAINED[key] = (weakref.ref(model, lambda _: _EXPLAINED.pop(key, None)), built)
        return built
