"""Alert lifecycle: who may see an alert, how staff work it, and how overdue ones escalate.

States and moves (anything else is INVALID_TRANSITION)::

    OPEN ----------> ACKNOWLEDGED ----> IN_PROGRESS ----> RESOLVED
      \\                  |                 |                ^
       +-> ESCALATED <----+-----------------+                |
              +--------------------------------------------+ (via acknowledge/dispose/resolve)

``assign`` keeps the state (an OPEN alert becomes ACKNOWLEDGED: someone owns it now);
``dispose`` records a disposal action and moves to IN_PROGRESS; ``escalate`` is manual or
the SLA job's; ``resolve`` needs a note. Every step is an alert action row and an audit
entry; a change made on a stale version is a CONFLICT.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, false, func, insert, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit import service as audit
from domain.identity.models import INSTITUTION_ROLES, Membership, Role
from domain.identity.viewer import Viewer
from domain.lending.models import Loan, LoanStatus
from domain.risk.feed import announce
from domain.risk.models import (
    AlertActionKind,
    AlertSeverity,
    AlertStatus,
    DisposalAction,
    RiskAlert,
    RiskAlertAction,
)
from domain.risk.scan import SLA
from domain.workout import cases as workout
from kernel.base import new_id, utcnow
from kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from kernel.pagination import Keyset, Page, page_from

NEWEST = Keyset("newest", (RiskAlert.id,), descending=True)
UNRESOLVED = (
    AlertStatus.OPEN,
    AlertStatus.ACKNOWLEDGED,
    AlertStatus.IN_PROGRESS,
    AlertStatus.ESCALATED,
)
MAX_ESCALATIONS = 3
_STAFF = INSTITUTION_ROLES - {Role.PARTNER_SERVICE}


class InvalidAlertTransition(InvalidInput):
    code = "INVALID_TRANSITION"

    def __init__(self, current: AlertStatus, action: AlertActionKind) -> None:
        super().__init__(
            f"an alert that is {current.value} cannot be sent to {action.value}", field="action"
        )
        self.current = current
        self.action = action


# --------------------------------------------------------------------------- reading


def visible(viewer: Viewer, rows: type[RiskAlert] = RiskAlert) -> ColumnElement[bool]:
    """Staff see their institutions' alerts; platform roles see all, platform alerts too."""
    if viewer.sees_all_tenants:
        return true()
    if not viewer.institution_ids:
        return false()
    return rows.institution_id.in_(viewer.institution_ids)


def scoped(stmt: Select[Any], viewer: Viewer) -> Select[Any]:
    return stmt.where(visible(viewer))


@dataclass(frozen=True, slots=True)
class AlertFilter:
    statuses: Sequence[AlertStatus] | None = None
    severities: Sequence[AlertSeverity] | None = None
    institution_id: uuid.UUID | None = None
    loan_id: uuid.UUID | None = None
    rule_code: str | None = None
    assignee_id: uuid.UUID | None = None
    overdue_at: datetime | None = None  # only alerts past their due time at this moment
    ids: Sequence[uuid.UUID] | None = None


def listing(viewer: Viewer, flt: AlertFilter) -> Select[Any]:
    """The alerts a list shows: the viewer's rows, filtered (unordered)."""
    stmt = scoped(select(RiskAlert), viewer)
    if flt.statuses:
        stmt = stmt.where(RiskAlert.status.in_(flt.statuses))
    if flt.severities:
        stmt = stmt.where(RiskAlert.severity.in_(flt.severities))
    if flt.institution_id is not None:
        stmt = stmt.where(RiskAlert.institution_id == flt.institution_id)
    if flt.loan_id is not None:
        stmt = stmt.where(RiskAlert.loan_id == flt.loan_id)
    if flt.rule_code is not None:
        stmt = stmt.where(RiskAlert.rule_code == flt.rule_code)
    if flt.assignee_id is not None:
        stmt = stmt.where(RiskAlert.assignee_id == flt.assignee_id)
    if flt.ids is not None:
        stmt = stmt.where(RiskAlert.id.in_(flt.ids))
    if flt.overdue_at is not None:
        stmt = stmt.where(RiskAlert.status.in_(UNRESOLVED), RiskAlert.due_at < flt.overdue_at)
    return stmt


async def list_alerts(
    session: AsyncSession,
    *,
    viewer: Viewer,
    flt: AlertFilter,
    first: int,
    after: tuple[Any, ...] | None,
) -> Page[RiskAlert]:
    stmt = NEWEST.apply(listing(viewer, flt), after=after, limit=first + 1)
    return page_from((await session.scalars(stmt)).all(), first)


async def count_alerts(session: AsyncSession, *, viewer: Viewer, flt: AlertFilter) -> int:
    stmt = select(func.count()).select_from(listing(viewer, flt).subquery())
    return int((await session.execute(stmt)).scalar_one())


async def alerts_by_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[RiskAlert]:
    stmt = scoped(select(RiskAlert).where(RiskAlert.id.in_(ids)), viewer)
    return (await session.scalars(stmt.order_by(RiskAlert.id))).all()


async def matching(
    session: AsyncSession, *, viewer: Viewer, flt: AlertFilter
) -> Sequence[RiskAlert]:
    """Every alert the viewer may see that passes the filter, oldest first (a live feed)."""
    stmt = listing(viewer, flt).order_by(RiskAlert.id)
    return (await session.scalars(stmt)).all()


async def actions_by_alert_ids(
    session: AsyncSession, *, ids: Sequence[uuid.UUID]
) -> Sequence[RiskAlertAction]:
    stmt = (
        select(RiskAlertAction)
        .where(RiskAlertAction.alert_id.in_(ids))
        .order_by(RiskAlertAction.alert_id, RiskAlertAction.at, RiskAlertAction.id)
    )
    return (await session.scalars(stmt)).all()


# --------------------------------------------------------------------------- working


@dataclass(frozen=True)
class AlertChange:
    alert_id: uuid.UUID
    action: AlertActionKind
    note: str = ""
    assignee_id: uuid.UUID | None = None
    disposal: DisposalAction | None = None
    expected_version: int | None = None


_MOVES: dict[AlertActionKind, dict[AlertStatus, AlertStatus]] = {
    AlertActionKind.ACKNOWLEDGE: {
        AlertStatus.OPEN: AlertStatus.ACKNOWLEDGED,
        AlertStatus.ESCALATED: AlertStatus.ACKNOWLEDGED,
    },
    AlertActionKind.ASSIGN: {
        AlertStatus.OPEN: AlertStatus.ACKNOWLEDGED,
        AlertStatus.ACKNOWLEDGED: AlertStatus.ACKNOWLEDGED,
        AlertStatus.IN_PROGRESS: AlertStatus.IN_PROGRESS,
        AlertStatus.ESCALATED: AlertStatus.ESCALATED,
    },
    AlertActionKind.DISPOSE: dict.fromkeys(UNRESOLVED, AlertStatus.IN_PROGRESS),
    AlertActionKind.ESCALATE: {
        s: AlertStatus.ESCALATED for s in UNRESOLVED if s is not AlertStatus.ESCALATED
    },
    AlertActionKind.RESOLVE: dict.fromkeys(UNRESOLVED, AlertStatus.RESOLVED),
}


async def _staff_of(
    session: AsyncSession, institution_id: uuid.UUID | None, user_id: uuid.UUID
) -> bool:
    """Whether a user works the alerts of an institution (None: the platform's own)."""
    holds: tuple[ColumnElement[bool], ...]
    if institution_id is None:
        holds = Membership.institution_id.is_(None), Membership.role == Role.PLATFORM_RISK_OFFICER
    else:
        holds = Membership.institution_id == institution_id, Membership.role.in_(_STAFF)
    stmt = select(Membership.id).where(Membership.user_id == user_id, *holds)
    return (await session.scalar(stmt.limit(1))) is not None


def _may_work(viewer: Viewer, alert: RiskAlert) -> None:
    if alert.institution_id is None:
        if not viewer.sees_all_tenants:
            raise Forbidden("platform alerts are worked by platform staff")
        return
    if not viewer.institution_roles.get(alert.institution_id, frozenset()) & _STAFF:
        raise Forbidden("an alert is worked by its institution's staff")


async def update_alert(
    session: AsyncSession, viewer: Viewer, change: AlertChange, *, request_id: str | None = None
) -> RiskAlert:
    rows = await alerts_by_ids(session, viewer=viewer, ids=[change.alert_id])
    if not rows:
        raise NotFound("no such alert")
    alert = rows[0]
    _may_work(viewer, alert)
    if viewer.user_id is None:
        raise Forbidden("alerts are worked by people")
    if change.expected_version is not None and change.expected_version != alert.version:
        raise Conflict("the alert changed since you read it; reload and try again")
    target = _MOVES[change.action].get(alert.status)
    if target is None:
        raise InvalidAlertTransition(alert.status, change.action)
    note = change.note.strip()
    now = utcnow()
    match change.action:
        case AlertActionKind.ASSIGN:
            if change.assignee_id is None:
                raise InvalidInput("say whom to assign the alert to", field="assigneeId")
            if not await _staff_of(session, alert.institution_id, change.assignee_id):
                raise InvalidInput(
                    "an alert is assigned to staff of its own institution", field="assigneeId"
                )
            alert.assignee_id = change.assignee_id
        case AlertActionKind.DISPOSE:
            if change.disposal is None:
                raise InvalidInput("say which disposal action was taken", field="disposal")
            if len(note) < 10:
                raise InvalidInput(
                    "describe the disposal action in at least 10 characters", field="note"
                )
            alert.disposal = change.disposal
        case AlertActionKind.ESCALATE:
            alert.escalations += 1
            alert.escalated_at = now
            alert.due_at = now + SLA[alert.severity] / 2
        case AlertActionKind.RESOLVE:
            if len(note) < 10:
                raise InvalidInput(
                    "say how the alert was resolved, in at least 10 characters", field="note"
                )
            alert.resolved_at = now
    if target is AlertStatus.ACKNOWLEDGED and alert.acknowledged_at is None:
        alert.acknowledged_at = now
    previous = alert.status
    alert.status = target
    session.add(
        RiskAlertAction(
            alert_id=alert.id,
            kind=change.action,
            from_status=previous,
            to_status=target,
            disposal=change.disposal if change.action is AlertActionKind.DISPOSE else None,
            assignee_id=alert.assignee_id if change.action is AlertActionKind.ASSIGN else None,
            note=note,
            actor_id=viewer.user_id,
            at=now,
        )
    )
    await session.flush()  # the version column catches a concurrent change here
    if change.action is AlertActionKind.DISPOSE:
        # A workout disposal opens (or joins) the loan's workout case, linked to the alert.
        await workout.open_for_alert(session, viewer, alert, request_id=request_id)
    audit.record(
        session,
        action=f"risk_alert.{change.action.value}",
        entity_type="RiskAlert",
        entity_id=alert.id,
        actor_id=viewer.user_id,
        request_id=request_id,
        from_status=previous.value,
        to_status=target.value,
        disposal=change.disposal.value if change.disposal else None,
        assignee=str(change.assignee_id) if change.assignee_id else None,
    )
    if target is AlertStatus.ESCALATED:
        await announce(session, [(alert.id, alert.institution_id)])
    return alert


async def escalate_overdue(session: AsyncSession, *, now: datetime | None = None) -> int:
    """Escalate every unresolved alert past its due time, set-wise; returns how many.

    The conditions are in the UPDATE itself, so an alert resolved (or escalated by another
    worker) between the read and the write is left alone; alerts of loans no longer
    active wait for staff instead of escalating on.
    """
    now = now or utcnow()
    live = select(Loan.id).where(Loan.status == LoanStatus.ACTIVE)
    overdue = (
        RiskAlert.status.in_(UNRESOLVED),
        RiskAlert.due_at < now,
        RiskAlert.escalations < MAX_ESCALATIONS,
        or_(RiskAlert.loan_id.is_(None), RiskAlert.loan_id.in_(live)),
    )
    due = (
        await session.execute(
            select(RiskAlert.id, RiskAlert.status, RiskAlert.severity).where(*overdue)
        )
    ).all()
    if not due:
        return 0
    was = {row.id: row.status for row in due}
    moved: list[tuple[uuid.UUID, uuid.UUID | None]] = []
    for severity in {row.severity for row in due}:
        ids = [row.id for row in due if row.severity is severity]
        result = await session.execute(
            update(RiskAlert)
            .where(RiskAlert.id.in_(ids), *overdue)
            .values(
                status=AlertStatus.ESCALATED,
                escalated_at=now,
                escalations=RiskAlert.escalations + 1,
                due_at=now + SLA[severity] / 2,
                version=RiskAlert.version + 1,
            )
            .returning(RiskAlert.id, RiskAlert.institution_id)
            .execution_options(synchronize_session=False)
        )
        moved.extend((row[0], row[1]) for row in result)
    if not moved:
        return 0
    await session.execute(
        insert(RiskAlertAction),
        [
            {
                "id": new_id(),
                "alert_id": alert_id,
                "kind": AlertActionKind.ESCALATE,
                "from_status": was[alert_id],
                "to_status": AlertStatus.ESCALATED,
                "note": "past its SLA",
                "at": now,
            }
            for alert_id, _ in moved
        ],
    )
    await audit.record_many(
        session,
        action="risk_alert.escalate",
        entity_type="RiskAlert",
        entries=(
            (alert_id, {"from_status": was[alert_id].value, "reason": "past its SLA"})
            for alert_id, _ in moved
        ),
        at=now,
    )
    await announce(session, moved)
    return len(moved)
