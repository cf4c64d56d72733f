"""Recoveries on written-off loans through GraphQL."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Self

import strawberry
from sqlalchemy.exc import IntegrityError

from api.access import classified, mutation
from api.context import Context
from api.identity.types import InvalidInputError
from api.lending.types import Loan
from api.outcomes import ConflictError, OverpaymentError, perform, pk_of
from api.relay import decode_pk
from domain.workout import recoveries as service
from domain.workout.models import Recovery as RecoveryRow


@classified(internal=["amount", "received_on", "idempotency_key", "recorded_at"])
@strawberry.type(description="Money received on a loan after it was written off.")
class Recovery:
    amount: Decimal
    received_on: date
    idempotency_key: str
    recorded_at: datetime

    @classmethod
    def from_row(cls, row: RecoveryRow) -> Self:
        return cls(
            amount=row.amount,
            received_on=row.received_on,
            idempotency_key=row.idempotency_key,
            recorded_at=row.recorded_at,
        )


@strawberry.input
class RecordRecoveryInput:
    loan_id: strawberry.ID
    idempotency_key: str = strawberry.field(
        description="Unique per recovery: the same key again records nothing new."
    )
    amount: Decimal
    received_on: date | None = strawberry.field(default=None, description="Today when left out.")
    collateral_item_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The pledged item the money was realised from: it becomes REALISED.",
    )
    guarantee_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="The active guarantee called for the money: it becomes CALLED (one of "
        "collateralItemId and guaranteeId at most).",
    )


@classified(public=["recovery", "loan", "replayed"])
@strawberry.type(description="A recovery as recorded, and its loan.")
class RecoveryRecorded:
    recovery: Recovery
    loan: Loan
    replayed: bool = strawberry.field(
        description="The idempotency key had been used: this is the first result again."
    )


RecordRecoveryResult = Annotated[
    RecoveryRecorded | OverpaymentError | ConflictError | InvalidInputError,
    strawberry.union("RecordRecoveryResult"),
]


@strawberry.type
class RecoveryMutations:
    @mutation(
        "recordRecovery",
        description="Record money received on a written-off loan (at most what was lost: "
        "Overpayment.payoffAmount says what is left).",
    )
    async def record_recovery(
        self, info: strawberry.Info[Context, None], input: RecordRecoveryInput
    ) -> RecordRecoveryResult:
        pk = pk_of(input.loan_id, "Loan", field="loanId")
        item_id = decode_pk(input.collateral_item_id, "CollateralItem", field="collateralItemId")
        guarantee_id = decode_pk(input.guarantee_id, "Guarantee", field="guaranteeId")

        async def record() -> Any:
            return await perform(
                info,
                lambda s, a: service.record_recovery(
                    s,
                    a,
                    pk,
                    idempotency_key=input.idempotency_key,
                    amount=input.amount,
                    received_on=input.received_on,
                    collateral_item_id=item_id,
                    guarantee_id=guarantee_id,
                ),
            )

        try:
            result = await record()
        except IntegrityError:
            # The same key arrived twice at once: asking again answers the first result.
            result = await record()
        if isinstance(result, service.Recovered):
            return RecoveryRecorded(
                recovery=Recovery.from_row(result.recovery),
                loan=Loan.from_row(result.loan),
                replayed=result.replayed,
            )
        refused: RecordRecoveryResult = result
        return refused
