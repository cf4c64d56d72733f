"""Features: one function for training and scoring, every missing-value rule, every guard."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from domain.enterprises.models import Enterprise, FinancialStatement
from scoring.features import (
    BOUNDS,
    EXTERNAL_FEATURES,
    FULL_COVERAGE,
    FULL_LIQUIDITY,
    PLATFORM_FEATURES,
    PLATFORM_WORDING,
    History,
    Profile,
    Request,
    Statement,
    features,
)
from scoring.spec import Kind
from seed import credit
from seed.reference import INDUSTRIES

AS_OF = date(2026, 3, 31)
PROFILE = Profile(
    industry="construction",
    region="Zhejiang",
    founded_on=date(2016, 3, 31),
    employee_count=42,
    annual_revenue=Decimal("9000000.00"),
)
REQUEST = Request(
    amount=Decimal("2000000.00"),
    term_months=24,
    product_type="working_capital_loan",
    repayment_method="annuity",
)
LATEST = Statement(
    fiscal_year=2025,
    revenue=Decimal("10000000.00"),
    cost_of_sales=Decimal("7000000.00"),
    operating_profit=Decimal("900000.00"),
    interest_expense=Decimal("300000.00"),
    net_profit=Decimal("450000.00"),
    total_assets=Decimal("8000000.00"),
    current_assets=Decimal("3000000.00"),
    total_liabilities=Decimal("5000000.00"),
    current_liabilities=Decimal("2000000.00"),
    equity=Decimal("3000000.00"),
    operating_cash_flow=Decimal("1000000.00"),
)
PREVIOUS = dataclasses.replace(LATEST, fiscal_year=2024, revenue=Decimal("8000000.00"))
STATEMENT_FEATURES = (
    "debt_to_asset",
    "current_ratio",
    "roa",
    "net_margin",
    "interest_coverage",
    "operating_cash_flow_to_liabilities",
    "revenue_growth",
)


def row(
    *,
    profile: Profile = PROFILE,
    statements: tuple[Statement, ...] = (LATEST, PREVIOUS),
    request: Request = REQUEST,
    history: History | None = None,
) -> dict[str, Any]:
    return features(profile, statements, request, history, as_of=AS_OF)


def test_the_ratios_of_a_plain_application() -> None:
    # given an enterprise with two consecutive years of accounts and a loan record
    history = History(max_days_past_due=12, late_instalments=2, loans_before=3)
    # when
    got = row(history=history)
    # then
    assert got == pytest.approx(
        {
            "age_years": (AS_OF - PROFILE.founded_on).days / 365.25,
            "employees": 42.0,
            "industry": "construction",
            "region": "Zhejiang",
            "revenue": 10_000_000.0,
            "debt_to_asset": 5 / 8,
            "current_ratio": 1.5,
            "roa": 0.45 / 8,
            "net_margin": 0.045,
            "interest_coverage": 3.0,
            "operating_cash_flow_to_liabilities": 0.2,
            "revenue_growth": 0.25,
            "amount_to_revenue": 0.2,
            "term_months": 24.0,
            "product_type": "working_capital_loan",
            "repayment_method": "annuity",
            "has_history": 1.0,
            "past_max_dpd": 12.0,
            "late_instalments": 2.0,
        }
    )


def test_rows_follow_the_platform_feature_list() -> None:
    got = row(history=History(3, 1, 1))
    assert list(got) == [f.name for f in PLATFORM_FEATURES]
    for spec in PLATFORM_FEATURES:
        value = got[spec.name]
        if spec.kind is Kind.CATEGORICAL:
            assert isinstance(value, str)
        else:
            assert isinstance(value, float)
            assert math.isfinite(value)
    json.dumps(got, allow_nan=False)  # what the assessment stores


def test_specs_declare_directions_only_where_known() -> None:
    directions = {f.name: f.monotone for f in PLATFORM_FEATURES if f.monotone}
    assert directions == {
        "debt_to_asset": 1,
        "current_ratio": -1,
        "roa": -1,
        "interest_coverage": -1,
        "operating_cash_flow_to_liabilities": -1,
        "past_max_dpd": 1,
        "late_instalments": 1,
    }
    assert all(f.label for f in PLATFORM_FEATURES)
    external = {f.name: f.monotone for f in EXTERNAL_FEATURES if f.monotone}
    assert external == {
        "bureau_score": -1,
        "bureau_overdue_accounts": 1,
        "bureau_max_dpd": 1,
        "balance_to_outflow": -1,
    }
    assert all(f.label for f in EXTERNAL_FEATURES)
    assert set(PLATFORM_WORDING) <= {f.name for f in (*PLATFORM_FEATURES, *EXTERNAL_FEATURES)}


def test_database_rows_and_seed_statements_give_identical_features() -> None:
    # given accounts the seed generates, as the seed holds them and as stored rows
    rng = random.Random(11)
    industry = next(i for i in INDUSTRIES if i.code == "wholesale_retail")
    seeded = credit.statements(
        rng, industry=industry, health=-0.4, latest_revenue=6_300_000.0, years=3, last_year=2025
    )
    stored = [FinancialStatement(**dataclasses.asdict(s)) for s in seeded]
    enterprise = Enterprise(
        industry="wholesale_retail",
        region="Jiangsu",
        founded_on=date(2019, 7, 1),
        employee_count=17,
        annual_revenue=Decimal("6300000.00"),
    )

    def from_database() -> dict[str, Any]:
        # what the lead's loader does: attribute by attribute, newest first
        statements = [
            Statement(**{f.name: getattr(s, f.name) for f in dataclasses.fields(Statement)})
            for s in sorted(stored, key=lambda s: s.fiscal_year, reverse=True)
        ]
        profile = Profile(
            industry=enterprise.industry,
            region=enterprise.region,
            founded_on=enterprise.founded_on,
            employee_count=enterprise.employee_count,
            annual_revenue=enterprise.annual_revenue,
        )
        return features(profile, statements, REQUEST, None, as_of=AS_OF)

    def from_seed() -> dict[str, Any]:
        statements = [Statement(**dataclasses.asdict(s)) for s in seeded]  # oldest first
        profile = Profile("wholesale_retail", "Jiangsu", date(2019, 7, 1), 17, Decimal("6300000"))
        return features(profile, statements, REQUEST, None, as_of=AS_OF)

    # when
    scoring_time, training_time = from_database(), from_seed()
    # then
    assert scoring_time == training_time
    assert scoring_time == from_database()  # and again: nothing depends on state
    assert scoring_time["revenue_growth"] is not None


def test_no_statement_leaves_every_ratio_unknown() -> None:
    got = row(statements=())
    assert all(got[name] is None for name in STATEMENT_FEATURES)
    # revenue falls back to what the profile declares
    assert got["revenue"] == 9_000_000.0
    assert got["amount_to_revenue"] == pytest.approx(2 / 9)


def test_no_revenue_anywhere_leaves_size_and_amount_ratio_unknown() -> None:
    profile = dataclasses.replace(PROFILE, annual_revenue=None)
    got = row(profile=profile, statements=())
    assert got["revenue"] is None
    assert got["amount_to_revenue"] is None


def test_no_earlier_loan_is_no_history_not_a_clean_one() -> None:
    got = row(history=None)
    assert got["has_history"] == 0.0
    assert got["past_max_dpd"] is None
    assert got["late_instalments"] is None
    clean = row(history=History(0, 0, 1))
    assert (clean["has_history"], clean["past_max_dpd"], clean["late_instalments"]) == (1, 0, 0)


def test_zero_assets_make_asset_ratios_unknown() -> None:
    empty = dataclasses.replace(
        LATEST,
        total_assets=Decimal("0.00"),
        current_assets=Decimal("0.00"),
        total_liabilities=Decimal("0.00"),
        current_liabilities=Decimal("0.00"),
        equity=Decimal("0.00"),
    )
    got = row(statements=(empty,))
    assert got["debt_to_asset"] is None
    assert got["roa"] is None
    assert got["current_ratio"] is None  # nothing over nothing
    # positive cash flow and nothing owed: as liquid as the bound allows
    assert got["operating_cash_flow_to_liabilities"] == FULL_LIQUIDITY


def test_no_interest_expense_is_full_coverage_only_with_a_profit() -> None:
    no_interest = dataclasses.replace(LATEST, interest_expense=Decimal("0.00"))
    assert row(statements=(no_interest,))["interest_coverage"] == FULL_COVERAGE
    loss = dataclasses.replace(no_interest, operating_profit=Decimal("-10.00"))
    assert row(statements=(loss,))["interest_coverage"] is None
    deep_loss = dataclasses.replace(LATEST, operating_profit=Decimal("-90000000.00"))
    assert row(statements=(deep_loss,))["interest_coverage"] == -FULL_COVERAGE


def test_no_current_liabilities_is_full_liquidity() -> None:
    none_owed = dataclasses.replace(LATEST, current_liabilities=Decimal("0.00"))
    assert row(statements=(none_owed,))["current_ratio"] == FULL_LIQUIDITY


def test_zero_revenue_makes_revenue_ratios_unknown() -> None:
    idle = dataclasses.replace(LATEST, revenue=Decimal("0.00"))
    got = row(statements=(idle, PREVIOUS))
    assert got["net_margin"] is None
    assert got["amount_to_revenue"] is None
    assert got["revenue_growth"] == -1.0  # from 8M to nothing


def test_growth_needs_the_year_just_before() -> None:
    two_years_back = dataclasses.replace(PREVIOUS, fiscal_year=2023)
    assert row(statements=(LATEST, two_years_back))["revenue_growth"] is None
    assert row(statements=(LATEST,))["revenue_growth"] is None
    nothing_before = dataclasses.replace(PREVIOUS, revenue=Decimal("0.00"))
    assert row(statements=(LATEST, nothing_before))["revenue_growth"] is None
    # the order statements come in does not matter
    assert row(statements=(PREVIOUS, LATEST)) == row(statements=(LATEST, PREVIOUS))


def test_only_the_latest_two_years_count() -> None:
    older = dataclasses.replace(LATEST, fiscal_year=2020, revenue=Decimal("1.00"))
    assert row(statements=(LATEST, PREVIOUS, older)) == row(statements=(LATEST, PREVIOUS))


def test_ratios_stay_within_their_bounds() -> None:
    tiny_assets = dataclasses.replace(
        LATEST,
        total_assets=Decimal("1.00"),
        current_assets=Decimal("1.00"),
        current_liabilities=Decimal("0.01"),
        total_liabilities=Decimal("5000000.00"),
    )
    got = row(statements=(tiny_assets,))
    assert got["debt_to_asset"] == BOUNDS["debt_to_asset"][1]
    assert got["roa"] == BOUNDS["roa"][1]
    assert got["current_ratio"] == BOUNDS["current_ratio"][1]
    big_ask = dataclasses.replace(REQUEST, amount=Decimal("1e12"))
    assert row(request=big_ask)["amount_to_revenue"] == BOUNDS["amount_to_revenue"][1]


def test_impossible_profile_values_are_unknown() -> None:
    odd = dataclasses.replace(
        PROFILE, founded_on=date(2027, 1, 1), employee_count=-1, industry="  ", region=""
    )
    got = row(profile=odd, request=dataclasses.replace(REQUEST, term_months=0))
    assert got["age_years"] is None
    assert got["employees"] is None
    assert got["industry"] is None
    assert got["region"] is None
    assert got["term_months"] is None
