"""Retention for privacy officers: schedules, the dry run, runs and their receipts, holds."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import Annotated, Self

import strawberry
from strawberry import relay

from api.access import classified, mutation
from api.context import Context
from api.identity.types import InvalidInputError
from api.outcomes import ConflictError, perform
from api.relay import decode_global_id
from domain.audit.chain import SealKey
from domain.privacy import retention as service
from domain.privacy.models import LegalHold as LegalHoldRow
from kernel.errors import InvalidInput

RUNS_SHOWN_MAX = 100


def _enterprise_gid(pk: uuid.UUID) -> strawberry.ID:
    return strawberry.ID(relay.to_base64("Enterprise", str(pk)))


@strawberry.enum(description="A category of subject with its own retention schedule.")
class RetentionCategory(enum.Enum):
    REJECTED_APPLICANT = service.Category.REJECTED_APPLICANT.value
    CLOSED_BORROWER = service.Category.CLOSED_BORROWER.value


@strawberry.enum(description="What keeps a due subject from being purged.")
class RetentionHold(enum.Enum):
    ACTIVE_LOAN = service.Hold.ACTIVE_LOAN.value
    WRITTEN_OFF_LOAN = service.Hold.WRITTEN_OFF_LOAN.value
    APPLICATION_IN_PROGRESS = service.Hold.APPLICATION_IN_PROGRESS.value
    OPEN_SUBJECT_REQUEST = service.Hold.OPEN_SUBJECT_REQUEST.value
    LEGAL_HOLD = service.Hold.LEGAL_HOLD.value


@classified(internal=["category", "months", "version"])
@strawberry.type(
    description="How long a category is kept (domain/privacy/retention_schedules.csv)."
)
class RetentionSchedule:
    category: RetentionCategory
    months: int = strawberry.field(description="Kept this many months after its clock starts.")
    version: str = strawberry.field(description="The schedule table's version (SHA-256 prefix).")


@classified(internal=["subject_id", "category", "since", "due_on", "holds"])
@strawberry.type(description="A subject due for purging, or due but held.")
class RetentionPlanItem:
    subject_id: strawberry.ID = strawberry.field(description="The Enterprise.")
    category: RetentionCategory
    since: date = strawberry.field(description="When its clock started.")
    due_on: date
    holds: list[RetentionHold]

    @classmethod
    def of(cls, item: service.Item) -> Self:
        return cls(
            subject_id=_enterprise_gid(item.subject_id),
            category=RetentionCategory(item.category.value),
            since=item.since,
            due_on=item.due_on,
            holds=[RetentionHold(h.value) for h in item.holds],
        )


@classified(internal=["schedule_version", "as_of", "due", "held"])
@strawberry.type(description="What a retention run would purge now: the dry run.")
class RetentionPlan:
    schedule_version: str
    as_of: date
    due: list[RetentionPlanItem] = strawberry.field(description="Purged by a run now.")
    held: list[RetentionPlanItem] = strawberry.field(description="Due, but kept by a hold.")


@classified(internal=["category", "subject_ids"])
@strawberry.type(description="The subjects of one category a run crypto-shredded.")
class RetentionPurge:
    category: RetentionCategory
    subject_ids: list[strawberry.ID] = strawberry.field(description="Enterprise ids.")


@classified(internal=["id", "ran_at", "schedule_version", "total", "purged"])
@strawberry.type(description="The receipt of a retention run (append-only).")
class RetentionRun:
    id: strawberry.ID = strawberry.field(
        description="The receipt's own key (a UUID): an external reference, not a node."
    )
    ran_at: datetime
    schedule_version: str
    total: int = strawberry.field(description="How many subjects were purged.")
    purged: list[RetentionPurge]

    @classmethod
    def of(cls, receipt: service.Receipt) -> Self:
        return cls(
            id=strawberry.ID(str(receipt.id)),
            ran_at=receipt.ran_at,
            schedule_version=receipt.schedule_version,
            total=receipt.total,
            purged=[
                RetentionPurge(
                    category=RetentionCategory(category.value),
                    subject_ids=[_enterprise_gid(i) for i in ids],
                )
                for category, ids in receipt.purged.items()
            ],
        )


@classified(internal=["id", "subject_id", "reason", "set_at", "released_at"])
@strawberry.type(description="A privacy officer's hold: no retention purge while it stands.")
class LegalHold:
    id: strawberry.ID = strawberry.field(
        description="The hold's own key (a UUID): an external reference, not a node."
    )
    subject_id: strawberry.ID = strawberry.field(description="The Enterprise.")
    reason: str
    set_at: datetime
    released_at: datetime | None

    @classmethod
    def from_row(cls, row: LegalHoldRow) -> Self:
        return cls(
            id=strawberry.ID(str(row.id)),
            subject_id=_enterprise_gid(row.subject_id),
            reason=row.reason,
            set_at=row.set_at,
            released_at=row.released_at,
        )


@strawberry.input
class SetLegalHoldInput:
    subject_id: strawberry.ID = strawberry.field(description="An Enterprise id.")
    reason: str = strawberry.field(description="Why (at least 10 characters).")


@strawberry.input
class ReleaseLegalHoldInput:
    hold_id: strawberry.ID = strawberry.field(description="The LegalHold's id.")


RunRetentionResult = Annotated[RetentionRun | ConflictError, strawberry.union("RunRetentionResult")]
LegalHoldResult = Annotated[
    LegalHold | ConflictError | InvalidInputError, strawberry.union("LegalHoldResult")
]


def _shown_hold(result: object) -> LegalHoldResult:
    if isinstance(result, LegalHoldRow):
        return LegalHold.from_row(result)
    return result  # type: ignore[return-value]


def _hold_pk(value: strawberry.ID) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InvalidInput("holdId: not a legal hold id", field="holdId") from None


@classified(public=["retention_schedules", "retention_plan", "retention_runs"])
@strawberry.type
class RetentionQueries:
    @strawberry.field(description="The retention schedule of every category.")
    def retention_schedules(self) -> list[RetentionSchedule]:
        table = service.schedules()
        return [
            RetentionSchedule(
                category=RetentionCategory(c.value), months=months, version=table.version
            )
            for c, months in table.months.items()
        ]

    @strawberry.field(description="The dry run: what a retention run would purge now.")
    async def retention_plan(self, info: strawberry.Info[Context, None]) -> RetentionPlan:
        async with info.context.sessions() as session:
            plan = await service.plan(session)
        return RetentionPlan(
            schedule_version=plan.schedule_version,
            as_of=plan.as_of,
            due=[RetentionPlanItem.of(i) for i in plan.due],
            held=[RetentionPlanItem.of(i) for i in plan.held],
        )

    @strawberry.field(description="Receipts of retention runs, newest first (at most 100).")
    async def retention_runs(
        self, info: strawberry.Info[Context, None], last: int = 20
    ) -> list[RetentionRun]:
        async with info.context.sessions() as session:
            found = await service.runs(session, limit=max(1, min(last, RUNS_SHOWN_MAX)))
        return [RetentionRun.of(r) for r in found]


@strawberry.type
class RetentionMutations:
    @mutation(
        "runRetention",
        description="Crypto-shred every subject the retention plan lists as due, purge the "
        "audit and access logs' sealed batches past their schedule, and write the receipts.",
    )
    async def run_retention(self, info: strawberry.Info[Context, None]) -> RunRetentionResult:
        result = await perform(
            info,
            lambda s, a: service.run(
                s,
                a.keys,
                viewer=a.viewer,
                request_id=a.request_id,
                seal_key=SealKey(info.context.settings.audit_signing_key()),
            ),
        )
        if isinstance(result, service.Receipt):
            return RetentionRun.of(result)
        return result  # type: ignore[no-any-return]

    @mutation("setLegalHold", description="Keep an enterprise from any retention purge.")
    async def set_legal_hold(
        self, info: strawberry.Info[Context, None], input: SetLegalHoldInput
    ) -> LegalHoldResult:
        subject_id = decode_global_id(input.subject_id, expected="Enterprise", field="subjectId")[1]
        return _shown_hold(
            await perform(
                info,
                lambda s, a: service.set_hold(
                    s, viewer=a.viewer, subject_id=subject_id, reason=input.reason
                ),
            )
        )

    @mutation("releaseLegalHold", description="End a legal hold; the purge may go on.")
    async def release_legal_hold(
        self, info: strawberry.Info[Context, None], input: ReleaseLegalHoldInput
    ) -> LegalHoldResult:
        return _shown_hold(
            await perform(
                info,
                lambda s, a: service.release_hold(
                    s, viewer=a.viewer, hold_id=_hold_pk(input.hold_id)
                ),
            )
        )
