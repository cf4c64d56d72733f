"""``whatIf``: an application under other terms, scored and priced, nothing stored."""

from datetime import date
from decimal import Decimal
from typing import Self

import strawberry

from api.access import classified
from api.context import Context
from api.outcomes import pk_of
from api.risk.types import ScoreReason
from api.scalars import Rate
from domain.products.models import RepaymentMethod
from domain.risk import whatif
from kernel.base import utcnow


@classified(
    internal=[
        "amount",
        "term_months",
        "repayment_method",
        "collateral_value",
        "probability_of_default",
        "score",
        "grade",
        "reasons",
        "annual_rate",
        "first_instalment",
        "largest_instalment",
        "total_interest",
        "fees",
        "total_cost",
        "effective_annual_rate",
        "loss_given_default",
        "expected_loss",
        "outside_product",
    ]
)
@strawberry.type(description="One set of terms: the risk they carry and what they cost.")
class WhatIfOutcome:
    amount: Decimal
    term_months: int
    repayment_method: RepaymentMethod
    collateral_value: Decimal
    probability_of_default: float
    score: int
    grade: str
    reasons: list[ScoreReason]
    annual_rate: Rate
    first_instalment: Decimal
    largest_instalment: Decimal
    total_interest: Decimal
    fees: Decimal
    total_cost: Decimal = strawberry.field(description="Interest and fees over the amount.")
    effective_annual_rate: Rate
    loss_given_default: Rate = strawberry.field(
        description="45% unsecured, 25% on the part collateral covers after a 40% haircut."
    )
    expected_loss: Decimal = strawberry.field(description="PD x amount x LGD.")
    outside_product: list[str] = strawberry.field(
        description="Why the product would not take these terms; empty when it would."
    )

    @classmethod
    def from_outcome(cls, o: whatif.Outcome) -> Self:
        q = o.quote
        return cls(
            amount=o.scenario.amount,
            term_months=o.scenario.term_months,
            repayment_method=o.scenario.repayment_method,
            collateral_value=o.scenario.collateral_value,
            probability_of_default=o.probability_of_default,
            score=o.score,
            grade=o.grade,
            reasons=[
                ScoreReason(feature=r["feature"], text=r["text"], impact=float(r["impact"]))
                for r in o.reasons
            ],
            annual_rate=Rate(q.annual_rate),
            first_instalment=q.first_instalment,
            largest_instalment=q.largest_instalment,
            total_interest=q.total_interest,
            fees=q.fees,
            total_cost=q.total_cost,
            effective_annual_rate=Rate(q.effective_annual_rate),
            loss_given_default=Rate(o.loss_given_default),
            expected_loss=o.expected_loss,
            outside_product=list(o.outside_product),
        )


@classified(internal=["model_version", "current", "proposed"])
@strawberry.type(description="An application as it stands and under the terms asked about.")
class WhatIf:
    model_version: str
    current: WhatIfOutcome
    proposed: WhatIfOutcome


@classified(internal=["what_if"])
@strawberry.type
class WhatIfQueries:
    @strawberry.field(
        description="Score and price an application under other terms (amount, term, "
        "repayment method, collateral) without changing anything; for credit staff."
    )
    async def what_if(
        self,
        info: strawberry.Info[Context, None],
        application_id: strawberry.ID,
        amount: Decimal | None = None,
        term_months: int | None = None,
        repayment_method: RepaymentMethod | None = None,
        collateral_value: Decimal | None = None,
        start: date | None = None,
    ) -> WhatIf:
        ctx = info.context
        async with ctx.sessions() as session:
            found = await whatif.what_if(
                session,
                ctx.viewer,
                pk_of(application_id, "Application"),
                scoring=ctx.scoring,
                amount=amount,
                term_months=term_months,
                repayment_method=repayment_method,
                collateral_value=collateral_value,
                start=start or utcnow().date(),
            )
        return WhatIf(
            model_version=found.model_version,
            current=WhatIfOutcome.from_outcome(found.current),
            proposed=WhatIfOutcome.from_outcome(found.proposed),
        )
