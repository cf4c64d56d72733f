"""The staging rules and the expected credit loss of one loan, as pure functions.

See ``domain.provisioning.policy`` for the thresholds and the PD term structure.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from domain.provisioning import policy
from domain.provisioning.policy import CENT, ONE


@dataclass(frozen=True, slots=True)
class Exposure:
    """What staging reads of one loan at the close date."""

    days_past_due: int
    pd_now: Decimal | None  # the champion's 12-month PD in force (None: never assessed)
    pd_origination: Decimal | None  # in force when the loan was disbursed
    forborne: bool
    written_off: bool
    accelerated: bool
    days_to_maturity: int
    lgd: Decimal
    ead: Decimal


@dataclass(frozen=True, slots=True)
class Staged:
    stage: int
    reason: str
    pd_12m: Decimal
    pd_lifetime: Decimal
    lgd: Decimal
    ead: Decimal
    ecl: Decimal


def stage_of(e: Exposure) -> tuple[int, str]:
    """The stage and the first rule that put the loan there (stage 3 rules first)."""
    if e.written_off:
        return 3, "written_off"
    if e.accelerated:
        return 3, "accelerated"
    if e.days_past_due >= policy.DEFAULT_DPD:
        return 3, "dpd_90"
    if e.days_past_due >= policy.SICR_DPD:
        return 2, "dpd_30"
    if (
        e.pd_now is not None
        and e.pd_origination is not None
        and e.pd_now >= policy.SICR_PD_FACTOR * e.pd_origination
    ):
        return 2, "pd_increase"
    if e.forborne:
        return 2, "forborne"
    return 1, "current"


def expected_loss(pd: Decimal, lgd: Decimal, ead: Decimal) -> Decimal:
    """PD x LGD x EAD, to the cent (half up)."""
    return (pd * lgd * ead).quantize(CENT, ROUND_HALF_UP)


def staged(e: Exposure) -> Staged:
    stage, reason = stage_of(e)
    pd12 = e.pd_now if e.pd_now is not None else policy.UNRATED_PD
    years = policy.remaining_years(e.days_to_maturity)
    pd_12m = policy.pd_over(pd12, min(1.0, years))
    pd_lifetime = ONE if stage == 3 else policy.pd_over(pd12, years)
    if stage == 3:
        pd_12m = ONE
    pd = pd_12m if stage == 1 else pd_lifetime
    return Staged(
        stage=stage,
        reason=reason,
        pd_12m=pd_12m,
        pd_lifetime=pd_lifetime,
        lgd=e.lgd,
        ead=e.ead,
        ecl=expected_loss(pd, e.lgd, e.ead),
    )
