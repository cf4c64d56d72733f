"""Eligibility: each rule says why, thresholds are inclusive, unknowns never pass."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from domain.products.eligibility import EnterpriseFacts, ineligibility
from domain.products.models import Product, ProductStatus
from tests.domain.products.builders import unsaved_product

AS_OF = date(2026, 12, 1)
FACTS = EnterpriseFacts(
    industry="Manufacturing",
    region="Zhejiang",
    founded_on=date(2020, 3, 15),
    annual_revenue=Decimal("1500000.00"),
    total_assets=Decimal("1000000.00"),
    total_liabilities=Decimal("400000.00"),
)

RULES: dict[str, object] = {
    "min_years_in_business": 2,
    "industries": ["Manufacturing", "Retail"],
    "regions": ["Zhejiang", "Jiangsu"],
    "min_annual_revenue": "1000000.00",
    "max_debt_to_asset": "0.70",
}


def _product(**overrides: object) -> Product:
    return unsaved_product(**{"eligibility": dict(RULES), **overrides})


def _facts(**overrides: Any) -> EnterpriseFacts:
    return replace(FACTS, **overrides)


@pytest.mark.parametrize(
    ("founded_on", "as_of", "years"),
    [
        (date(2020, 3, 15), date(2026, 3, 14), 5),  # the day before the anniversary
        (date(2020, 3, 15), date(2026, 3, 15), 6),  # the anniversary itself
        (date(2020, 3, 15), date(2020, 3, 15), 0),
        (date(2020, 2, 29), date(2021, 2, 28), 0),  # leap-day founding, common year
        (date(2020, 2, 29), date(2021, 3, 1), 1),
        (date(2020, 2, 29), date(2024, 2, 29), 4),
        (date(2027, 1, 1), date(2026, 12, 1), 0),  # founded after the date asked about
    ],
)
def test_years_in_business_count_full_years_from_the_anniversary(
    founded_on: date, as_of: date, years: int
) -> None:
    # given
    facts = _facts(founded_on=founded_on)

    # when
    counted = facts.years_in_business(as_of)

    # then
    assert counted == years


@pytest.mark.parametrize(
    ("liabilities", "assets", "ratio"),
    [
        ("400000.00", "1000000.00", Decimal("0.4000")),
        ("1.00", "3.00", Decimal("0.3333")),
        ("2.00", "3.00", Decimal("0.6667")),
        ("12345.00", "100000.00", Decimal("0.1235")),  # half-up, where half-even gives .1234
        ("5.00", "100000.00", Decimal("0.0001")),  # half-up, where half-even gives .0000
        ("3000000.00", "1000000.00", Decimal("3.0000")),
    ],
)
def test_debt_to_asset_is_rounded_half_up_to_four_places(
    liabilities: str, assets: str, ratio: Decimal
) -> None:
    # given
    facts = _facts(total_liabilities=Decimal(liabilities), total_assets=Decimal(assets))

    # when
    computed = facts.debt_to_asset()

    # then
    assert computed == ratio
    assert computed is not None
    assert computed.as_tuple().exponent == -4


@pytest.mark.parametrize(
    ("liabilities", "assets"),
    [
        (None, None),
        (Decimal("100.00"), None),
        (None, Decimal("100.00")),
        (Decimal("100.00"), Decimal("0.00")),
        (Decimal("100.00"), Decimal("-50.00")),
    ],
)
def test_debt_to_asset_is_unknown_without_both_figures_or_positive_assets(
    liabilities: Decimal | None, assets: Decimal | None
) -> None:
    # given
    facts = _facts(total_liabilities=liabilities, total_assets=assets)

    # when
    computed = facts.debt_to_asset()

    # then
    assert computed is None


def test_an_enterprise_meeting_every_rule_exactly_at_its_threshold_is_eligible() -> None:
    # given: two years to the day, revenue at the minimum, ratio at the cap
    facts = _facts(
        founded_on=date(2024, 12, 1),
        annual_revenue=Decimal("1000000.00"),
        total_liabilities=Decimal("700000.00"),
        total_assets=Decimal("1000000.00"),
    )

    # when
    reasons = ineligibility(_product(), facts, as_of=AS_OF)

    # then
    assert reasons == ()


def test_a_product_without_rules_accepts_an_enterprise_nothing_is_known_about() -> None:
    # given
    facts = _facts(
        founded_on=AS_OF,
        annual_revenue=None,
        total_assets=None,
        total_liabilities=None,
        has_collateral=False,
    )

    # when
    reasons = ineligibility(_product(eligibility={}), facts, as_of=AS_OF)

    # then
    assert reasons == ()


def test_empty_industry_and_region_lists_serve_everyone() -> None:
    # given
    product = _product(eligibility={**RULES, "industries": [], "regions": []})

    # when
    reasons = ineligibility(product, _facts(industry="Catering", region="Tibet"), as_of=AS_OF)

    # then
    assert reasons == ()


@pytest.mark.parametrize(
    ("founded_on", "reason"),
    [
        (date(2025, 6, 1), "in business 1 year; the product asks for at least 2 years"),
        (date(2024, 12, 2), "in business 1 year; the product asks for at least 2 years"),
        (date(2026, 6, 1), "in business 0 years; the product asks for at least 2 years"),
    ],
)
def test_too_young_a_business_is_told_its_age_and_the_minimum(
    founded_on: date, reason: str
) -> None:
    # when
    reasons = ineligibility(_product(), _facts(founded_on=founded_on), as_of=AS_OF)

    # then
    assert reasons == (reason,)


def test_one_year_minimum_reads_in_the_singular() -> None:
    # given
    product = _product(eligibility={**RULES, "min_years_in_business": 1})

    # when
    reasons = ineligibility(product, _facts(founded_on=date(2026, 6, 1)), as_of=AS_OF)

    # then
    assert reasons == ("in business 0 years; the product asks for at least 1 year",)


def test_an_industry_outside_the_list_is_named_with_the_ones_served() -> None:
    # when
    reasons = ineligibility(_product(), _facts(industry="Catering"), as_of=AS_OF)

    # then
    assert reasons == ("industry Catering is not served (serves: Manufacturing, Retail)",)


def test_a_region_outside_the_list_is_named_with_the_ones_served() -> None:
    # when
    reasons = ineligibility(_product(), _facts(region="Yunnan"), as_of=AS_OF)

    # then
    assert reasons == ("region Yunnan is not served (serves: Zhejiang, Jiangsu)",)


def test_industries_and_regions_are_matched_exactly_as_the_catalog_spells_them() -> None:
    # when
    reasons = ineligibility(_product(), _facts(industry="manufacturing"), as_of=AS_OF)

    # then
    assert reasons == ("industry manufacturing is not served (serves: Manufacturing, Retail)",)


def test_revenue_below_the_minimum_shows_both_amounts() -> None:
    # when
    reasons = ineligibility(_product(), _facts(annual_revenue=Decimal("999999.99")), as_of=AS_OF)

    # then
    assert reasons == ("annual revenue 999,999.99 is below the product's minimum of 1,000,000.00",)


def test_unknown_revenue_does_not_pass_a_minimum() -> None:
    # when
    reasons = ineligibility(_product(), _facts(annual_revenue=None), as_of=AS_OF)

    # then
    assert reasons == ("annual revenue unknown; the product asks for at least 1,000,000.00",)


def test_debt_to_asset_above_the_cap_shows_both_ratios() -> None:
    # given
    facts = _facts(total_liabilities=Decimal("751234.00"), total_assets=Decimal("1000000.00"))

    # when
    reasons = ineligibility(_product(), facts, as_of=AS_OF)

    # then
    assert reasons == ("debt-to-asset ratio 75.12% is above the product's cap of 70.00%",)


@pytest.mark.parametrize(
    ("liabilities", "eligible"),
    [
        ("700040.00", True),  # 0.70004 rounds to 0.7000: at the cap
        ("700050.00", False),  # 0.70005 rounds to 0.7001: above it
    ],
)
def test_the_rounded_ratio_is_the_one_judged(liabilities: str, eligible: bool) -> None:
    # given
    facts = _facts(total_liabilities=Decimal(liabilities), total_assets=Decimal("1000000.00"))

    # when
    reasons = ineligibility(_product(), facts, as_of=AS_OF)

    # then
    assert (reasons == ()) is eligible


def test_no_statement_does_not_pass_a_debt_to_asset_cap() -> None:
    # given
    facts = _facts(total_liabilities=None, total_assets=None)

    # when
    reasons = ineligibility(_product(), facts, as_of=AS_OF)

    # then
    assert reasons == ("no financial statement filed; the product caps debt-to-asset at 70.00%",)


def test_a_statement_without_positive_assets_does_not_pass_a_debt_to_asset_cap() -> None:
    # given
    facts = _facts(total_liabilities=Decimal("10.00"), total_assets=Decimal("0.00"))

    # when
    reasons = ineligibility(_product(), facts, as_of=AS_OF)

    # then
    assert reasons == (
        "the latest financial statement shows no positive assets; the product caps"
        " debt-to-asset at 70.00%",
    )


@pytest.mark.parametrize("status", [ProductStatus.DRAFT, ProductStatus.RETIRED])
def test_a_product_not_published_takes_no_applications(status: ProductStatus) -> None:
    # when
    reasons = ineligibility(_product(status=status), _facts(), as_of=AS_OF)

    # then
    assert reasons == ("the product is not open for applications",)


@pytest.mark.parametrize(
    ("required", "has_collateral", "blocked"),
    [
        (True, False, True),
        (True, None, False),  # not stated: the officer asks, the catalog does not refuse
        (True, True, False),
        (False, False, False),
    ],
)
def test_collateral_blocks_only_when_required_and_said_to_be_missing(
    required: bool, has_collateral: bool | None, blocked: bool
) -> None:
    # given
    product = _product(collateral_required=required)

    # when
    reasons = ineligibility(product, _facts(has_collateral=has_collateral), as_of=AS_OF)

    # then
    expected = ("the product requires collateral, and the enterprise has none to offer",)
    assert reasons == (expected if blocked else ())


def test_every_failed_rule_is_reported_in_a_fixed_order() -> None:
    # given
    product = _product(status=ProductStatus.DRAFT, collateral_required=True)
    facts = _facts(
        industry="Catering",
        region="Yunnan",
        founded_on=date(2026, 1, 1),
        annual_revenue=Decimal("10.00"),
        total_liabilities=Decimal("9.00"),
        total_assets=Decimal("10.00"),
        has_collateral=False,
    )

    # when
    reasons = ineligibility(product, facts, as_of=AS_OF)

    # then
    assert reasons == (
        "the product is not open for applications",
        "in business 0 years; the product asks for at least 2 years",
        "industry Catering is not served (serves: Manufacturing, Retail)",
        "region Yunnan is not served (serves: Zhejiang, Jiangsu)",
        "annual revenue 10.00 is below the product's minimum of 1,000,000.00",
        "debt-to-asset ratio 90.00% is above the product's cap of 70.00%",
        "the product requires collateral, and the enterprise has none to offer",
    )
