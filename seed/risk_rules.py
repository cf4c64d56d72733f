"""A starting set of platform early-warning rules, as a risk officer would first write them.

Saved through the same service as the API's ``upsertRiskRule``, so they are parsed,
type-checked and versioned like any other; seeding twice adds nothing.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from domain.identity.models import Role
from domain.identity.viewer import Viewer
from domain.risk.models import AlertSeverity, DisposalAction
from domain.risk.service import RuleDraft, upsert_rule

_H, _M, _L, _C = AlertSeverity.HIGH, AlertSeverity.MEDIUM, AlertSeverity.LOW, AlertSeverity.CRITICAL
_D = DisposalAction

DEFAULT_RULES: tuple[RuleDraft, ...] = (
    RuleDraft(
        "late-and-worsening",
        "Over a month late and the PD rising",
        "days_past_due > 30 and pd_change_90d > 0.05",
        _H,
        _D.COLLECTION,
    ),
    RuleDraft(
        "non-performing",
        "Non-performing: 90 days past due",
        "days_past_due >= 90",
        _C,
        _D.WRITE_OFF_PROPOSAL,
    ),
    RuleDraft(
        "leveraged-property-cycle",
        "Highly leveraged in construction or real estate",
        'debt_to_asset > 0.85 and industry in ["construction", "real_estate"]',
        _M,
        _D.EXTRA_COLLATERAL,
    ),
    RuleDraft(
        "cannot-cover-interest",
        "Operating profit does not cover interest",
        "interest_coverage < 1 and days_past_due > 0",
        _H,
        _D.RESTRUCTURE,
    ),
    RuleDraft(
        "revenue-collapse",
        "Revenue fell by more than a third",
        "revenue_change < -0.33",
        _M,
        _D.MONITOR,
    ),
    RuleDraft(
        "downgraded-twice",
        "Downgraded two notches or more in 90 days",
        "grade_downgrade_90d >= 2",
        _M,
        _D.MONITOR,
    ),
    RuleDraft(
        "debt-service-heavy",
        "Next year's instalments take over half the revenue",
        "repayment_to_revenue > 0.5",
        _L,
        _D.RESTRUCTURE,
    ),
    RuleDraft(
        "concentrated-and-late",
        "Late in an industry that is over 30% of the lender's book",
        "industry_share > 0.3 and days_past_due > 15",
        _L,
        _D.GUARANTEE_CALL,
    ),
)

_PLATFORM = Viewer(platform_roles=frozenset({Role.PLATFORM_RISK_OFFICER}))


async def install_default_rules(session: AsyncSession) -> int:
    """Save each default rule unless it is already current; returns how many are in force."""
    for draft in DEFAULT_RULES:
        await upsert_rule(session, _PLATFORM, draft)
    return len(DEFAULT_RULES)
