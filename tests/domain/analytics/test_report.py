"""The portfolio report: the data behind each chart, and a page that stands on its own."""

from __future__ import annotations

import re
from datetime import date

import pytest
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
        "Expected loss",
    ):
        assert f"<h2>{title}</h2>" in page
    assert page.count("<svg") == 7  # funnel, buckets, rolls, vintages, two of concentration, loss
    # nothing fetched from elsewhere: no scripts, stylesheets or images by address
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<script" not in page
