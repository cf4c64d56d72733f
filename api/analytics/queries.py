"""``portfolioSummary``: every figure group a field of its own, read only when asked for.

A client asking for the funnel runs the funnel's SQL and nothing else. The groups
resolve side by side, each on a session of its own; what they read is memoised for the
request (``domain.analytics.service.Memo``), so two fields or two aliases asking the
same thing of the same filter read it once.
"""

import weakref
from collections.abc import Awaitable, Callable, Hashable
from typing import TypeVar

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from api.access import classified
from api.analytics.types import (
    PortfolioConcentration,
    PortfolioDecisionTimes,
    PortfolioDelinquency,
    PortfolioExpectedLoss,
    PortfolioFilter,
    PortfolioFunnel,
    PortfolioPeriod,
    PortfolioProvisions,
    PortfolioRollRates,
    PortfolioVintage,
    PortfolioVolume,
)
from api.context import Context
from api.feedback.types import PortfolioFeedback
from api.relay import decode_pk
from domain.analytics import service
from domain.feedback.figures import feedback_by_institution
from domain.identity.viewer import Viewer

T = TypeVar("T")

# One memo per request (and viewer: a WebSocket may sign in again), gone with it.
_MEMOS: weakref.WeakKeyDictionary[Context, tuple[Viewer, service.Memo]] = (
    weakref.WeakKeyDictionary()
)


def _memo(ctx: Context) -> service.Memo:
    found = _MEMOS.get(ctx)
    if found is None or found[0] is not ctx.viewer:
        found = (ctx.viewer, service.Memo(ctx.sessions))
        _MEMOS[ctx] = found
    return found[1]


async def _figure(
    info: strawberry.Info[Context, None],
    key: Hashable,
    compute: Callable[[AsyncSession, Viewer, service.Memo], Awaitable[T]],
) -> T:
    ctx = info.context
    memo = _memo(ctx)

    async def read() -> T:
        async with ctx.sessions() as session:
            return await compute(session, ctx.viewer, memo)

    return await memo.get(key, read)


@classified(
    internal=[
        "period",
        "funnel",
        "decision_times",
        "volume",
        "delinquency",
        "roll_rates",
        "vintages",
        "concentration",
        "expected_loss",
        "feedback",
        "provisions",
    ]
)
@strawberry.type(
    description="The figures a credit committee reads, for the portfolio you may see. Flows "
    "(funnel, decision times, disbursements, vintages) count what happened in the period; "
    "stocks (balances, delinquency, concentration, expected loss) are as of period.bookDate."
)
class PortfolioSummary:
    flt: strawberry.Private[service.PortfolioFilter]
    period: PortfolioPeriod

    @strawberry.field(description="Application funnel and approval rate.")
    async def funnel(self, info: strawberry.Info[Context, None]) -> PortfolioFunnel:
        found = await _figure(
            info,
            ("funnel", self.flt),
            lambda s, v, m: service.application_funnel(s, v, self.flt, memo=m),
        )
        return PortfolioFunnel.from_domain(found)

    @strawberry.field(description="Time to decision: median and 90th percentile.")
    async def decision_times(self, info: strawberry.Info[Context, None]) -> PortfolioDecisionTimes:
        found = await _figure(
            info,
            ("decision_times", self.flt),
            lambda s, v, m: service.decision_times(s, v, self.flt, memo=m),
        )
        return PortfolioDecisionTimes.from_domain(found)

    @strawberry.field(description="Disbursed volume and outstanding balance.")
    async def volume(self, info: strawberry.Info[Context, None]) -> PortfolioVolume:
        found = await _figure(
            info,
            ("volume", self.flt),
            lambda s, v, m: service.lending_volume(s, v, self.flt, memo=m),
        )
        return PortfolioVolume.from_domain(found)

    @strawberry.field(description="Delinquency by bucket and the non-performing ratio.")
    async def delinquency(self, info: strawberry.Info[Context, None]) -> PortfolioDelinquency:
        found = await _figure(
            info,
            ("delinquency", self.flt),
            lambda s, v, m: service.delinquency(s, v, self.flt, memo=m),
        )
        return PortfolioDelinquency.from_domain(found)

    @strawberry.field(
        description="Roll rates between buckets: the latest `months` month-on-month moves "
        "whose later month end falls in the period (default 1: the latest month)."
    )
    async def roll_rates(
        self, info: strawberry.Info[Context, None], months: int = 1
    ) -> PortfolioRollRates:
        found = await _figure(
            info,
            ("roll_rates", self.flt, months),
            lambda s, v, _m: service.roll_rates(s, v, self.flt, months=months),
        )
        return PortfolioRollRates.from_domain(found)

    @strawberry.field(
        description="Vintage curves: per quarterly cohort disbursed in the period, the "
        "cumulative default rate by months on book. Oldest cohort first."
    )
    async def vintages(self, info: strawberry.Info[Context, None]) -> list[PortfolioVintage]:
        found = await _figure(
            info,
            ("vintages", self.flt),
            lambda s, v, m: service.vintage_curves(s, v, self.flt, memo=m),
        )
        return [PortfolioVintage.from_domain(curve) for curve in found]

    @strawberry.field(description="Top-10 borrowers' share, industry and region shares, HHI.")
    async def concentration(self, info: strawberry.Info[Context, None]) -> PortfolioConcentration:
        found = await _figure(
            info,
            ("concentration", self.flt),
            lambda s, v, m: service.concentration(s, v, self.flt, memo=m),
        )
        return PortfolioConcentration.from_domain(found)

    @strawberry.field(
        description="Expected loss and its change over the period. `lgd`: the loss given "
        "default assumed (default 0.45, the Basel foundation IRB figure for senior "
        "unsecured claims)."
    )
    async def expected_loss(
        self, info: strawberry.Info[Context, None], lgd: float = service.DEFAULT_LGD
    ) -> PortfolioExpectedLoss:
        found = await _figure(
            info,
            ("expected_loss", self.flt, lgd),
            lambda s, v, m: service.expected_loss(s, v, self.flt, lgd=lgd, memo=m),
        )
        return PortfolioExpectedLoss.from_domain(found)

    @strawberry.field(
        description="Satisfaction (ratings: count, average, distribution) and support "
        "(tickets opened, closed, median hours to the first answer) per institution, in "
        "the period; by institution and period only (the other filters do not apply)."
    )
    async def feedback(self, info: strawberry.Info[Context, None]) -> list[PortfolioFeedback]:
        found = await _figure(
            info,
            ("feedback", self.flt),
            lambda s, v, _m: feedback_by_institution(s, v, self.flt),
        )
        return [PortfolioFeedback.from_domain(line) for line in found]

    @strawberry.field(
        description="Expected credit loss (IFRS 9-style): loss allowance by stage at the "
        "newest month-end close on or before the book date, and the stage migration matrix "
        "since the close before it."
    )
    async def provisions(self, info: strawberry.Info[Context, None]) -> PortfolioProvisions:
        found = await _figure(
            info,
            ("provisions", self.flt),
            lambda s, v, _m: service.provisions(s, v, self.flt),
        )
        return PortfolioProvisions.from_domain(found)


@classified(internal=["portfolio_summary"])
@strawberry.type
class AnalyticsQueries:
    @strawberry.field(
        description="Portfolio analytics for platform risk staff (every institution) and an "
        "institution's risk officers and admins (their own); refused to anyone else."
    )
    def portfolio_summary(
        self, info: strawberry.Info[Context, None], filter: PortfolioFilter | None = None
    ) -> PortfolioSummary:
        given = filter or PortfolioFilter()
        flt = service.PortfolioFilter(
            start=given.start,
            end=given.end,
            institution_id=decode_pk(given.institution_id, "Institution"),
            product_type=given.product_type,
            industry=given.industry,
            region=given.region,
        )
        # Refused, or a bad period, here: before any figure is read.
        service.analysable_institutions(info.context.viewer)
        return PortfolioSummary(
            flt=flt, period=PortfolioPeriod.from_domain(service.resolve_period(flt))
        )
