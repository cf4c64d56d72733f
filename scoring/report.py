"""A model's validation report: one self-contained HTML page that opens offline.

Every chart is computed from the out-of-fold predictions of the cross-validation
(each loan scored by a model that never saw it), so the page shows how the model
does on loans it has not learnt from, not how well it remembers its training data.
The data behind each chart comes from a plain function here, tested on its own;
matplotlib only draws it (as inline SVG). Beside the decile calibration chart, the
reliability table bins the same PDs the way the ECE does (ten equal-width bins), so
the ECE shown can be checked from it; the page names the calibrator the model serves.
"""

from __future__ import annotations

import html
import io
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no screen: draw to memory
from matplotlib import pyplot as plt

from scoring.calibration import reliability


@dataclass(frozen=True, slots=True)
class GradeLine:
    grade: str
    loans: int
    defaults: int

    @property
    def default_rate(self) -> float:
        return self.defaults / self.loans if self.loans else 0.0


def roc_points(labels: Sequence[int], pds: Sequence[float]) -> list[tuple[float, float]]:
    """(false positive rate, true positive rate) at every distinct threshold, from (0, 0)."""
    bad = sum(labels)
    good = len(labels) - bad
    if not bad or not good:
        raise ValueError("a ROC curve needs both outcomes")
    ranked = sorted(zip(pds, labels, strict=True), key=lambda pair: -pair[0])
    points = [(0.0, 0.0)]
    tp = fp = 0
    for i, (pd_, label) in enumerate(ranked):
        tp += label
        fp += 1 - label
        if i + 1 == len(ranked) or ranked[i + 1][0] != pd_:
            points.append((fp / good, tp / bad))
    return points


def auc_of(points: Sequence[tuple[float, float]]) -> float:
    return sum((x2 - x1) * (y1 + y2) / 2 for (x1, y1), (x2, y2) in itertools.pairwise(points))


def calibration_bins(
    labels: Sequence[int], pds: Sequence[float], *, bins: int = 10
) -> list[tuple[float, float, int]]:
    """(mean predicted PD, observed default rate, loans) per PD decile, lowest first."""
    ranked = sorted(zip(pds, labels, strict=True))
    out = []
    for k in range(bins):
        part = ranked[k * len(ranked) // bins : (k + 1) * len(ranked) // bins]
        if part:
            out.append(
                (
                    sum(p for p, _ in part) / len(part),
                    sum(y for _, y in part) / len(part),
                    len(part),
                )
            )
    return out


def grade_table(
    labels: Sequence[int], grades: Sequence[str], order: Sequence[str]
) -> list[GradeLine]:
    """Loans and defaults per grade, in the master scale's order (empty grades kept)."""
    counts = {g: [0, 0] for g in order}
    for label, grade in zip(labels, grades, strict=True):
        counts.setdefault(grade, [0, 0])
        counts[grade][0] += 1
        counts[grade][1] += label
    return [GradeLine(g, n, d) for g, (n, d) in counts.items()]


def score_histogram(
    labels: Sequence[int], scores: Sequence[float], *, bins: int = 20
) -> tuple[list[float], list[int], list[int]]:
    """Bin edges, and the good and the bad loans in each bin."""
    low, high = min(scores), max(scores)
    width = (high - low) / bins or 1.0
    edges = [low + k * width for k in range(bins + 1)]
    good, bad = [0] * bins, [0] * bins
    for label, score in zip(labels, scores, strict=True):
        k = min(bins - 1, int((score - low) / width))
        (bad if label else good)[k] += 1
    return edges, good, bad


def svg_figure(draw: Any) -> str:
    figure, axes = plt.subplots(figsize=(5.2, 3.6), dpi=100)
    try:
        draw(axes)
        figure.tight_layout()
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg")
    finally:
        plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def render(
    *,
    version: str,
    source: str,
    metrics: Mapping[str, Any],
    labels: Sequence[int],
    pds: Sequence[float],
    scores: Sequence[float],
    grades: Sequence[str],
    grade_order: Sequence[str],
    importance: Sequence[tuple[str, float]],
) -> str:
    points = roc_points(labels, pds)
    calibration = calibration_bins(labels, pds)
    edges, good, bad = score_histogram(labels, scores)
    table = grade_table(labels, grades, grade_order)

    def roc(ax: Any) -> None:
        ax.plot([x for x, _ in points], [y for _, y in points], label=f"AUC {auc_of(points):.3f}")
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
        ax.set_xlabel("false positive rate")
        ax.set_ylabel("true positive rate")
        ax.legend(loc="lower right")

    def calibrated(ax: Any) -> None:
        ax.plot([c[0] for c in calibration], [c[1] for c in calibration], marker="o")
        top = max([c[0] for c in calibration] + [c[1] for c in calibration] + [0.01])
        ax.plot([0, top], [0, top], linestyle=":", color="grey")
        ax.set_xlabel("predicted PD (decile mean)")
        ax.set_ylabel("observed default rate")

    def distribution(ax: Any) -> None:
        centres = [(a + b) / 2 for a, b in itertools.pairwise(edges)]
        width = (edges[1] - edges[0]) * 0.9
        ax.bar(centres, good, width=width, alpha=0.6, label="repaid")
        ax.bar(centres, bad, width=width, alpha=0.8, label="defaulted")
        ax.set_xlabel("score (points)")
        ax.set_ylabel("loans")
        ax.legend()

    def important(ax: Any) -> None:
        top = list(importance)[:15][::-1]
        ax.barh([n for n, _ in top], [v for _, v in top])
        ax.set_xlabel("importance")

    figures = {
        "ROC curve": svg_figure(roc),
        "Calibration": svg_figure(calibrated),
        "Score distribution by outcome": svg_figure(distribution),
        "Feature importance": svg_figure(important),
    }
    cv = metrics.get("cross_validation") or {}
    curve = reliability(labels, pds)
    headline = [
        ("Calibrator (chosen on inner folds)", metrics.get("calibrator", "platt")),
        ("Calibrators chosen by the outer folds", _counts(cv.get("calibrators"))),
        ("AUC (cross-validated mean)", cv.get("auc_mean")),
        ("AUC spread (std over folds)", cv.get("auc_std")),
        ("KS", cv.get("ks")),
        ("Brier score", cv.get("brier")),
        ("Expected calibration error (mean over folds)", cv.get("ece")),
        ("Expected calibration error (all out-of-fold PDs)", ece_of(curve)),
        ("Logistic baseline AUC", (cv.get("baseline") or {}).get("auc_mean")),
        ("Loans", cv.get("n_rows")),
        ("Defaults", cv.get("n_bad")),
    ]
    rows = "".join(
        f"<tr><td>{html.escape(label)}</td><td>{_fmt(value)}</td></tr>" for label, value in headline
    )
    grades_html = "".join(
        f"<tr><td>{html.escape(g.grade)}</td><td>{g.loans}</td><td>{g.defaults}</td>"
        f"<td>{g.default_rate:.2%}</td></tr>"
        for g in table
    )
    reliability_html = "".join(
        f"<tr><td>{b['low']:.1f}-{b['high']:.1f}</td><td>{b['loans']}</td>"
        f"<td>{b['pd_mean']:.2%}</td><td>{b['default_rate']:.2%}</td></tr>"
        for b in curve
    )
    charts = "".join(
        f"<section><h2>{html.escape(title)}</h2>{svg}</section>" for title, svg in figures.items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Scoring model {html.escape(version)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; color: #222; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
td, th {{ border: 1px solid #ccc; padding: .3rem .7rem; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
section {{ display: inline-block; vertical-align: top; margin: 0 1rem 1rem 0; }}
</style></head><body>
<h1>Scoring model {html.escape(version)}</h1>
<p>Trained on {html.escape(source)}. Every figure below comes from out-of-fold
predictions: each loan scored by a model that did not see it.</p>
<table>{rows}</table>
<h2>Grades</h2>
<table><tr><th>grade</th><th>loans</th><th>defaults</th><th>default rate</th></tr>
{grades_html}</table>
<h2>Reliability</h2>
<table><tr><th>predicted PD</th><th>loans</th><th>mean PD</th><th>default rate</th></tr>
{reliability_html}</table>
{charts}
</body></html>
"""


def ece_of(curve: Sequence[Mapping[str, Any]]) -> float:
    """The expected calibration error of a reliability curve (``reliability``'s bins)."""
    loans = sum(int(b["loans"]) for b in curve)
    if not loans:
        return math.nan
    gaps = sum(int(b["loans"]) * abs(b["pd_mean"] - b["default_rate"]) for b in curve)
    return float(gaps) / loans


def _counts(counts: Mapping[str, int] | None) -> str | None:
    if not counts:
        return None
    return ", ".join(f"{name} {n}" for name, n in counts.items())


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "-" if math.isnan(value) else f"{value:.4f}"
    return "-" if value is None else html.escape(str(value))
