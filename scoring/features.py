"""Features of a credit application, computed one way for training and for live scoring.

``features`` is the only function that turns an enterprise and its application into a
model row. Training (``domain.risk.assessment.training_sample``) and live scoring call
it on the same plain dataclasses, so the two can never drift apart; there is no
separate training-time variant.

Assumptions:

- Inputs are what was known on ``as_of`` (the day the application was submitted); the
  caller filters statements and earlier loans to that day. ``statements`` is the
  enterprise's financial statements, any order: the newest is "latest", and the one of
  the fiscal year just before it, if filed, is "previous" (used for revenue growth only;
  a gap of more than a year gives no growth rather than a growth over two years).
- Money is ``Decimal``; features are ``float`` ratios of it (they are model inputs, not
  amounts, and are never added back into money).
- A value that cannot be known is ``None``, never a stand-in 0: no statement, a zero or
  negative denominator (assets, revenue), no earlier loan. CatBoost treats a missing
  number as lower than any other (``nan_mode="Min"``), so under a monotone constraint
  it sits at the low end: the safe side of leverage and arrears, the risky side of
  coverage, liquidity and profitability. ``has_history`` and the unconstrained
  features let the model price "unknown" as such.
- Sizes stay in their own units (employees, revenue in CNY, age in years), not logged:
  trees split the same on any monotone transform, and reasons read in those units.
- Ratios are clipped to ``BOUNDS``. Trees do not care about extreme values, but
  drift bins and reason texts do, and a tiny denominator (assets of a few yuan) makes
  figures in the thousands that mean no more than "very high". Two ratios have a
  denominator that is legitimately zero: no interest expense with an operating profit
  is full coverage (the upper bound, 50), and no current liabilities (no liabilities,
  for cash flow) with current assets (operating cash flow) is full liquidity (the
  upper bound). Zero over zero, or a loss over nothing, is unknown (``None``).
- Directions (``monotone``) are declared only where credit analysis agrees on them:
  leverage up is riskier; coverage, liquidity, profitability and cash flow up are
  safer; past arrears are riskier. Age, size, growth, margins, the loan's terms and the
  categories are left free for the data to decide.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from scoring.reasons import Unit, Wording
from scoring.spec import FeatureSpec, Kind

DAYS_PER_YEAR = 365.25
FULL_COVERAGE = 50.0  # interest coverage when there is no interest to cover
FULL_LIQUIDITY = 10.0  # current ratio / cash-flow ratio with nothing owed
BOUNDS: Mapping[str, tuple[float, float]] = {
    "debt_to_asset": (0.0, 10.0),
    "current_ratio": (0.0, FULL_LIQUIDITY),
    "roa": (-5.0, 5.0),
    "net_margin": (-5.0, 5.0),
    "interest_coverage": (-FULL_COVERAGE, FULL_COVERAGE),
    "operating_cash_flow_to_liabilities": (-FULL_LIQUIDITY, FULL_LIQUIDITY),
    "revenue_growth": (-1.0, 10.0),
    "amount_to_revenue": (0.0, 100.0),
}

Features = dict[str, float | str | None]


@dataclass(frozen=True, slots=True)
class Profile:
    industry: str
    region: str
    founded_on: date
    employee_count: int
    annual_revenue: Decimal | None


@dataclass(frozen=True, slots=True)
class Statement:
    """One fiscal year of accounts, as ``domain.enterprises.models.FinancialStatement``."""

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


@dataclass(frozen=True, slots=True)
class Request:
    amount: Decimal
    term_months: int
    product_type: str
    repayment_method: str


@dataclass(frozen=True, slots=True)
class History:
    """The enterprise's earlier loans on the platform, as they stood on ``as_of``."""

    max_days_past_due: int
    late_instalments: int
    loans_before: int


_N, _C = Kind.NUMERIC, Kind.CATEGORICAL
PLATFORM_FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec("age_years", _N, 0, "business age"),
    FeatureSpec("employees", _N, 0, "workforce"),
    FeatureSpec("industry", _C, 0, "industry"),
    FeatureSpec("region", _C, 0, "region"),
    FeatureSpec("revenue", _N, 0, "annual revenue"),
    FeatureSpec("debt_to_asset", _N, 1, "debt-to-asset ratio"),
    FeatureSpec("current_ratio", _N, -1, "current ratio"),
    FeatureSpec("roa", _N, -1, "return on assets"),
    FeatureSpec("net_margin", _N, 0, "net margin"),
    FeatureSpec("interest_coverage", _N, -1, "interest coverage"),
    FeatureSpec("operating_cash_flow_to_liabilities", _N, -1, "operating cash flow to liabilities"),
    FeatureSpec("revenue_growth", _N, 0, "revenue growth"),
    FeatureSpec("amount_to_revenue", _N, 0, "amount requested to revenue"),
    FeatureSpec("term_months", _N, 0, "term"),
    FeatureSpec("product_type", _C, 0, "product"),
    FeatureSpec("repayment_method", _C, 0, "repayment method"),
    FeatureSpec("has_history", _N, 0, "repayment history on the platform"),
    FeatureSpec("past_max_dpd", _N, 1, "worst arrears on earlier loans"),
    FeatureSpec("late_instalments", _N, 1, "late instalments on earlier loans"),
)

# Optional: what external data providers said (``domain.providers``), stored records
# only. A model trained with them reads PLATFORM_FEATURES + EXTERNAL_FEATURES; each is
# missing (None) where no record was fetched for credit assessment, or consent to
# credit assessment is not in force (``domain.risk.assessment.feature_inputs``).
EXTERNAL_FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec("bureau_score", _N, -1, "credit bureau score"),
    FeatureSpec("bureau_overdue_accounts", _N, 1, "overdue accounts at the bureau"),
    FeatureSpec("bureau_max_dpd", _N, 1, "worst arrears at the bureau"),
    FeatureSpec("bureau_enquiries_6m", _N, 0, "credit enquiries in six months"),
    FeatureSpec("registry_status", _C, 0, "registry status"),
    FeatureSpec("registry_agrees", _N, 0, "registry agreement with the profile"),
    FeatureSpec("inflow_variation", _N, 0, "variation of monthly inflows"),
    FeatureSpec("balance_to_outflow", _N, -1, "lowest balance in months of outflow"),
)
EXTERNAL_BOUNDS: Mapping[str, tuple[float, float]] = {
    "inflow_variation": (0.0, 10.0),
    "balance_to_outflow": (-FULL_LIQUIDITY, FULL_LIQUIDITY),
}
_NO_BUREAU = "no credit bureau report"
_NO_REGISTRY = "no business registry extract"
_NO_STATEMENTS = "no bank statements"

_NO_STATEMENT = "no financial statement to judge from"
_NO_HISTORY = "no repayment history on the platform"
PLATFORM_WORDING: Mapping[str, Wording] = {
    "age_years": Wording(Unit.YEARS, missing="founding date unknown"),
    "employees": Wording(Unit.COUNT, template="a workforce of {value} adds to the risk"),
    "revenue": Wording(Unit.AMOUNT, missing="revenue unknown"),
    "debt_to_asset": Wording(Unit.RATIO, missing=_NO_STATEMENT),
    "current_ratio": Wording(Unit.RATIO, missing=_NO_STATEMENT),
    "roa": Wording(Unit.PERCENT, missing=_NO_STATEMENT),
    "net_margin": Wording(Unit.PERCENT, missing=_NO_STATEMENT),
    "interest_coverage": Wording(Unit.TIMES, missing=_NO_STATEMENT),
    "operating_cash_flow_to_liabilities": Wording(Unit.RATIO, missing=_NO_STATEMENT),
    "revenue_growth": Wording(
        Unit.PERCENT, missing="no previous year's accounts to measure growth"
    ),
    "amount_to_revenue": Wording(Unit.RATIO, missing="no revenue to set the amount against"),
    "term_months": Wording(Unit.MONTHS),
    "has_history": Wording(Unit.FLAG, missing=_NO_HISTORY, no=_NO_HISTORY),
    "past_max_dpd": Wording(
        Unit.DAYS, missing=_NO_HISTORY, template="earlier loans ran up to {value} past due"
    ),
    "late_instalments": Wording(
        Unit.COUNT, missing=_NO_HISTORY, template="{value} late instalments on earlier loans"
    ),
    "bureau_score": Wording(Unit.PLAIN, missing=_NO_BUREAU),
    "bureau_overdue_accounts": Wording(Unit.COUNT, missing=_NO_BUREAU),
    "bureau_max_dpd": Wording(Unit.DAYS, missing=_NO_BUREAU),
    "bureau_enquiries_6m": Wording(Unit.COUNT, missing=_NO_BUREAU),
    "registry_status": Wording(missing=_NO_REGISTRY),
    "registry_agrees": Wording(
        Unit.FLAG,
        missing=_NO_REGISTRY,
        yes="the registry agrees with the profile",
        no="the registry contradicts the profile",
    ),
    "inflow_variation": Wording(Unit.RATIO, missing=_NO_STATEMENTS),
    "balance_to_outflow": Wording(Unit.RATIO, missing=_NO_STATEMENTS),
}


def external_features(facts: Mapping[str, Mapping[str, Any]] | None) -> Features:
    """EXTERNAL_FEATURES of the stored records' ``facts`` by kind (``"credit_bureau"``,
    ``"business_registry"``, ``"bank_statement"``); a kind absent gives None for its
    features. Money in facts is a decimal string; ratios of it are floats."""
    found = facts or {}
    row: Features = dict.fromkeys(f.name for f in EXTERNAL_FEATURES)
    bureau = found.get("credit_bureau")
    if bureau is not None:
        row["bureau_score"] = float(bureau["score"])
        row["bureau_overdue_accounts"] = float(bureau["overdueAccounts"])
        row["bureau_max_dpd"] = float(bureau["maxDaysPastDue"])
        row["bureau_enquiries_6m"] = float(bureau["enquiriesLast6Months"])
    registry = found.get("business_registry")
    if registry is not None:
        row["registry_status"] = _label(registry["status"])
        agrees = registry.get("nameMatches") and registry.get("foundedOnMatches")
        row["registry_agrees"] = 1.0 if agrees else 0.0
    statements = found.get("bank_statement")
    if statements is not None:
        row["inflow_variation"] = _external_bounded(
            "inflow_variation", float(statements["inflowVariation"])
        )
        lowest = float(statements["lowestEndingBalance"])
        row["balance_to_outflow"] = _external_bounded(
            "balance_to_outflow",
            _cover(lowest, float(statements["averageMonthlyOutflow"]))
            if lowest > 0
            else _ratio(lowest, float(statements["averageMonthlyOutflow"])),
        )
    return row


def _external_bounded(name: str, value: float | None) -> float | None:
    if value is None or math.isnan(value):
        return None
    low, high = EXTERNAL_BOUNDS[name]
    return min(max(value, low), high)


def features(
    profile: Profile,
    statements: Iterable[Statement],
    request: Request,
    history: History | None,
    *,
    as_of: date,
) -> Features:
    """The model row of one application as it stood on ``as_of``; see the module doc."""
    ordered = sorted(statements, key=lambda s: s.fiscal_year, reverse=True)
    latest = ordered[0] if ordered else None
    previous = (
        ordered[1]
        if len(ordered) > 1 and ordered[1].fiscal_year == ordered[0].fiscal_year - 1
        else None
    )
    days = (as_of - profile.founded_on).days
    revenue = _revenue(latest, profile)
    row: Features = {
        "age_years": days / DAYS_PER_YEAR if days >= 0 else None,
        "employees": float(profile.employee_count) if profile.employee_count >= 0 else None,
        "industry": _label(profile.industry),
        "region": _label(profile.region),
        "revenue": revenue,
        **_accounts(latest, previous),
        "amount_to_revenue": _bounded("amount_to_revenue", _ratio(float(request.amount), revenue)),
        "term_months": float(request.term_months) if request.term_months > 0 else None,
        "product_type": _label(request.product_type),
        "repayment_method": _label(request.repayment_method),
        "has_history": 0.0 if history is None else 1.0,
        "past_max_dpd": None if history is None else float(history.max_days_past_due),
        "late_instalments": None if history is None else float(history.late_instalments),
    }
    return row


def _accounts(latest: Statement | None, previous: Statement | None) -> Features:
    if latest is None:
        return dict.fromkeys(
            (
                "debt_to_asset",
                "current_ratio",
                "roa",
                "net_margin",
                "interest_coverage",
                "operating_cash_flow_to_liabilities",
                "revenue_growth",
            )
        )
    assets = float(latest.total_assets)
    liabilities = float(latest.total_liabilities)
    revenue = float(latest.revenue)
    net = float(latest.net_profit)
    growth = None
    if previous is not None:
        before = _ratio(revenue, float(previous.revenue))
        growth = None if before is None else before - 1.0
    return {
        "debt_to_asset": _bounded("debt_to_asset", _ratio(liabilities, assets)),
        "current_ratio": _bounded(
            "current_ratio",
            _cover(float(latest.current_assets), float(latest.current_liabilities)),
        ),
        "roa": _bounded("roa", _ratio(net, assets)),
        "net_margin": _bounded("net_margin", _ratio(net, revenue)),
        "interest_coverage": _bounded(
            "interest_coverage",
            _cover(float(latest.operating_profit), float(latest.interest_expense)),
        ),
        "operating_cash_flow_to_liabilities": _bounded(
            "operating_cash_flow_to_liabilities",
            _cover(float(latest.operating_cash_flow), liabilities),
        ),
        "revenue_growth": _bounded("revenue_growth", growth),
    }


def _revenue(latest: Statement | None, profile: Profile) -> float | None:
    """The latest statement's revenue, else the one the profile declares."""
    if latest is not None:
        value = float(latest.revenue)
    elif profile.annual_revenue is not None:
        value = float(profile.annual_revenue)
    else:
        return None
    return value if value >= 0 else None


def _ratio(numerator: float, denominator: float | None) -> float | None:
    """numerator / denominator, unknown when the denominator is not positive."""
    if denominator is None or not denominator > 0:
        return None
    return numerator / denominator


def _cover(available: float, owed: float) -> float | None:
    """How many times ``available`` covers ``owed``; nothing owed is full cover (+inf,
    clipped later) when something is available, and unknown otherwise."""
    if owed > 0:
        return available / owed
    return math.inf if available > 0 else None


def _bounded(name: str, value: float | None) -> float | None:
    if value is None or math.isnan(value):
        return None
    low, high = BOUNDS[name]
    return min(max(value, low), high)


def _label(value: str | None) -> str | None:
    text = None if value is None else str(value).strip()
    return text or None
