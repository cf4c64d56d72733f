"""The early-warning indicator catalogue: what a rule may name, and where each value comes from.

Every indicator is computed per active loan by the portfolio scan (``domain/risk/scan.py``),
set-wise for a chunk of loans at a time. A value the data cannot give (no statement filed,
no assessment yet, a zero denominator) is ``None``, which rules treat as unknown.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.risk.indicators import IndicatorRule, WarningSystem
from domain.risk.rules import Catalogue, IndicatorType


@dataclass(frozen=True, slots=True)
class Indicator:
    name: str
    type: IndicatorType
    description: str
    source: str


N, T = IndicatorType.NUMBER, IndicatorType.TEXT

INDICATORS: tuple[Indicator, ...] = (
    Indicator(
        "days_past_due",
        N,
        "Days the oldest unpaid instalment is overdue.",
        "loans.days_past_due, kept by the daily ageing job",
    ),
    Indicator(
        "delinquency_bucket",
        T,
        'Arrears bucket: "current", "dpd_1_30", "dpd_31_60", "dpd_61_90", "dpd_90_plus".',
        "loans.delinquency_bucket, kept by the daily ageing job",
    ),
    Indicator(
        "outstanding",
        N,
        "Outstanding principal, in the loan's currency.",
        "loans.outstanding_principal",
    ),
    Indicator(
        "pd",
        N,
        "Probability of default (12 months) of the borrower's latest assessment.",
        "risk_assessments (champion, not shadow), latest on or before the scan date",
    ),
    Indicator(
        "pd_change_30d",
        N,
        "PD now minus the PD in force 30 days before the scan date.",
        "risk_assessments, latest on or before each date",
    ),
    Indicator(
        "pd_change_90d",
        N,
        "PD now minus the PD in force 90 days before the scan date.",
        "risk_assessments, latest on or before each date",
    ),
    Indicator(
        "grade",
        T,
        "Rating grade of the latest assessment, AAA (best) to C.",
        "risk_assessments.grade",
    ),
    Indicator(
        "grade_downgrade_90d",
        N,
        "Notches the grade fell over 90 days (negative: it rose).",
        "risk_assessments.grade now and 90 days before, on the master scale",
    ),
    Indicator(
        "revenue_change",
        N,
        "Revenue of the latest fiscal year over the year before, minus 1.",
        "financial_statements, the two latest fiscal years",
    ),
    Indicator(
        "debt_to_asset",
        N,
        "Total liabilities over total assets.",
        "financial_statements, latest fiscal year",
    ),
    Indicator(
        "current_ratio",
        N,
        "Current assets over current liabilities.",
        "financial_statements, latest fiscal year",
    ),
    Indicator(
        "interest_coverage",
        N,
        "Operating profit over interest expense.",
        "financial_statements, latest fiscal year",
    ),
    Indicator(
        "industry_share",
        N,
        "Share of the lender's outstanding principal lent to the borrower's industry.",
        "loans and enterprises, aggregated per institution once per scan",
    ),
    Indicator(
        "region_share",
        N,
        "Share of the lender's outstanding principal lent to the borrower's region.",
        "loans and enterprises, aggregated per institution once per scan",
    ),
    Indicator(
        "repayment_to_revenue",
        N,
        "Instalments due on this loan in the next 12 months over the latest annual revenue.",
        "installments (unpaid, due within 365 days) and financial_statements.revenue",
    ),
    Indicator("industry", T, "The borrower's industry.", "enterprises.industry"),
    Indicator("region", T, "The borrower's region.", "enterprises.region"),
    Indicator(
        "product_type",
        T,
        'The product lent: "working_capital_loan", "term_loan", "equipment_leasing", '
        '"factoring", "credit_line".',
        "products.type",
    ),
)

CATALOGUE: Catalogue = {indicator.name: indicator.type for indicator in INDICATORS}


# Until a risk officer configures one: the indicators a credit committee reads first, with
# thresholds from common practice (90 days past due is default under Basel; a debt-to-asset
# ratio past 85% and an interest coverage under 1.5 are the usual covenant breaches).
DEFAULT_WARNING_RULES: tuple[IndicatorRule, ...] = (
    IndicatorRule("days_past_due", 1, (1.0, 31.0, 91.0)),
    IndicatorRule("pd", 1, (0.03, 0.08, 0.20)),
    IndicatorRule("pd_change_90d", 1, (0.01, 0.03, 0.08)),
    IndicatorRule("debt_to_asset", 1, (0.70, 0.85, 1.00)),
    IndicatorRule("current_ratio", -1, (1.2, 1.0, 0.8)),
    IndicatorRule("interest_coverage", -1, (3.0, 1.5, 1.0)),
    IndicatorRule("revenue_change", -1, (-0.10, -0.25, -0.40)),
    IndicatorRule("repayment_to_revenue", 1, (0.20, 0.35, 0.50)),
)
DEFAULT_WEIGHTS: dict[str, float] = {
    "days_past_due": 0.30,
    "pd": 0.20,
    "pd_change_90d": 0.10,
    "debt_to_asset": 0.10,
    "current_ratio": 0.05,
    "interest_coverage": 0.10,
    "revenue_change": 0.05,
    "repayment_to_revenue": 0.10,
}


def default_warning_system() -> WarningSystem:
    return WarningSystem(DEFAULT_WARNING_RULES, DEFAULT_WEIGHTS)
