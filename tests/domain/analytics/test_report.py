"""The portfolio report: the data behind each chart, and a page that stands on its own."""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from datetime import date

import pytest
from matplotlib import colors as mcolors
from matplotlib import pyplot as plt
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.analytics import report
from domain.analytics.service import PortfolioFilter, PortfolioSummary, portfolio_summary
from domain.identity.models import Role
from domain.identity.viewer import Viewer
from seed.population import seed_population
from tests import factories as f

PLATFORM = Viewer(platform_roles=frozenset({Role.PLATFORM_RISK_OFFICER}))


@pytest.fixture
async def summary(sessions: async_sessionmaker[AsyncSession]) -> PortfolioSummary:
    await seed_population(sessions, enterprises=80, seed=9, keys=f.KEYS)
    async with sessions() as session:
        return await portfolio_summary(
            session, PLATFORM, PortfolioFilter(start=date(2025, 11, 1), end=date(2026, 10, 31))
        )


async def test_each_chart_draws_the_figures_of_the_summary(summary: PortfolioSummary) -> None:
    funnel = dict(report.funnel_bars(summary.funnel))
    assert funnel["submitted"] == summary.funnel.submitted > 0
    assert funnel["disbursed"] == summary.funnel.disbursed
    assert funnel["submitted"] >= funnel["reviewed"] >= funnel["approved"] >= funnel["disbursed"]

    buckets = report.bucket_bars(summary.delinquency)
    assert next(name for name, _ in buckets) == "current"
    assert sum(share for _, share in buckets) == pytest.approx(1.0)

    rows, columns, shares = report.roll_matrix(summary.roll_rates)
    assert len(shares) == len(rows)
    assert all(len(line) == len(columns) for line in shares)
    for line in shares:  # each bucket's loans went somewhere, or there were none
        assert sum(line) == pytest.approx(1.0) or sum(line) == 0.0

    lines = report.vintage_lines(summary.vintages)
    assert set(lines) == {v.cohort for v in summary.vintages}
    for points in lines.values():
        rates = [r for _, r in points]
        assert rates == sorted(rates)  # cumulative: never falls

    borrowers, industries = report.concentration_bars(summary.concentration)
    assert len(borrowers) <= 10
    assert sum(s for _, s in borrowers) == pytest.approx(summary.concentration.top_share or 0.0)
    assert sum(s for _, s in industries) == pytest.approx(1.0)

    losses = report.loss_bars(summary.expected_loss)
    assert losses[1][1] == float(summary.expected_loss.end.expected_loss)


async def test_the_page_opens_offline_with_every_section(summary: PortfolioSummary) -> None:
    page = report.render(summary, scope="All institutions")

    for title in (
        "Headline figures",
        "Application funnel",
        "Time to decision",
        "Delinquency by bucket",
        "Roll rates",
        "Vintage curves",
        "Concentration",
        "Satisfaction and support",
        "Expected loss",
    ):
        assert f"<h2>{title}</h2>" in page
    assert page.count("<svg") == 7  # funnel, buckets, rolls, vintages, two of concentration, loss
    # nothing fetched from elsewhere: no scripts, stylesheets or images by address
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<script" not in page


# --- fonts and labels ------------------------------------------------------------------


def _missing_glyphs(caught: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


def _cjk(text: str) -> bool:
    return any("\u3400" <= char <= "\u9fff" for char in text)


async def test_borrower_names_from_the_seed_are_drawn_as_paths_with_every_glyph(
    summary: PortfolioSummary,
) -> None:
    # given: the seed's default locale names borrowers in Chinese
    names = [b.name for b in summary.concentration.top_borrowers]
    assert names
    assert all(_cjk(name) for name in names)

    # when
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        page = report.render(summary, scope="All institutions")

    # then: every character had a glyph, and none is left for the viewer's fonts
    assert _missing_glyphs(caught) == []
    assert "<text" not in page
    # matplotlib keeps each label's text in a comment beside its paths; nowhere else
    uncommented = re.sub(r"<!--.*?-->", "", page, flags=re.DOTALL)
    assert not any(name in uncommented for name in names)


def _seed_vocabulary() -> list[str]:
    """Every word a zh_CN seed builds person and enterprise names from, in full."""
    from faker.providers.bank.zh_CN import Provider as Banks
    from faker.providers.company.zh_CN import Provider as Companies
    from faker.providers.person.zh_CN import Provider as People

    from seed.reference import COMPANY_SUFFIXES_ZH, INDUSTRIES, PLACES

    words = [*People.last_names, *People.first_names, *Companies.company_prefixes]
    words += [*Banks.banks, *COMPANY_SUFFIXES_ZH, *(p.city_zh for p in PLACES)]
    words += [word for industry in INDUSTRIES for word in industry.words_zh]
    return words


def test_every_character_the_seed_names_with_is_in_the_shipped_fonts() -> None:
    # given
    text = "".join(sorted(set("".join(_seed_vocabulary()))))
    assert len(text) > 500

    # when: drawn as the report draws a chart (80 characters a label)
    labels = [text[i : i + 80] for i in range(0, len(text), 80)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report._barh([(label, 1.0) for label in labels], "share")

    # then
    assert _missing_glyphs(caught) == []


def test_a_character_without_a_glyph_is_reported() -> None:
    # given: U+2A6D6, a CJK Extension B ideograph the shipped font does not have
    rare = "\U0002a6d6"

    # when
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report._barh([(f"企业{rare}", 1.0)], "share")

    # then: said (once a layout pass), not silently drawn as an empty box
    missing = _missing_glyphs(caught)
    assert missing
    assert all("CJK UNIFIED IDEOGRAPH-2A6D6" in message for message in missing)


def _contrast(one: tuple[float, ...], other: tuple[float, ...]) -> float:
    """WCAG 2 contrast ratio of two sRGB colours (1 to 21)."""

    def luminance(rgb: tuple[float, ...]) -> float:
        r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb[:3])
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    light, dark = sorted((luminance(one), luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_every_heat_map_label_reads_on_its_cell() -> None:
    # given: shares from light to dark across the whole colour scale
    shares = [[round(0.05 * (5 * i + j + 1), 2) for j in range(5)] for i in range(4)]
    rows = [f"row {i}" for i in range(4)]
    columns = [f"column {j}" for j in range(5)]
    figure, ax = plt.subplots()

    try:
        # when
        report.draw_heatmap(ax, rows, columns, shares)

        # then
        image = ax.get_images()[0]
        labels = {(round(t.get_position()[1]), round(t.get_position()[0])): t for t in ax.texts}
        assert len(labels) == 20
        for (i, j), label in labels.items():
            cell = mcolors.to_rgb(image.cmap(image.norm(shares[i][j])))
            ink = mcolors.to_rgb(label.get_color())
            assert _contrast(cell, ink) >= 4.5, (shares[i][j], label.get_color())
        darkest, lightest = labels[(3, 4)], labels[(0, 0)]
        assert mcolors.to_hex(darkest.get_color()) == "#ffffff"
        assert mcolors.to_hex(lightest.get_color()) == "#000000"
    finally:
        plt.close(figure)


def test_the_shipped_font_is_the_pinned_one_with_its_licence() -> None:
    # given: what tools/vendor_report_font.py fetched and recorded
    fonts = report.CJK_FONT.parent
    manifest = json.loads((fonts / "VERSIONS.json").read_text())

    # then
    assert manifest[report.CJK_FONT.name]["licence"] == "OFL-1.1"
    for name, entry in manifest.items():
        assert hashlib.sha256((fonts / name).read_bytes()).hexdigest() == entry["sha256"]
    assert "SIL OPEN FONT LICENSE Version 1.1" in (fonts / "OFL.txt").read_text()
