"""Portfolio figures as GraphQL types: each maps one frozen dataclass of the service.

Every type's name starts with ``Portfolio``: the policy grants them together.
"""

import uuid
from datetime import date
from decimal import Decimal
from typing import Self

import strawberry
from strawberry import relay

from api.access import classified
from api.scalars import Rate, rate_of_ratio
from domain.analytics import service
from domain.analytics.models import RollState
from domain.lending.models import DelinquencyBucket
from domain.products.models import ProductType
from domain.provisioning import service as provisioning

RollStateGQL = strawberry.enum(
    RollState,
    name="PortfolioRollState",
    description="Where a loan is at the next month end: a bucket, or off the book.",
)


@strawberry.input(description="Which part of the portfolio, over which period (UTC days).")
class PortfolioFilter:
    start: date | None = strawberry.field(
        default=None, description="First day of the period; default: a year before its end."
    )
    end: date | None = strawberry.field(
        default=None, description="Last day of the period, included; default: today."
    )
    institution_id: strawberry.ID | None = strawberry.field(
        default=None, description="One institution (staff: one of their own)."
    )
    product_type: ProductType | None = None
    industry: str | None = None
    region: str | None = None


@classified(internal=["start", "end", "book_date", "live", "opening_date"])
@strawberry.type(description="The period asked for, and the dates the stock figures are as of.")
class PortfolioPeriod:
    start: date
    end: date
    book_date: date = strawberry.field(
        description="What balances, delinquency, concentration and expected loss are as of: "
        "today, or the month-end snapshot on or before the end of a past period."
    )
    live: bool = strawberry.field(
        description="True: the stock figures are today's loans; false: a month-end snapshot."
    )
    opening_date: date = strawberry.field(
        description="The month end before the period: the expected loss's baseline."
    )

    @classmethod
    def from_domain(cls, p: service.Period) -> Self:
        return cls(
            start=p.start,
            end=p.end,
            book_date=p.book_date,
            live=p.live,
            opening_date=p.opening_date,
        )


@classified(
    internal=[
        "submitted",
        "reviewed",
        "info_requested",
        "approved",
        "rejected",
        "appealed",
        "contract_signed",
        "disbursed",
        "withdrawn",
        "pending",
        "approval_rate",
    ]
)
@strawberry.type(
    description="Applications submitted in the period, by the stages their time lines reached."
)
class PortfolioFunnel:
    submitted: int
    reviewed: int
    info_requested: int
    approved: int = strawberry.field(description="Approved at some point, on appeal included.")
    rejected: int = strawberry.field(description="Decided and never approved.")
    appealed: int
    contract_signed: int
    disbursed: int
    withdrawn: int
    pending: int = strawberry.field(description="Still waiting for a decision now.")
    approval_rate: Rate | None = strawberry.field(
        description="approved / (approved + rejected); null when none was decided."
    )

    @classmethod
    def from_domain(cls, f: service.Funnel) -> Self:
        return cls(
            submitted=f.submitted,
            reviewed=f.reviewed,
            info_requested=f.info_requested,
            approved=f.approved,
            rejected=f.rejected,
            appealed=f.appealed,
            contract_signed=f.contract_signed,
            disbursed=f.disbursed,
            withdrawn=f.withdrawn,
            pending=f.pending,
            approval_rate=rate_of_ratio(f.approval_rate),
        )


@classified(internal=["decided", "median_hours", "p90_hours", "mean_hours"])
@strawberry.type(
    description="Hours from submission to the first credit decision (approval or rejection) "
    "of the applications submitted in the period."
)
class PortfolioDecisionTimes:
    decided: int
    median_hours: float | None
    p90_hours: float | None = strawberry.field(description="The 90th percentile.")
    mean_hours: float | None

    @classmethod
    def from_domain(cls, d: service.DecisionTimes) -> Self:
        return cls(
            decided=d.decided,
            median_hours=d.median_hours,
            p90_hours=d.p90_hours,
            mean_hours=d.mean_hours,
        )


@classified(
    internal=["disbursed_loans", "disbursed_amount", "active_loans", "outstanding", "book_date"]
)
@strawberry.type(description="Paid out in the period; outstanding at the book date.")
class PortfolioVolume:
    disbursed_loans: int
    disbursed_amount: Decimal
    active_loans: int
    outstanding: Decimal = strawberry.field(description="Principal outstanding.")
    book_date: date

    @classmethod
    def from_domain(cls, v: service.Volume) -> Self:
        return cls(
            disbursed_loans=v.disbursed_loans,
            disbursed_amount=v.disbursed_amount,
            active_loans=v.active_loans,
            outstanding=v.outstanding,
            book_date=v.book_date,
        )


@classified(internal=["bucket", "loans", "outstanding", "share"])
@strawberry.type(description="One delinquency bucket of the book.")
class PortfolioBucket:
    bucket: DelinquencyBucket
    loans: int
    outstanding: Decimal
    share: float = strawberry.field(description="Of the book's outstanding principal.")


@classified(
    internal=[
        "book_date",
        "buckets",
        "loans",
        "outstanding",
        "non_performing",
        "non_performing_ratio",
    ]
)
@strawberry.type(description="The book at the book date by days past due.")
class PortfolioDelinquency:
    book_date: date
    buckets: list[PortfolioBucket] = strawberry.field(description="Every bucket, current first.")
    loans: int
    outstanding: Decimal
    non_performing: Decimal = strawberry.field(description="Over 90 days past due.")
    non_performing_ratio: float | None = strawberry.field(
        description="nonPerforming / outstanding; null for an empty book."
    )

    @classmethod
    def from_domain(cls, d: service.Delinquency) -> Self:
        return cls(
            book_date=d.book_date,
            buckets=[
                PortfolioBucket(
                    bucket=b.bucket, loans=b.loans, outstanding=b.outstanding, share=b.share
                )
                for b in d.buckets
            ],
            loans=d.loans,
            outstanding=d.outstanding,
            non_performing=d.non_performing,
            non_performing_ratio=d.non_performing_ratio,
        )


@classified(internal=["from_bucket", "to_state", "loans", "outstanding", "share"])
@strawberry.type(description="Loans that moved from a bucket to a state in a month.")
class PortfolioRollCell:
    from_bucket: DelinquencyBucket
    to_state: RollState
    loans: int
    outstanding: Decimal = strawberry.field(description="Their principal at the first month end.")
    share: float = strawberry.field(
        description="Of the loans that were in fromBucket (0 when none were)."
    )


@classified(internal=["after", "until", "cells", "loans"])
@strawberry.type(
    description="Month-on-month roll rates between month-end snapshots, pooled over the months "
    "from `after` to `until`."
)
class PortfolioRollRates:
    after: date
    until: date
    cells: list[PortfolioRollCell] = strawberry.field(
        description="Every (bucket, state) pair, row by row."
    )
    loans: int = strawberry.field(description="Moves counted: a loan once per month.")

    @classmethod
    def from_domain(cls, r: service.RollRates) -> Self:
        return cls(
            after=r.after,
            until=r.until,
            cells=[
                PortfolioRollCell(
                    from_bucket=c.from_bucket,
                    to_state=c.to_state,
                    loans=c.loans,
                    outstanding=c.outstanding,
                    share=c.share,
                )
                for c in r.cells
            ],
            loans=r.loans,
        )


@classified(internal=["months_on_book", "defaulted", "cumulative_default_rate"])
@strawberry.type(description="A cohort's defaults by a number of months on book.")
class PortfolioVintagePoint:
    months_on_book: int
    defaulted: int = strawberry.field(description="Cumulative, by this month.")
    cumulative_default_rate: Rate


@classified(internal=["cohort", "cohort_start", "loans", "disbursed_amount", "points"])
@strawberry.type(
    description="The loans disbursed in one quarter of the period: their cumulative default "
    "rate (over 90 days past due or written off) by months on book."
)
class PortfolioVintage:
    cohort: str = strawberry.field(description='The quarter, e.g. "2026Q1".')
    cohort_start: date
    loans: int
    disbursed_amount: Decimal
    points: list[PortfolioVintagePoint]

    @classmethod
    def from_domain(cls, v: service.VintageCurve) -> Self:
        return cls(
            cohort=v.cohort,
            cohort_start=v.cohort_start,
            loans=v.loans,
            disbursed_amount=v.disbursed_amount,
            points=[
                PortfolioVintagePoint(
                    months_on_book=p.months_on_book,
                    defaulted=p.defaulted,
                    cumulative_default_rate=Rate(Decimal(repr(p.cumulative_default_rate))),
                )
                for p in v.points
            ],
        )


@classified(internal=["enterprise_id", "name", "outstanding", "share"])
@strawberry.type(description="A borrower's exposure.")
class PortfolioBorrower:
    enterprise_id: strawberry.ID = strawberry.field(description="The enterprise's global id.")
    name: str
    outstanding: Decimal
    share: float

    @classmethod
    def from_domain(cls, b: service.BorrowerExposure) -> Self:
        return cls(
            enterprise_id=strawberry.ID(_enterprise_id(b.enterprise_id)),
            name=b.name,
            outstanding=b.outstanding,
            share=b.share,
        )


def _enterprise_id(pk: uuid.UUID) -> str:
    return str(relay.GlobalID("Enterprise", str(pk)))


@classified(internal=["name", "loans", "outstanding", "share"])
@strawberry.type(description="An industry's or a region's part of the book.")
class PortfolioShare:
    name: str
    loans: int
    outstanding: Decimal
    share: float

    @classmethod
    def many(cls, shares: tuple[service.Share, ...]) -> list[Self]:
        return [
            cls(name=s.name, loans=s.loans, outstanding=s.outstanding, share=s.share)
            for s in shares
        ]


@classified(
    internal=[
        "book_date",
        "borrowers",
        "outstanding",
        "top_borrowers",
        "top_share",
        "borrower_hhi",
        "industries",
        "industry_hhi",
        "regions",
        "region_hhi",
    ]
)
@strawberry.type(description="How concentrated the outstanding principal is at the book date.")
class PortfolioConcentration:
    book_date: date
    borrowers: int
    outstanding: Decimal
    top_borrowers: list[PortfolioBorrower] = strawberry.field(
        description="The ten largest borrowers, largest first."
    )
    top_share: float | None = strawberry.field(description="The ten's share together.")
    borrower_hhi: float | None = strawberry.field(
        description="Herfindahl-Hirschman index over borrowers: the sum of their squared "
        "shares, 0 to 1."
    )
    industries: list[PortfolioShare] = strawberry.field(description="Largest first.")
    industry_hhi: float | None
    regions: list[PortfolioShare] = strawberry.field(description="Largest first.")
    region_hhi: float | None

    @classmethod
    def from_domain(cls, c: service.Concentration) -> Self:
        return cls(
            book_date=c.book_date,
            borrowers=c.borrowers,
            outstanding=c.outstanding,
            top_borrowers=[PortfolioBorrower.from_domain(b) for b in c.top_borrowers],
            top_share=c.top_share,
            borrower_hhi=c.borrower_hhi,
            industries=PortfolioShare.many(c.industries),
            industry_hhi=c.industry_hhi,
            regions=PortfolioShare.many(c.regions),
            region_hhi=c.region_hhi,
        )


@classified(
    internal=[
        "on",
        "live",
        "exposure",
        "rated_exposure",
        "unrated_exposure",
        "expected_loss",
        "average_pd",
    ]
)
@strawberry.type(description="Expected loss of the book on one day.")
class PortfolioLossAt:
    on: date
    live: bool
    exposure: Decimal = strawberry.field(description="Outstanding principal.")
    rated_exposure: Decimal = strawberry.field(description="Of borrowers with a PD in force.")
    unrated_exposure: Decimal = strawberry.field(
        description="Of borrowers never assessed: not in the expected loss."
    )
    expected_loss: Decimal = strawberry.field(description="Sum of PD x exposure x LGD.")
    average_pd: float | None = strawberry.field(description="Exposure-weighted, rated exposure.")

    @classmethod
    def from_domain(cls, a: service.LossAt) -> Self:
        return cls(
            on=a.on,
            live=a.live,
            exposure=a.exposure,
            rated_exposure=a.rated_exposure,
            unrated_exposure=a.unrated_exposure,
            expected_loss=a.expected_loss,
            average_pd=a.average_pd,
        )


@classified(internal=["lgd", "start", "end", "change", "change_ratio"])
@strawberry.type(
    description="Expected loss (PD x exposure x LGD) at the book date against the month end "
    "before the period, each with the PDs in force then."
)
class PortfolioExpectedLoss:
    lgd: float = strawberry.field(description="The loss given default assumed.")
    start: PortfolioLossAt
    end: PortfolioLossAt
    change: Decimal
    change_ratio: float | None = strawberry.field(description="change / start's expected loss.")

    @classmethod
    def from_domain(cls, e: service.ExpectedLoss) -> Self:
        return cls(
            lgd=e.lgd,
            start=PortfolioLossAt.from_domain(e.start),
            end=PortfolioLossAt.from_domain(e.end),
            change=e.change,
            change_ratio=e.change_ratio,
        )


@classified(internal=["stage", "loans", "exposure", "expected_credit_loss", "coverage_rate"])
@strawberry.type(description="The loss allowance held against one IFRS 9 stage.")
class PortfolioStageAllowance:
    stage: int = strawberry.field(description="1 performing, 2 credit risk up, 3 impaired.")
    loans: int
    exposure: Decimal = strawberry.field(description="Exposure at default (EAD).")
    expected_credit_loss: Decimal = strawberry.field(
        description="Expected credit loss (ECL): the loss allowance held."
    )
    coverage_rate: Rate | None = strawberry.field(description="expectedCreditLoss / exposure.")

    @classmethod
    def from_domain(cls, f: provisioning.StageFigure) -> Self:
        return cls(
            stage=f.stage,
            loans=f.loans,
            exposure=f.exposure,
            expected_credit_loss=f.allowance,
            coverage_rate=rate_of_ratio(f.coverage),
        )


@classified(internal=["from_stage", "to_stage", "loans", "exposure"])
@strawberry.type(description="Loans that moved from one stage to another between two closes.")
class PortfolioStageMove:
    from_stage: int | None = strawberry.field(description="None: new to the book since.")
    to_stage: int | None = strawberry.field(description="None: off the book since.")
    loans: int
    exposure: Decimal = strawberry.field(
        description="Their EAD at the earlier close (at the later one for new loans)."
    )


@classified(
    internal=["as_of", "previous", "stages", "migration", "expected_credit_loss", "exposure"]
)
@strawberry.type(
    description="Expected credit loss as the month-end close staged it: allowance by stage "
    "at the newest close on or before the book date, and the stage migration matrix since "
    "the close before it."
)
class PortfolioProvisions:
    as_of: date | None = strawberry.field(description="The close read (None: never closed).")
    previous: date | None = strawberry.field(description="The close migrations start from.")
    stages: list[PortfolioStageAllowance]
    migration: list[PortfolioStageMove]
    expected_credit_loss: Decimal = strawberry.field(
        description="Total expected credit loss: the loss allowance held."
    )
    exposure: Decimal = strawberry.field(description="Total exposure at default.")

    @classmethod
    def from_domain(cls, p: provisioning.Provisions) -> Self:
        return cls(
            as_of=p.as_of,
            previous=p.previous,
            stages=[PortfolioStageAllowance.from_domain(s) for s in p.stages],
            migration=[
                PortfolioStageMove(
                    from_stage=m.from_stage, to_stage=m.to_stage, loans=m.loans, exposure=m.exposure
                )
                for m in p.migration
            ],
            expected_credit_loss=p.allowance,
            exposure=p.exposure,
        )
