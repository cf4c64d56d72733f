"""The data behind each chart of the validation report, and a page that opens offline."""

from __future__ import annotations

import random
import re

import pytest
from sklearn.metrics import roc_auc_score

from scoring.report import (
    auc_of,
    calibration_bins,
    grade_table,
    render,
    roc_points,
    score_histogram,
)


def _sample(n: int = 400) -> tuple[list[int], list[float]]:
    rng = random.Random(3)
    pds = [rng.random() * 0.4 for _ in range(n)]
    labels = [int(rng.random() < p) for p in pds]
    return labels, pds


def test_the_roc_curve_has_the_area_sklearn_computes() -> None:
    # given
    labels, pds = _sample()

    # when
    points = roc_points(labels, pds)

    # then
    assert points[0] == (0.0, 0.0)
    assert points[-1] == (1.0, 1.0)
    assert auc_of(points) == pytest.approx(roc_auc_score(labels, pds))


def test_calibration_bins_are_deciles_of_the_prediction() -> None:
    # given
    labels, pds = _sample()

    # when
    bins = calibration_bins(labels, pds)

    # then
    assert len(bins) == 10
    assert sum(n for _, _, n in bins) == len(labels)
    assert [b[0] for b in bins] == sorted(b[0] for b in bins)
    assert sum(rate * n for _, rate, n in bins) == pytest.approx(sum(labels))


def test_grades_and_histogram_count_every_loan() -> None:
    # when
    table = grade_table([1, 0, 0, 1], ["B", "A", "A", "C"], ["A", "B", "C", "D"])
    edges, good, bad = score_histogram([1, 0, 0, 1], [500.0, 650.0, 700.0, 520.0], bins=4)

    # then
    assert [(g.grade, g.loans, g.defaults) for g in table] == [
        ("A", 2, 0),
        ("B", 1, 1),
        ("C", 1, 1),
        ("D", 0, 0),
    ]
    assert len(edges) == 5
    assert (sum(good), sum(bad)) == (2, 2)
    assert bad[0] == 2


def test_the_page_embeds_its_charts_and_needs_nothing_online() -> None:
    # given
    labels, pds = _sample(200)

    # when
    page = render(
        version="pd-2026.11.25-1",
        source="test",
        metrics={"cross_validation": {"auc_mean": 0.81, "baseline": {"auc_mean": 0.77}}},
        labels=labels,
        pds=pds,
        scores=[600 - 100 * p for p in pds],
        grades=["A" if p < 0.2 else "B" for p in pds],
        grade_order=["A", "B"],
        importance=[("debt_to_asset", 30.0), ("roa", 20.0)],
    )

    # then
    assert page.count("<svg") == 4
    # nothing is fetched: XML namespace names in the SVG are identifiers, not links
    assert re.findall(r'(?:src|href)\s*=\s*"https?://', page) == []
    assert "<link" not in page
    assert "<script" not in page
    assert "0.8100" in page
