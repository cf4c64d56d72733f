"""The staging rules at each threshold and the ECL arithmetic on worked numbers."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from domain.products.models import ProductType
from domain.provisioning import policy
from domain.provisioning.staging import Exposure, expected_loss, stage_of, staged

D = Decimal
BASE = Exposure(
    days_past_due=0,
    pd_now=D("0.020000"),
    pd_origination=D("0.020000"),
    forborne=False,
    written_off=False,
    accelerated=False,
    days_to_maturity=1461,  # four years (365.25 days each)
    lgd=D("0.450000"),
    ead=D("100000.00"),
)


@pytest.mark.parametrize(
    ("dpd", "stage"), [(0, 1), (29, 1), (30, 2), (31, 2), (89, 2), (90, 3), (400, 3)]
)
def test_days_past_due_thresholds(dpd: int, stage: int) -> None:
    assert stage_of(replace(BASE, days_past_due=dpd))[0] == stage


@pytest.mark.parametrize(
    ("pd_now", "stage"),
    [("0.039999", 1), ("0.040000", 2), ("0.500000", 2), ("0.010000", 1)],
)
def test_a_pd_doubled_since_origination_is_a_significant_increase(pd_now: str, stage: int) -> None:
    assert D("2.0") == policy.SICR_PD_FACTOR
    assert stage_of(replace(BASE, pd_now=D(pd_now)))[0] == stage


def test_no_pd_at_origination_or_now_is_no_relative_test() -> None:
    assert stage_of(replace(BASE, pd_origination=None, pd_now=D("0.9")))[0] == 1
    assert stage_of(replace(BASE, pd_now=None))[0] == 1


def test_forborne_written_off_and_accelerated() -> None:
    assert stage_of(replace(BASE, forborne=True)) == (2, "forborne")
    assert stage_of(replace(BASE, written_off=True)) == (3, "written_off")
    assert stage_of(replace(BASE, accelerated=True)) == (3, "accelerated")
    # Default outranks a significant increase.
    assert stage_of(replace(BASE, forborne=True, days_past_due=95)) == (3, "dpd_90")


def test_constant_hazard_term_structure() -> None:
    # 1 - 0.98 ** 3 = 1 - 0.941192 = 0.058808
    assert policy.pd_over(D("0.02"), 3.0) == D("0.058808")
    assert policy.pd_over(D("0.02"), 1.0) == D("0.020000")
    # Half a year: 1 - sqrt(0.98) = 0.010051
    assert policy.pd_over(D("0.02"), 0.5) == D("0.010051")
    assert policy.pd_over(D("1"), 2.0) == D("1.000000")


def test_ecl_of_each_stage_on_worked_numbers() -> None:
    # Stage 1: 12-month PD 0.02 x LGD 0.45 x EAD 100,000.00 = 900.00
    one = staged(BASE)
    assert (one.stage, one.pd_12m, one.ecl) == (1, D("0.020000"), D("900.00"))
    # Stage 2, four years left: lifetime PD 1 - 0.98 ** 4 = 0.077632;
    # 0.077632 x 0.45 x 100,000.00 = 3,493.44
    two = staged(replace(BASE, days_past_due=30))
    assert (two.stage, two.pd_lifetime, two.ecl) == (2, D("0.077632"), D("3493.44"))
    # Stage 3: in default, PD 1: 0.45 x 100,000.00 = 45,000.00
    three = staged(replace(BASE, days_past_due=90))
    assert (three.stage, three.pd_lifetime, three.ecl) == (3, D("1.000000"), D("45000.00"))
    # Stage 1 with half a year left takes no more than its lifetime: 0.010051 x 0.45 x
    # 100,000.00 = 452.295 -> 452.30 (half up)
    short = staged(replace(BASE, days_to_maturity=183))
    assert short.pd_12m == policy.pd_over(D("0.02"), 183 / 365.25)
    assert expected_loss(D("0.010051"), D("0.45"), D("100000.00")) == D("452.30")
    # Half a cent rounds up, not to even: 0.1 x 0.45 x 1.00 = 0.045 -> 0.05
    assert expected_loss(D("0.100000"), D("0.450000"), D("1.00")) == D("0.05")


def test_an_unrated_borrower_takes_the_policy_pd() -> None:
    found = staged(replace(BASE, pd_now=None))
    assert found.pd_12m == policy.UNRATED_PD
    assert found.ecl == expected_loss(policy.UNRATED_PD, D("0.45"), D("100000.00"))


def test_lgd_by_product_and_collateral_with_a_default() -> None:
    assert policy.lgd_of(ProductType.TERM_LOAN, False) == D("0.450000")
    assert policy.lgd_of(ProductType.TERM_LOAN, True) == D("0.250000")
    assert policy.lgd_of(None, True) == policy.DEFAULT_LGD
