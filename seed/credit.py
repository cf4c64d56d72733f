"""Synthetic accounts, the credit quality they imply, and the scorecard.

The generating process of defaults, in full in ``seed/README.md``. Each enterprise has a
hidden health ``h ~ N(0, 1)`` that shapes its accounts (margins up, leverage down), a
payment slack ``s ~ N(0, 1)`` and an unobservable part ``u ~ N(0, 0.35)``. The log-odds
of defaulting within a year, for an application, is read from the accounts a lender
sees when it applies (its latest fiscal year before the application's)::

    logit = -1.4 + 4.5 (D/A - 0.55) - 0.7 ln(ICR) - 7.5 ROA - 0.9 ln(CR)
            - 0.3 ln(revenue / 5M) - 0.45 ln((1 + age) / 8) + 1.5 industry risk
            + 0.5 s + u

with D/A debt to assets, ICR interest cover (clipped to [0.25, 25]), ROA return on
assets (clipped to +-0.3), CR the current ratio (clipped to [0.25, 4]), revenue in CNY
(at least 100k), age in years and the sector's risk from ``seed.reference``.
``credit_logit`` is the first two lines (what the accounts show); the rest is the
borrower's own (``Borrower.hidden``).

Each loan then defaults with ``pd = sigmoid(logit)`` (``seed.loans``), and the borrower
pays instalments late with ``late_chance``, which grows with the slack and the
log-odds: the slack is what a lender learns only from the borrower's payment history.
Assessments report a PD with fresh noise, scored on a scale where odds of 50:1 give
600 points and every 20 points double the odds.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from seed.reference import Industry

ANCHOR_SCORE = 600
ANCHOR_ODDS = 50
POINTS_TO_DOUBLE_ODDS = 20
_FACTOR = POINTS_TO_DOUBLE_ODDS / math.log(2)
_OFFSET = ANCHOR_SCORE - _FACTOR * math.log(ANCHOR_ODDS)

# Upper PD bound of each grade; above the last bound the grade is C.
MASTER_SCALE: tuple[tuple[float, str], ...] = (
    (0.0005, "AAA"),
    (0.001, "AA"),
    (0.003, "A"),
    (0.01, "BBB"),
    (0.03, "BB"),
    (0.10, "B"),
    (0.25, "CCC"),
)
BASE_LOGIT = -1.4
# Calibrated on the demo book (seed 42, 1000 enterprises): 10 to 14% of its seasoned
# loans default, and a cross-validated model ranks them at an AUC of about 0.8.
LATENT_NOISE = 0.35
SLACK_WEIGHT = 0.5
# About 7% of a typical borrower's instalments are paid late; twice as many for a slack
# one standard deviation up.
LATE_BASE = -2.6
LATE_SLACK = 0.9
LATE_LOGIT = 0.3


def late_chance(slack: float, logit: float) -> float:
    """The chance that a performing borrower pays an instalment late."""
    return sigmoid(LATE_BASE + LATE_SLACK * slack + LATE_LOGIT * (logit - BASE_LOGIT))


@dataclass(frozen=True, slots=True)
class Ratios:
    debt_to_asset: float
    interest_coverage: float
    return_on_assets: float
    current_ratio: float
    revenue: float
    age_years: float
    industry_risk: float

    @classmethod
    def from_accounts(
        cls,
        *,
        total_assets: float,
        total_liabilities: float,
        current_assets: float,
        current_liabilities: float,
        operating_profit: float,
        interest_expense: float,
        net_profit: float,
        revenue: float,
        age_years: float,
        industry_risk: float,
    ) -> Ratios:
        assets = max(total_assets, 1.0)
        return cls(
            debt_to_asset=total_liabilities / assets,
            interest_coverage=operating_profit / interest_expense if interest_expense > 0 else 25,
            return_on_assets=net_profit / assets,
            current_ratio=current_assets / current_liabilities if current_liabilities > 0 else 4,
            revenue=revenue,
            age_years=age_years,
            industry_risk=industry_risk,
        )


def _clip(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def contributions(r: Ratios) -> dict[str, float]:
    """Each feature's part of the log-odds; positive raises the risk."""
    return {
        "debt_to_asset": 4.5 * (r.debt_to_asset - 0.55),
        "interest_coverage": -0.7 * math.log(_clip(r.interest_coverage, 0.25, 25)),
        "return_on_assets": -7.5 * _clip(r.return_on_assets, -0.3, 0.3),
        "current_ratio": -0.9 * math.log(_clip(r.current_ratio, 0.25, 4)),
        "size": -0.3 * math.log(max(r.revenue, 100_000) / 5_000_000),
        "age": -0.45 * math.log((1 + r.age_years) / 8),
        "industry": 1.5 * r.industry_risk,
    }


def credit_logit(r: Ratios) -> float:
    """The observable part of the log-odds of default within a year."""
    return BASE_LOGIT + sum(contributions(r).values())


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def score_for(pd: float) -> int:
    return round(_OFFSET - _FACTOR * math.log(pd / (1 - pd)))


def grade_for(pd: float) -> str:
    for bound, grade in MASTER_SCALE:
        if pd <= bound:
            return grade
    return "C"


_REASON_TEXT = {
    "debt_to_asset": ("Debt to assets of {:.0%} is high", "Debt to assets of {:.0%} is low"),
    "interest_coverage": (
        "Operating profit covers interest {:.1f} times",
        "Operating profit covers interest {:.1f} times",
    ),
    "return_on_assets": ("Return on assets of {:.1%} is weak", "Return on assets of {:.1%}"),
    "current_ratio": ("Current ratio of {:.2f} is tight", "Current ratio of {:.2f} is sound"),
    "size": ("Revenue of {:,.0f} CNY is small", "Revenue of {:,.0f} CNY gives scale"),
    "age": ("In business for {:.0f} years only", "In business for {:.0f} years"),
    "industry": ("Sector carries elevated risk", "Sector carries low risk"),
}


def reasons(r: Ratios, *, top: int = 3) -> list[dict[str, object]]:
    """The features that move the log-odds most, strongest first."""
    values = {
        "debt_to_asset": r.debt_to_asset,
        "interest_coverage": r.interest_coverage,
        "return_on_assets": r.return_on_assets,
        "current_ratio": r.current_ratio,
        "size": r.revenue,
        "age": r.age_years,
        "industry": r.industry_risk,
    }
    ranked = sorted(contributions(r).items(), key=lambda item: (-abs(item[1]), item[0]))
    result: list[dict[str, object]] = []
    for feature, impact in ranked[:top]:
        worse, better = _REASON_TEXT[feature]
        text = (worse if impact > 0 else better).format(values[feature])
        result.append({"feature": feature, "impact": round(impact, 3), "text": text})
    return result


class Accounts(Protocol):
    """What the ratios read: a seed statement or a stored FinancialStatement row."""

    @property
    def revenue(self) -> Decimal: ...
    @property
    def operating_profit(self) -> Decimal: ...
    @property
    def interest_expense(self) -> Decimal: ...
    @property
    def net_profit(self) -> Decimal: ...
    @property
    def total_assets(self) -> Decimal: ...
    @property
    def current_assets(self) -> Decimal: ...
    @property
    def total_liabilities(self) -> Decimal: ...
    @property
    def current_liabilities(self) -> Decimal: ...


@dataclass(frozen=True, slots=True)
class Statement:
    fiscal_year: int
    revenue: Decimal
    cost_of_sales: Decimal
    operating_profit: Decimal
    interest_expense: Decimal
    net_profit: Decimal
    total_assets: Decimal
    current_assets: Decimal
    total_liabilities: Decimal
    current_liabilities: Decimal
    equity: Decimal
    operating_cash_flow: Decimal


def money(value: float) -> Decimal:
    return Decimal(f"{value:.2f}")


def statements(
    rng: random.Random,
    *,
    industry: Industry,
    health: float,
    latest_revenue: float,
    years: int,
    last_year: int,
) -> list[Statement]:
    """``years`` consecutive fiscal years ending with ``last_year``, oldest first."""
    revenues = [latest_revenue]
    for _ in range(years - 1):
        growth = _clip(rng.gauss(industry.growth + 0.03 * health, 0.12), -0.3, 0.6)
        revenues.append(revenues[-1] / (1 + growth))
    revenues.reverse()
    turnover = industry.asset_turnover * math.exp(rng.gauss(0, 0.25))
    gross_margin = _clip(industry.gross_margin + 0.03 * health + rng.gauss(0, 0.03), 0.02, 0.9)
    leverage = _clip(0.55 - 0.12 * health + rng.gauss(0, 0.1), 0.08, 1.1)
    current_share = rng.uniform(0.3, 0.8)
    short_term_share = rng.uniform(0.4, 0.9)
    borrowing_rate = rng.uniform(0.045, 0.09) * rng.uniform(0.5, 0.9)
    result: list[Statement] = []
    for offset, revenue in enumerate(revenues):
        margin = industry.operating_margin + 0.04 * health + rng.gauss(0, 0.03)
        margin = min(margin, gross_margin - 0.01)
        assets = revenue / turnover
        debt_ratio = _clip(leverage + rng.gauss(0, 0.03), 0.05, 1.15)
        total_assets = money(assets)
        total_liabilities = money(assets * debt_ratio)
        interest = money(float(total_liabilities) * borrowing_rate)
        operating_profit = money(revenue * margin)
        pre_tax = operating_profit - interest
        net_profit = (
            (pre_tax * Decimal("0.75")).quantize(Decimal("0.01")) if pre_tax > 0 else pre_tax
        )
        depreciation = assets * 0.04
        cash_flow = float(net_profit) + depreciation + revenue * rng.gauss(0, 0.03)
        result.append(
            Statement(
                fiscal_year=last_year - years + 1 + offset,
                revenue=money(revenue),
                cost_of_sales=money(revenue * (1 - gross_margin)),
                operating_profit=operating_profit,
                interest_expense=interest,
                net_profit=net_profit,
                total_assets=total_assets,
                current_assets=money(assets * current_share),
                total_liabilities=total_liabilities,
                current_liabilities=money(float(total_liabilities) * short_term_share),
                equity=total_assets - total_liabilities,
                operating_cash_flow=money(cash_flow),
            )
        )
    return result


def ratios_of(statement: Accounts, *, age_years: float, industry_risk: float) -> Ratios:
    return Ratios.from_accounts(
        total_assets=float(statement.total_assets),
        total_liabilities=float(statement.total_liabilities),
        current_assets=float(statement.current_assets),
        current_liabilities=float(statement.current_liabilities),
        operating_profit=float(statement.operating_profit),
        interest_expense=float(statement.interest_expense),
        net_profit=float(statement.net_profit),
        revenue=float(statement.revenue),
        age_years=age_years,
        industry_risk=industry_risk,
    )
