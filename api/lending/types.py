import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Self

import strawberry
from strawberry import relay

from api.access import classified
from api.context import Context
from api.identity.types import Institution
from api.products.types import Product
from api.scalars import Rate
from domain.lending import charges, repayment
from domain.lending.charges import ChargeKind
from domain.lending.models import DelinquencyBucket, EarlyRepaymentChoice, LoanStatus
from domain.lending.models import Installment as InstallmentRow
from domain.lending.models import Loan as LoanRow
from domain.lending.models import Repayment as RepaymentRow
from domain.lending.service import line_of
from domain.products.models import RepaymentMethod
from kernel.base import utcnow
from kernel.errors import NotFound

if TYPE_CHECKING:
    from api.applications.types import Application
    from api.collateral.types import CollateralItem, Guarantee, LoanCreditLoss
    from api.contracts.termination import LoanTermination, PayoffQuote
    from api.contracts.types import ContractVersion, LoanAmendment
    from api.enterprises.types import Enterprise
    from api.risk.alerts import LoanWarning
    from api.workout.recoveries import Recovery

LoanStatusGQL = strawberry.enum(LoanStatus, name="LoanStatus")
DelinquencyBucketGQL = strawberry.enum(DelinquencyBucket, name="DelinquencyBucket")
EarlyRepaymentChoiceGQL = strawberry.enum(
    EarlyRepaymentChoice,
    name="EarlyRepaymentChoice",
    description="After an early repayment: finish sooner, or pay less each month.",
)


@classified(
    internal=[
        "sequence",
        "due_on",
        "principal_due",
        "interest_due",
        "fee_due",
        "principal_paid",
        "interest_paid",
        "fee_paid",
        "settled_on",
        "late_fee_due",
        "late_fee_paid",
        "late_fee_charged_on",
        "penalty_due",
        "penalty_paid",
    ]
)
@strawberry.type(description="One row of a repayment schedule.")
class Installment:
    sequence: int
    due_on: date
    principal_due: Decimal
    interest_due: Decimal
    fee_due: Decimal
    principal_paid: Decimal
    interest_paid: Decimal
    fee_paid: Decimal
    settled_on: date | None
    late_fee_due: Decimal = strawberry.field(
        description="The late fee charged when the grace period ran out unpaid."
    )
    late_fee_paid: Decimal
    late_fee_charged_on: date | None
    penalty_due: Decimal = strawberry.field(
        description="Penalty interest accrued on the instalment's overdue principal."
    )
    penalty_paid: Decimal

    @classmethod
    def from_row(cls, row: InstallmentRow) -> Self:
        return cls(
            sequence=row.sequence,
            due_on=row.due_on,
            principal_due=row.principal_due,
            interest_due=row.interest_due,
            fee_due=row.fee_due,
            principal_paid=row.principal_paid,
            interest_paid=row.interest_paid,
            fee_paid=row.fee_paid,
            settled_on=row.settled_on,
            late_fee_due=row.late_fee_due,
            late_fee_paid=row.late_fee_paid,
            late_fee_charged_on=row.late_fee_charged_on,
            penalty_due=row.penalty_due,
            penalty_paid=row.penalty_paid,
        )


LoanChargeKindGQL = strawberry.enum(ChargeKind, name="LoanChargeKind")


@classified(internal=["kind", "sequence", "charged_on", "amount", "amount_paid"])
@strawberry.type(description="A charge for paying late, on one instalment.")
class LoanCharge:
    kind: ChargeKind
    sequence: int = strawberry.field(description="The instalment it was charged on.")
    charged_on: date | None = strawberry.field(
        description="A late fee's day; penalty interest accrues daily (none)."
    )
    amount: Decimal
    amount_paid: Decimal


@classified(
    internal=[
        "amount",
        "paid_on",
        "principal_part",
        "interest_part",
        "fee_part",
        "late_fee_part",
        "penalty_part",
        "prepaid_principal",
        "early_repayment",
        "idempotency_key",
        "recorded_at",
        "reversed_on",
        "reversal_reason",
    ]
)
@strawberry.type(description="Money received against a loan, as it was allocated.")
class Repayment:
    amount: Decimal
    paid_on: date
    principal_part: Decimal
    interest_part: Decimal
    fee_part: Decimal = strawberry.field(
        description="Fees and charges paid: the schedule's fees, late fees, penalty interest."
    )
    late_fee_part: Decimal = strawberry.field(description="Late fees paid (part of feePart).")
    penalty_part: Decimal = strawberry.field(description="Penalty interest paid (part of feePart).")
    prepaid_principal: Decimal = strawberry.field(
        description="Principal paid ahead of its due dates (part of principalPart)."
    )
    early_repayment: EarlyRepaymentChoice | None = strawberry.field(
        description="How the schedule was recomputed for the prepaid principal."
    )
    idempotency_key: str
    recorded_at: datetime
    reversed_on: date | None = strawberry.field(
        description="The payment bounced and was reversed on this day: it allocates nothing."
    )
    reversal_reason: str | None

    @classmethod
    def from_row(cls, row: RepaymentRow) -> Self:
        return cls(
            amount=row.amount,
            paid_on=row.paid_on,
            principal_part=row.principal_part,
            interest_part=row.interest_part,
            fee_part=row.fee_part,
            late_fee_part=row.late_fee_part,
            penalty_part=row.penalty_part,
            prepaid_principal=row.prepaid_principal,
            early_repayment=row.early_choice,
            idempotency_key=row.idempotency_key,
            recorded_at=row.created_at,
            reversed_on=row.reversed_on,
            reversal_reason=row.reversal_reason,
        )


@classified(
    public=["id"],
    internal=[
        "principal",
        "annual_rate",
        "term_months",
        "repayment_method",
        "disbursed_on",
        "maturity_on",
        "status",
        "outstanding_principal",
        "days_past_due",
        "delinquency_bucket",
        "closed_on",
        "aged_on",
        "written_off_on",
        "write_off_reason",
        "forborne",
        "version",
        "application",
        "enterprise",
        "product",
        "institution",
        "schedule",
        "repayments",
        "payoff_amount",
        "warning",
        "amendments",
        "contract_versions",
        "payoff_quote",
        "terminations",
        "recoveries",
        "collateral",
        "guarantees",
        "credit_loss",
        "accrued_through",
        "accrued_interest",
        "charges",
    ],
)
@strawberry.type(description="A disbursed loan and where its repayment stands.")
class Loan(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    principal: Decimal
    annual_rate: Rate
    term_months: int
    repayment_method: RepaymentMethod
    disbursed_on: date
    maturity_on: date
    status: LoanStatus
    outstanding_principal: Decimal
    days_past_due: int
    delinquency_bucket: DelinquencyBucket
    closed_on: date | None
    aged_on: date | None = strawberry.field(description="Days past due are as of this day.")
    written_off_on: date | None
    write_off_reason: str | None
    accrued_through: date | None = strawberry.field(
        description="Interest, penalty interest and late fees are accrued through this day."
    )
    forborne: bool = strawberry.field(
        description="Forbearance granted: a forborne amendment was signed (an ECL staging input)."
    )
    version: int
    application_id: strawberry.Private[uuid.UUID]
    enterprise_id: strawberry.Private[uuid.UUID]
    product_id: strawberry.Private[uuid.UUID]
    institution_id: strawberry.Private[uuid.UUID]

    @strawberry.field
    async def application(
        self, info: strawberry.Info[Context, None]
    ) -> Annotated["Application", strawberry.lazy("api.applications.types")]:
        from api.applications.types import Application

        row = await info.context.loaders.application.load(self.application_id)
        if row is None:
            raise NotFound("application not found")
        return Application.from_row(row)

    @strawberry.field
    async def enterprise(
        self, info: strawberry.Info[Context, None]
    ) -> Annotated["Enterprise", strawberry.lazy("api.enterprises.types")]:
        from api.enterprises.types import Enterprise

        return await Enterprise.load(info, self.enterprise_id)

    @strawberry.field
    async def product(self, info: strawberry.Info[Context, None]) -> Product:
        row = await info.context.loaders.product.load(self.product_id)
        if row is None:
            raise NotFound("product not found")
        return Product.from_row(row)

    @strawberry.field
    async def institution(self, info: strawberry.Info[Context, None]) -> Institution:
        row = await info.context.loaders.institution.load(self.institution_id)
        if row is None:
            raise NotFound("institution not found")
        return Institution.from_row(row)

    @strawberry.field(description="The repayment schedule, in order.")
    async def schedule(self, info: strawberry.Info[Context, None]) -> list[Installment]:
        rows = await info.context.loaders.installments.load(self.pk)
        return [Installment.from_row(r) for r in rows]

    @strawberry.field(
        description="What settles the loan on a day (today when left out): everything due "
        "by then and the principal not yet due; interest not yet earned is waived."
    )
    async def payoff_amount(
        self, info: strawberry.Info[Context, None], as_of: date | None = None
    ) -> Decimal:
        if self.status is not LoanStatus.ACTIVE:
            return Decimal("0.00")
        rows = await info.context.loaders.installments.load(self.pk)
        return repayment.payoff_amount([line_of(r) for r in rows], paid_on=as_of or utcnow().date())

    @strawberry.field(description="Repayments received, oldest first.")
    async def repayments(self, info: strawberry.Info[Context, None]) -> list[Repayment]:
        rows = await info.context.loaders.repayments.load(self.pk)
        return [Repayment.from_row(r) for r in rows]

    @strawberry.field(
        description="Interest earned through accruedThrough and not yet paid (interest "
        "receivable in the ledger)."
    )
    async def accrued_interest(self, info: strawberry.Info[Context, None]) -> Decimal:
        if self.status is not LoanStatus.ACTIVE:
            return Decimal("0.00")
        rows = await info.context.loaders.installments.load(self.pk)
        product = await info.context.loaders.product.load(self.product_id)
        if product is None:
            raise NotFound("product not found")
        return charges.interest_receivable(
            [charges.row_of(r) for r in rows],
            disbursed_on=self.disbursed_on,
            through=self.accrued_through,
            day_count=product.day_count,
        )

    @strawberry.field(description="Late fees and penalty interest charged, by instalment.")
    async def charges(self, info: strawberry.Info[Context, None]) -> list[LoanCharge]:
        rows = await info.context.loaders.installments.load(self.pk)
        found: list[LoanCharge] = []
        for r in sorted(rows, key=lambda r: r.sequence):
            if r.late_fee_due:
                found.append(
                    LoanCharge(
                        kind=ChargeKind.LATE_FEE,
                        sequence=r.sequence,
                        charged_on=r.late_fee_charged_on,
                        amount=r.late_fee_due,
                        amount_paid=r.late_fee_paid,
                    )
                )
            if r.penalty_due:
                found.append(
                    LoanCharge(
                        kind=ChargeKind.PENALTY_INTEREST,
                        sequence=r.sequence,
                        charged_on=None,
                        amount=r.penalty_due,
                        amount_paid=r.penalty_paid,
                    )
                )
        return found

    @strawberry.field(description="The early-warning score of the last scan; none before one.")
    async def warning(
        self, info: strawberry.Info[Context, None]
    ) -> Annotated["LoanWarning", strawberry.lazy("api.risk.alerts")] | None:
        from api.risk.alerts import LoanWarning

        row = await info.context.loaders.loan_warning.load(self.pk)
        return None if row is None else LoanWarning.from_row(row)

    @strawberry.field(description="Changes proposed to the contract, oldest first.")
    async def amendments(
        self, info: strawberry.Info[Context, None]
    ) -> list[Annotated["LoanAmendment", strawberry.lazy("api.contracts.types")]]:
        from api.contracts.types import LoanAmendment

        rows = await info.context.loaders.amendments.load(self.pk)
        return [LoanAmendment.from_row(r) for r in rows]

    @strawberry.field(description="Every version of the contract, the original first.")
    async def contract_versions(
        self, info: strawberry.Info[Context, None]
    ) -> list[Annotated["ContractVersion", strawberry.lazy("api.contracts.types")]]:
        from api.contracts.types import ContractVersion

        rows = await info.context.loaders.contract_versions.load(self.pk)
        return [ContractVersion.from_row(r) for r in rows]

    @strawberry.field(
        description="The payoff on a day (today when left out), by kind: what settleLoan takes."
    )
    async def payoff_quote(
        self, info: strawberry.Info[Context, None], as_of: date | None = None
    ) -> Annotated["PayoffQuote", strawberry.lazy("api.contracts.termination")]:
        from api.contracts.termination import PayoffQuote
        from domain.contracts.termination import quote

        rows = await info.context.loaders.installments.load(self.pk)
        day = as_of or utcnow().date()
        lines = [line_of(r) for r in rows] if self.status is LoanStatus.ACTIVE else []
        return PayoffQuote.of(quote(lines, as_of=day))

    @strawberry.field(description="How the contract ended before its time, if it did.")
    async def terminations(
        self, info: strawberry.Info[Context, None]
    ) -> list[Annotated["LoanTermination", strawberry.lazy("api.contracts.termination")]]:
        from api.contracts.termination import terminations_of

        return await terminations_of(info, await info.context.loaders.terminations.load(self.pk))

    @strawberry.field(description="Money received after the loan was written off, oldest first.")
    async def recoveries(
        self, info: strawberry.Info[Context, None]
    ) -> list[Annotated["Recovery", strawberry.lazy("api.workout.recoveries")]]:
        from api.workout.recoveries import Recovery

        rows = await info.context.loaders.recoveries.load(self.pk)
        return [Recovery.from_row(r) for r in rows]

    @strawberry.field(
        description="Collateral pledged for the loan (released and realised items too), "
        "oldest first."
    )
    async def collateral(
        self, info: strawberry.Info[Context, None]
    ) -> list[Annotated["CollateralItem", strawberry.lazy("api.collateral.types")]]:
        from api.collateral.types import CollateralItem

        rows = await info.context.loaders.collateral_items.load(self.pk)
        return [CollateralItem.from_row(r) for r in rows]

    @strawberry.field(description="Guarantees given for the loan (ended ones too), oldest first.")
    async def guarantees(
        self, info: strawberry.Info[Context, None]
    ) -> list[Annotated["Guarantee", strawberry.lazy("api.collateral.types")]]:
        from api.collateral.types import Guarantee

        rows = await info.context.loaders.guarantees.load(self.pk)
        return [Guarantee.from_row(r) for r in rows]

    @strawberry.field(
        description="The stage, PD, LGD and ECL the newest close gave the loan; none before "
        "its first close."
    )
    async def credit_loss(
        self, info: strawberry.Info[Context, None]
    ) -> Annotated["LoanCreditLoss", strawberry.lazy("api.collateral.types")] | None:
        from api.collateral.types import LoanCreditLoss

        row = await info.context.loaders.loan_credit_loss.load(self.pk)
        return None if row is None else LoanCreditLoss.from_row(row)

    @classmethod
    def from_row(cls, row: LoanRow) -> Self:
        return cls(
            pk=row.id,
            principal=row.principal,
            annual_rate=Rate(row.annual_rate),
            term_months=row.term_months,
            repayment_method=row.repayment_method,
            disbursed_on=row.disbursed_on,
            maturity_on=row.maturity_on,
            status=row.status,
            outstanding_principal=row.outstanding_principal,
            days_past_due=row.days_past_due,
            delinquency_bucket=row.delinquency_bucket,
            closed_on=row.closed_on,
            aged_on=row.aged_on,
            written_off_on=row.written_off_on,
            write_off_reason=row.write_off_reason,
            accrued_through=row.accrued_through,
            forborne=row.forborne,
            version=row.version,
            application_id=row.application_id,
            enterprise_id=row.enterprise_id,
            product_id=row.product_id,
            institution_id=row.institution_id,
        )
