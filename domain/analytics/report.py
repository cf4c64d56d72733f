"""The portfolio report: one self-contained HTML page of a ``PortfolioSummary``, offline.

Sections: the period and scope; headline figures; the application funnel; time to
decision; delinquency by bucket with the non-performing ratio; roll rates between
buckets; vintage curves; concentration (top borrowers, industries, regions, Herfindahl
indices); satisfaction and support by institution; expected loss and its change. The
data behind every chart comes from a plain function here, tested on its own; matplotlib
only draws it, as inline SVG, so the page needs no network and no files beside it.

Every character in a chart is drawn as a path, not left as text for the viewer's fonts:
the page shows borrower names (Chinese in the seed's default locale) on a machine with
no CJK font. The glyphs come from DejaVu Sans (matplotlib's own) and, for what it lacks,
from Noto Sans SC shipped beside this module (fonts/README.md), so drawing needs no
system font either; a character neither has is warned about ("Glyph … missing").
"""

from __future__ import annotations

import functools
import html
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from matplotlib import colors as mcolors
from matplotlib import font_manager
from matplotlib import pyplot as plt

from domain.analytics.service import (
    Concentration,
    Delinquency,
    ExpectedLoss,
    Funnel,
    PortfolioSummary,
    RollRates,
    VintageCurve,
)
from domain.provisioning.service import Provisions
from scoring.report import svg_figure

Bars = list[tuple[str, float]]


CJK_FONT = Path(__file__).parent / "fonts" / "NotoSansSC-Regular.ttf"


@functools.cache
def font_families() -> list[str]:
    """The families a chart draws with, in fallback order; registers the shipped font."""
    font_manager.fontManager.addfont(str(CJK_FONT))
    return ["DejaVu Sans", font_manager.FontProperties(fname=CJK_FONT).get_name()]


def _svg(draw: Any) -> str:
    """A chart with its text as paths, in fonts that ship with the package."""
    with plt.rc_context({"svg.fonttype": "path", "font.family": font_families()}):
        return svg_figure(draw)


# WCAG 2's contrast ratios against white and black are equal at this relative luminance:
# below it white contrasts more, above it black.
_EQUAL_CONTRAST = 0.05**0.5 * 1.05**0.5 - 0.05


def relative_luminance(colour: Any) -> float:
    """WCAG 2's relative luminance of a matplotlib colour, 0 (black) to 1 (white)."""

    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(c) for c in mcolors.to_rgb(colour))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def label_colour(background: Any) -> str:
    """White or black, whichever reads better on ``background`` (WCAG 2 contrast)."""
    return "#ffffff" if relative_luminance(background) < _EQUAL_CONTRAST else "#000000"


def funnel_bars(funnel: Funnel) -> Bars:
    """Stage and how many applications of the period reached it, in the order they pass."""
    return [
        ("submitted", funnel.submitted),
        ("reviewed", funnel.reviewed),
        ("approved", funnel.approved),
        ("contract signed", funnel.contract_signed),
        ("disbursed", funnel.disbursed),
        ("rejected", funnel.rejected),
        ("withdrawn", funnel.withdrawn),
    ]


def bucket_bars(delinquency: Delinquency) -> Bars:
    """Each bucket's share of the outstanding principal, current first."""
    return [(b.bucket.value, b.share) for b in delinquency.buckets]


def roll_matrix(rolls: RollRates) -> tuple[list[str], list[str], list[list[float]]]:
    """Rows (bucket at one month end), columns (state at the next) and the shares."""
    rows = list(dict.fromkeys(c.from_bucket.value for c in rolls.cells))
    columns = list(dict.fromkeys(c.to_state.value for c in rolls.cells))
    shares = {(c.from_bucket.value, c.to_state.value): c.share for c in rolls.cells}
    return rows, columns, [[shares.get((r, c), 0.0) for c in columns] for r in rows]


def vintage_lines(vintages: Sequence[VintageCurve]) -> dict[str, list[tuple[int, float]]]:
    """Per cohort: (months on book, cumulative default rate), in month order."""
    return {
        v.cohort: [(p.months_on_book, p.cumulative_default_rate) for p in v.points]
        for v in vintages
    }


def concentration_bars(concentration: Concentration) -> tuple[Bars, Bars]:
    """The largest borrowers' shares, and each industry's, largest first."""
    borrowers = [(b.name, b.share) for b in concentration.top_borrowers]
    industries = [(s.name, s.share) for s in concentration.industries]
    return borrowers, industries


def loss_bars(loss: ExpectedLoss) -> Bars:
    """Expected loss at the start and at the end of the period."""
    return [
        (loss.start.on.isoformat(), float(loss.start.expected_loss)),
        (loss.end.on.isoformat(), float(loss.end.expected_loss)),
    ]


def feedback_rows(summary: PortfolioSummary) -> list[list[str]]:
    """Per institution: ratings and their average and distribution; tickets opened and
    closed in the period and the median wait for a first answer. No comment is shown."""
    return [
        [
            line.institution_code,
            str(line.ratings),
            _num(line.average_score, 2),
            " / ".join(str(n) for n in line.distribution),
            str(line.tickets_opened),
            str(line.tickets_closed),
            _num(line.median_hours_to_first_answer),
        ]
        for line in summary.feedback
    ]


def _barh(bars: Bars, xlabel: str, *, percent: bool = False) -> str:
    def draw(ax: Any) -> None:
        shown = bars[::-1]
        values = [v * 100 if percent else v for _, v in shown]
        ax.barh([label[:28] for label, _ in shown], values)
        ax.set_xlabel(xlabel)

    return _svg(draw)


def draw_heatmap(ax: Any, rows: list[str], columns: list[str], shares: list[list[float]]) -> None:
    """The roll-rate matrix; each share written in the colour that reads on its cell."""
    image = ax.imshow(shares, cmap="Reds", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(columns)), columns, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    for i, line in enumerate(shares):
        for j, share in enumerate(line):
            if share:
                cell = image.cmap(image.norm(share))
                ax.text(
                    j,
                    i,
                    f"{share:.0%}",
                    ha="center",
                    va="center",
                    fontsize=6,
                    color=label_colour(cell),
                )
    ax.set_xlabel("state at the next month end")


def _heatmap(rows: list[str], columns: list[str], shares: list[list[float]]) -> str:
    return _svg(lambda ax: draw_heatmap(ax, rows, columns, shares))


def _lines(lines: dict[str, list[tuple[int, float]]]) -> str:
    def draw(ax: Any) -> None:
        for cohort, points in lines.items():
            ax.plot([k for k, _ in points], [r * 100 for _, r in points], label=cohort)
        ax.set_xlabel("months on book")
        ax.set_ylabel("cumulative default rate (%)")
        if lines:
            ax.legend(fontsize=6, ncol=2)

    return _svg(draw)


def _money(value: Decimal) -> str:
    return f"{value:,.2f}"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def _num(value: float | None, places: int = 1) -> str:
    return "-" if value is None else f"{value:,.{places}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _section(title: str, *parts: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2>{''.join(parts)}</section>"


def _stage_name(stage: int | None, *, missing: str) -> str:
    return missing if stage is None else f"stage {stage}"


def provisions_section(found: Provisions) -> str:
    """Allowance by IFRS 9 stage at the newest close, and the stage migration matrix."""
    if found.as_of is None:
        return _section("Loss allowance by stage", "<p>No month-end close yet.</p>")
    since = f" since {found.previous}" if found.previous else ""
    return _section(
        f"Loss allowance by stage at {found.as_of}",
        _table(
            ["stage", "loans", "exposure (EAD)", "allowance (ECL)", "coverage"],
            [
                [
                    f"stage {s.stage}",
                    f"{s.loans:,}",
                    _money(s.exposure),
                    _money(s.allowance),
                    _pct(s.coverage),
                ]
                for s in found.stages
            ]
            + [["total", "", _money(found.exposure), _money(found.allowance), ""]],
        ),
        f"<p>Stage migration{html.escape(since)}: loans from a stage to a stage.</p>",
        _table(
            ["from", "to", "loans", "exposure"],
            [
                [
                    _stage_name(m.from_stage, missing="new"),
                    _stage_name(m.to_stage, missing="off the book"),
                    f"{m.loans:,}",
                    _money(m.exposure),
                ]
                for m in found.migration
            ],
        ),
    )


def render(summary: PortfolioSummary, *, scope: str) -> str:
    """The whole page; ``scope`` says whose book it is (all, or an institution)."""
    p, f, t = summary.period, summary.funnel, summary.decision_times
    v, d, c, e = summary.volume, summary.delinquency, summary.concentration, summary.expected_loss
    rows, columns, shares = roll_matrix(summary.roll_rates)
    borrowers, industries = concentration_bars(c)
    headline = _table(
        ["figure", "value"],
        [
            ["applications submitted", str(f.submitted)],
            ["approval rate", _pct(f.approval_rate)],
            ["median hours to decision", _num(t.median_hours)],
            ["90th percentile hours to decision", _num(t.p90_hours)],
            ["disbursed in the period", f"{v.disbursed_loans} loans, {_money(v.disbursed_amount)}"],
            [f"outstanding on {v.book_date}", f"{v.active_loans} loans, {_money(v.outstanding)}"],
            ["non-performing ratio (90+ days)", _pct(d.non_performing_ratio)],
            ["top 10 borrowers' share", _pct(c.top_share)],
            ["borrower Herfindahl index", _num(c.borrower_hhi, 4)],
            [f"expected loss (LGD {e.lgd:.0%})", _money(e.end.expected_loss)],
            ["expected loss change", f"{_money(e.change)} ({_pct(e.change_ratio)})"],
        ],
    )
    sections = [
        _section("Headline figures", headline),
        _section(
            "Application funnel",
            _barh(funnel_bars(f), "applications"),
            f"<p>Approval rate {_pct(f.approval_rate)}; {f.pending} still pending.</p>",
        ),
        _section(
            "Time to decision",
            _table(
                ["decided", "median hours", "90th percentile", "mean"],
                [
                    [
                        str(t.decided),
                        _num(t.median_hours),
                        _num(t.p90_hours),
                        _num(t.mean_hours),
                    ]
                ],
            ),
        ),
        _section(
            "Delinquency by bucket",
            _barh(bucket_bars(d), "share of outstanding (%)", percent=True),
            _table(
                ["bucket", "loans", "outstanding", "share"],
                [
                    [b.bucket.value, str(b.loans), _money(b.outstanding), _pct(b.share)]
                    for b in d.buckets
                ],
            ),
            f"<p>Non-performing: {_money(d.non_performing)} "
            f"({_pct(d.non_performing_ratio)} of {_money(d.outstanding)}).</p>",
        ),
        _section(
            "Roll rates",
            _heatmap(rows, columns, shares),
            f"<p>{summary.roll_rates.loans} month-to-month moves, "
            f"{summary.roll_rates.after} to {summary.roll_rates.until}.</p>",
        ),
        _section("Vintage curves", _lines(vintage_lines(summary.vintages))),
        _section(
            "Concentration",
            _barh(borrowers, "share of outstanding (%)", percent=True),
            _barh(industries, "industry share (%)", percent=True),
            _table(
                ["region", "loans", "outstanding", "share"],
                [[s.name, str(s.loans), _money(s.outstanding), _pct(s.share)] for s in c.regions],
            ),
            f"<p>Herfindahl: borrowers {_num(c.borrower_hhi, 4)}, industries "
            f"{_num(c.industry_hhi, 4)}, regions {_num(c.region_hhi, 4)}.</p>",
        ),
        _section(
            "Satisfaction and support",
            _table(
                [
                    "institution",
                    "ratings",
                    "average score",
                    "scores 1 / 2 / 3 / 4 / 5",
                    "tickets opened",
                    "tickets closed",
                    "median hours to first answer",
                ],
                feedback_rows(summary),
            ),
        ),
        _section(
            "Expected loss",
            _barh(loss_bars(e), "expected loss"),
            _table(
                ["on", "exposure", "rated", "unrated", "average PD", "expected loss"],
                [
                    [
                        at.on.isoformat(),
                        _money(at.exposure),
                        _money(at.rated_exposure),
                        _money(at.unrated_exposure),
                        _pct(at.average_pd),
                        _money(at.expected_loss),
                    ]
                    for at in (e.start, e.end)
                ],
            ),
        ),
        provisions_section(summary.provisions),
    ]
    title = f"Portfolio {p.start} to {p.end}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222; }}
table {{ border-collapse: collapse; margin: .5rem 0 1rem; }}
td, th {{ border: 1px solid #ccc; padding: .25rem .6rem; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
section {{ display: inline-block; vertical-align: top; margin: 0 1.5rem 1.5rem 0; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{html.escape(scope)}. Flows (applications, decisions, disbursements) are those of the
period; stocks (balances, buckets, concentration) are as of {p.book_date}.</p>
{"".join(sections)}
</body></html>
"""
