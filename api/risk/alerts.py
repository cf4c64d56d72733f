"""Risk alerts over GraphQL: the list, the work on one, the live feed, and loans' warnings."""

import uuid
from collections.abc import AsyncGenerator
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Self, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from api.access import classified, mutation
from api.context import Context
from api.identity.types import InvalidInputError, User, person
from api.outcomes import ConflictError, perform, pk_of
from api.relay import (
    Connection,
    ListingRequest,
    decode_pk,
    encode_pk,
    listed_for,
)
from domain.risk import alerts
from domain.risk.models import (
    AlertActionKind,
    AlertSeverity,
    AlertStatus,
    DisposalAction,
)
from domain.risk.models import LoanWarning as LoanWarningRow
from domain.risk.models import RiskAlert as RiskAlertRow
from domain.risk.models import RiskAlertAction as RiskAlertActionRow
from domain.settings import Settings
from kernel import events
from kernel.base import utcnow
from kernel.errors import Forbidden, Unauthenticated

if TYPE_CHECKING:
    from api.lending.types import Loan
    from api.workout.cases import WorkoutCase

AlertStatusGQL = strawberry.enum(AlertStatus, name="AlertStatus")
AlertActionKindGQL = strawberry.enum(AlertActionKind, name="AlertActionKind")


@classified(
    internal=[
        "kind",
        "from_status",
        "to_status",
        "disposal",
        "assignee",
        "note",
        "actor",
        "at",
    ]
)
@strawberry.type(description="One step in an alert's life.")
class RiskAlertAction:
    kind: AlertActionKind
    from_status: AlertStatus | None
    to_status: AlertStatus
    disposal: DisposalAction | None
    assignee_pk: strawberry.Private[uuid.UUID | None]
    note: str
    actor_pk: strawberry.Private[uuid.UUID | None]
    at: datetime

    @strawberry.field(description="Whom it was assigned to (ASSIGN); null if you may not see them.")
    async def assignee(self, info: strawberry.Info[Context, None]) -> User | None:
        return await person(info, self.assignee_pk)

    @strawberry.field(description="Who did it; null: the system did it, or you may not see them.")
    async def actor(self, info: strawberry.Info[Context, None]) -> User | None:
        return await person(info, self.actor_pk)

    @classmethod
    def from_row(cls, row: RiskAlertActionRow) -> Self:
        return cls(
            kind=row.kind,
            from_status=row.from_status,
            to_status=row.to_status,
            disposal=row.disposal,
            assignee_pk=row.assignee_id,
            note=row.note,
            actor_pk=row.actor_id,
            at=row.at,
        )


@classified(
    public=["id"],
    internal=[
        "rule_code",
        "rule_version",
        "severity",
        "status",
        "title",
        "detail",
        "action",
        "disposal",
        "indicators",
        "opened_at",
        "due_at",
        "acknowledged_at",
        "escalated_at",
        "escalations",
        "resolved_at",
        "assignee",
        "institution_id",
        "version",
        "overdue",
        "loan",
        "history",
        "workout_case",
    ],
)
@strawberry.type(description="An early warning raised on a loan (or, platform-wide, a model).")
class RiskAlert(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    rule_code: str
    rule_version: int | None
    severity: AlertSeverity
    status: AlertStatus
    title: str
    detail: str = strawberry.field(description="The rule and the values that made it fire.")
    action: DisposalAction | None = strawberry.field(description="What the rule recommends.")
    disposal: DisposalAction | None = strawberry.field(description="What staff last did.")
    indicators: JSON | None
    opened_at: datetime
    due_at: datetime | None = strawberry.field(description="Escalates by itself after this.")
    acknowledged_at: datetime | None
    escalated_at: datetime | None
    escalations: int
    resolved_at: datetime | None
    assignee_pk: strawberry.Private[uuid.UUID | None]
    institution_id: strawberry.ID | None
    version: int
    loan_id: strawberry.Private[uuid.UUID | None]

    @strawberry.field(description="Who works on it; null if nobody, or you may not see them.")
    async def assignee(self, info: strawberry.Info[Context, None]) -> User | None:
        return await person(info, self.assignee_pk)

    @strawberry.field(description="Unresolved and past its due time.")
    def overdue(self) -> bool:
        return (
            self.status is not AlertStatus.RESOLVED
            and self.due_at is not None
            and self.due_at < utcnow()
        )

    @strawberry.field
    async def loan(
        self, info: strawberry.Info[Context, None]
    ) -> Annotated["Loan", strawberry.lazy("api.lending.types")] | None:
        from api.lending.types import Loan

        if self.loan_id is None:
            return None
        row = await info.context.loaders.loan.load(self.loan_id)
        return None if row is None else Loan.from_row(row)

    @strawberry.field(description="The workout case its disposal opened or joined, if any.")
    async def workout_case(
        self, info: strawberry.Info[Context, None]
    ) -> Annotated["WorkoutCase", strawberry.lazy("api.workout.cases")] | None:
        from api.workout.cases import WorkoutCase

        row = await info.context.loaders.workout_case_of_alert.load(self.pk)
        return None if row is None else WorkoutCase.from_row(row)

    @strawberry.field(description="Every step taken on the alert, oldest first.")
    async def history(self, info: strawberry.Info[Context, None]) -> list[RiskAlertAction]:
        rows = await info.context.loaders.alert_history.load(self.pk)
        return [RiskAlertAction.from_row(r) for r in rows]

    @classmethod
    def from_row(cls, row: RiskAlertRow) -> Self:
        return cls(
            pk=row.id,
            rule_code=row.rule_code,
            rule_version=row.rule_version,
            severity=row.severity,
            status=row.status,
            title=row.title,
            detail=row.detail,
            action=row.action,
            disposal=row.disposal,
            indicators=cast(JSON, row.indicators),
            opened_at=row.opened_at,
            due_at=row.due_at,
            acknowledged_at=row.acknowledged_at,
            escalated_at=row.escalated_at,
            escalations=row.escalations,
            resolved_at=row.resolved_at,
            assignee_pk=row.assignee_id,
            institution_id=encode_pk(row.institution_id, "Institution"),
            version=row.version,
            loan_id=row.loan_id,
        )


@classified(internal=["score", "level", "levels", "indicators", "system_version", "scanned_at"])
@strawberry.type(description="A loan's composite early-warning score, as the last scan found it.")
class LoanWarning:
    score: float = strawberry.field(description="0 (all green) to 100 (all red).")
    level: str = strawberry.field(description="green, yellow, orange or red.")
    levels: JSON = strawberry.field(description="Each weighed indicator's level.")
    indicators: JSON = strawberry.field(description="Every catalogue indicator's value.")
    system_version: int
    scanned_at: datetime

    @classmethod
    def from_row(cls, row: LoanWarningRow) -> Self:
        return cls(
            score=row.score,
            level=row.level,
            levels=cast(JSON, row.levels),
            indicators=cast(JSON, row.indicators),
            system_version=row.system_version,
            scanned_at=row.scanned_at,
        )


@strawberry.input
class RiskAlertFilter:
    statuses: list[AlertStatus] | None = None
    severities: list[AlertSeverity] | None = None
    institution_id: strawberry.ID | None = None
    loan_id: strawberry.ID | None = None
    rule_code: str | None = None
    assignee_id: strawberry.ID | None = None
    overdue: bool | None = strawberry.field(
        default=None, description="Only unresolved alerts past their due time."
    )


def _domain_filter(flt: RiskAlertFilter | None) -> alerts.AlertFilter:
    if flt is None:
        return alerts.AlertFilter()
    return alerts.AlertFilter(
        statuses=flt.statuses,
        severities=flt.severities,
        institution_id=decode_pk(flt.institution_id, "Institution"),
        loan_id=decode_pk(flt.loan_id, "Loan"),
        rule_code=flt.rule_code,
        assignee_id=decode_pk(flt.assignee_id, "User"),
        overdue_at=utcnow() if flt.overdue else None,
    )


def listing_request(
    settings: Settings,
    first: int | None = None,
    after: str | None = None,
    filter: RiskAlertFilter | None = None,
) -> ListingRequest[alerts.AlertFilter]:
    return ListingRequest.read(
        settings, keyset=alerts.NEWEST, flt=_domain_filter(filter), first=first, after=after
    )


@strawberry.input
class UpdateRiskAlertInput:
    alert_id: strawberry.ID
    action: AlertActionKind = strawberry.field(
        description="ACKNOWLEDGE, ASSIGN (with assigneeId), DISPOSE (with disposal and a "
        "note), ESCALATE, or RESOLVE (with a note). RAISE is the scan's own."
    )
    note: str = ""
    assignee_id: strawberry.ID | None = None
    disposal: DisposalAction | None = None
    expected_version: int | None = None


UpdateRiskAlertResult = Annotated[
    RiskAlert | ConflictError | InvalidInputError, strawberry.union("UpdateRiskAlertResult")
]


@classified(internal=["risk_alerts"])
@strawberry.type
class RiskAlertQueries:
    @strawberry.field(description="Alerts you may see, newest first.")
    async def risk_alerts(
        self,
        info: strawberry.Info[Context, None],
        first: int | None = None,
        after: str | None = None,
        filter: RiskAlertFilter | None = None,
    ) -> Connection[RiskAlert]:
        ctx = info.context
        asked = listing_request(ctx.settings, first, after, filter)
        return await listed_for(
            ctx.sessions,
            ctx.viewer,
            asked,
            alerts.list_alerts,
            alerts.count_alerts,
            RiskAlert.from_row,
        )


@strawberry.type
class RiskAlertMutations:
    @mutation(
        "updateRiskAlert",
        description="Work an alert: acknowledge, assign, record a disposal, escalate, resolve.",
    )
    async def update_risk_alert(
        self, info: strawberry.Info[Context, None], input: UpdateRiskAlertInput
    ) -> UpdateRiskAlertResult:
        if input.action is AlertActionKind.RAISE:
            return InvalidInputError.at("alerts are raised by scans", "action")
        change = alerts.AlertChange(
            alert_id=pk_of(input.alert_id, "RiskAlert", field="alertId"),
            action=input.action,
            note=input.note,
            assignee_id=decode_pk(input.assignee_id, "User", field="assigneeId"),
            disposal=input.disposal,
            expected_version=input.expected_version,
        )
        result: Any = await perform(
            info,
            lambda s, a: alerts.update_alert(s, a.viewer, change, request_id=a.request_id),
        )
        return RiskAlert.from_row(result) if isinstance(result, RiskAlertRow) else result


@classified(internal=["risk_alerts"])
@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="New and escalated alerts you may see, as they happen (graphql-transport-ws)."
    )
    async def risk_alerts(
        self, info: strawberry.Info[Context, None], filter: RiskAlertFilter | None = None
    ) -> AsyncGenerator[RiskAlert, None]:
        ctx = info.context
        if ctx.viewer.is_anonymous:
            raise Unauthenticated("sign in to follow alerts")
        if not ctx.viewer.sees_all_tenants and not ctx.viewer.institution_ids:
            raise Forbidden("the alert feed is for institution staff and platform risk officers")
        # "Overdue" is a moment, not a stream: new and escalated alerts are never overdue.
        flt = replace(_domain_filter(filter), overdue_at=None)
        async with events.hub().subscribe(events.ALERTS_CHANNEL) as feed:
            async for payload in feed:
                institution = payload.get("institution", "")
                if not ctx.viewer.sees_all_tenants and (
                    not institution or uuid.UUID(institution) not in ctx.viewer.institution_ids
                ):
                    continue  # another tenant's event: skipped without reading anything
                ids = [uuid.UUID(i) for i in payload.get("alerts", "").split(",") if i]
                if not ids:
                    continue
                await ctx.still_signed_in()  # a revoked session ends the feed here
                # Loaded as this viewer, through the same row scope as the list: an
                # alert of another institution is never read, whatever the event says.
                async with ctx.sessions() as session:
                    rows = await alerts.matching(
                        session, viewer=ctx.viewer, flt=_with_ids(flt, ids)
                    )
                ctx.__dict__.pop("loaders", None)  # each event reads fresh data
                for row in rows:
                    yield RiskAlert.from_row(row)


def _with_ids(flt: alerts.AlertFilter, ids: list[uuid.UUID]) -> alerts.AlertFilter:
    return replace(flt, ids=ids)
