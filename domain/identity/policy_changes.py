"""Changes of the authorization policy, widened only with four eyes.

Adding an allow, or removing a deny (or a role inheritance), widens what someone may
do: it waits as a pending change until a second platform admin approves it
(``domain.four_eyes``, shared with masking policies). Adding a deny or removing an
allow narrows access and applies at once. An applied widening can be rolled back at
once (that narrows); undoing a narrowing widens, so it is proposed as a new change.

Threat model: one platform admin, careless or coerced, must not grant access alone;
narrowing is always safe to do at once. Every step is in the audit log, and an
applied change bumps the policy counter so every worker reloads the policy.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from domain import four_eyes
from domain.audit.service import record
from domain.four_eyes import ACTIVE, ROLLED_BACK
from domain.identity import service
from domain.identity.authorization import bump_version
from domain.identity.models import PolicyChange, PolicyRule, Role
from domain.identity.service import Origin
from domain.identity.viewer import Viewer
from kernel.base import utcnow
from kernel.errors import Conflict, NotFound

ADD = "add"
REMOVE = "remove"
WHAT = "policy change"


def widens(*, kind: str, ptype: str, effect: str) -> bool:
    """Whether a change lets someone do more: only adding a deny or removing an allow
    certainly does not."""
    narrows = ptype == "p" and (
        (kind == ADD and effect == "deny") or (kind == REMOVE and effect == "allow")
    )
    return not narrows


def _audit(
    session: AsyncSession, action: str, change: PolicyChange, viewer: Viewer, origin: Origin
) -> None:
    record(
        session,
        action=action,
        entity_type="PolicyChange",
        entity_id=change.id,
        actor_id=viewer.user_id,
        request_id=origin.request_id,
        kind=change.kind,
        rule=", ".join((change.ptype, change.v0, change.v1, change.v2, change.v3, change.v4)),
        widens=change.widens,
        status=change.status,
    )


async def _apply(
    session: AsyncSession, change: PolicyChange, *, viewer: Viewer, origin: Origin
) -> None:
    """The change made to the rules (audited there, the counter bumped)."""
    if change.kind == ADD:
        rule = await service.add_policy_rule(
            session,
            viewer=viewer,
            subject=change.v0,
            domain=change.v1,
            obj=change.v2,
            action=change.v3,
            effect=change.v4,
            origin=origin,
        )
        change.rule_id = rule.id
    else:
        assert change.rule_id is not None
        if await session.get(PolicyRule, change.rule_id) is None:
            raise Conflict("the rule is gone already")
        await service.remove_policy_rule(
            session, viewer=viewer, rule_id=change.rule_id, origin=origin
        )
    await session.flush()


async def _propose(
    session: AsyncSession, change: PolicyChange, *, viewer: Viewer, origin: Origin
) -> PolicyChange:
    change.status = four_eyes.initial_status(widens=change.widens)
    change.created_by = viewer.user_id
    change.created_at = utcnow()
    session.add(change)
    await session.flush()
    if change.status == ACTIVE:
        await _apply(session, change, viewer=viewer, origin=origin)
    _audit(session, "policy.change_proposed", change, viewer, origin)
    return change


async def propose_add(
    session: AsyncSession,
    *,
    viewer: Viewer,
    subject: str,
    domain: str,
    obj: str,
    action: str,
    effect: str,
    origin: Origin,
) -> PolicyChange:
    """An allow waits for a second admin; a deny applies at once."""
    values = await service.new_rule_values(
        session, subject=subject, domain=domain, obj=obj, action=action, effect=effect
    )
    change = PolicyChange(
        kind=ADD, widens=widens(kind=ADD, ptype="p", effect=effect), rule_id=None, **values
    )
    return await _propose(session, change, viewer=viewer, origin=origin)


async def propose_remove(
    session: AsyncSession, *, viewer: Viewer, rule_id: uuid.UUID, origin: Origin
) -> PolicyChange:
    """Removing a deny (or an inheritance) waits for a second admin; an allow goes at once."""
    rule = await session.get(PolicyRule, rule_id)
    if rule is None:
        raise NotFound("no such rule")
    change = PolicyChange(
        kind=REMOVE,
        rule_id=rule.id,
        ptype=rule.ptype,
        v0=rule.v0,
        v1=rule.v1,
        v2=rule.v2,
        v3=rule.v3,
        v4=rule.v4,
        widens=widens(kind=REMOVE, ptype=rule.ptype, effect=rule.v4),
    )
    return await _propose(session, change, viewer=viewer, origin=origin)


async def decide(
    session: AsyncSession,
    *,
    viewer: Viewer,
    change_id: uuid.UUID,
    approve: bool,
    origin: Origin,
    now: datetime | None = None,
) -> PolicyChange:
    """A second platform admin approves (the change applies) or rejects a pending one."""
    change = await four_eyes.decide(
        session,
        PolicyChange,
        change_id,
        viewer=viewer,
        checker=Role.PLATFORM_ADMIN,
        approve=approve,
        now=now or utcnow(),
        what=WHAT,
    )
    if approve:
        await _apply(session, change, viewer=viewer, origin=origin)
    action = "policy.change_approved" if approve else "policy.change_rejected"
    _audit(session, action, change, viewer, origin)
    return change


async def roll_back(
    session: AsyncSession, *, viewer: Viewer, change_id: uuid.UUID, origin: Origin
) -> PolicyChange:
    """Undo an applied widening at once (undoing narrows access)."""
    change = await session.get(PolicyChange, change_id, with_for_update=True)
    if change is None:
        raise NotFound(f"no such {WHAT}")
    if change.status != ACTIVE:
        raise Conflict(f"only an applied {WHAT} can be rolled back; this one is {change.status}")
    if not change.widens:
        raise Conflict("undoing this change widens access: propose it as a new change")
    if change.kind == ADD:
        assert change.rule_id is not None
        if await session.get(PolicyRule, change.rule_id) is not None:
            await service.remove_policy_rule(
                session, viewer=viewer, rule_id=change.rule_id, origin=origin
            )
    else:
        session.add(
            PolicyRule(
                ptype=change.ptype,
                v0=change.v0,
                v1=change.v1,
                v2=change.v2,
                v3=change.v3,
                v4=change.v4,
            )
        )
        await session.flush()
        await bump_version(session, detail={"restored": change.v2})
    change.status = ROLLED_BACK
    await session.flush()
    _audit(session, "policy.change_rolled_back", change, viewer, origin)
    return change


async def all_changes(session: AsyncSession, *, viewer: Viewer) -> Sequence[PolicyChange]:
    """Every change, newest first: platform roles only, as the policy itself."""
    if not viewer.sees_all_tenants:
        return []
    stmt = select(PolicyChange).order_by(PolicyChange.id.desc())
    return (await session.scalars(stmt)).all()


async def by_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[PolicyChange]:
    """The changes named, for ``node(id:)``: platform roles only, as the list."""
    if not viewer.sees_all_tenants or not ids:
        return []
    return (await session.scalars(select(PolicyChange).where(PolicyChange.id.in_(ids)))).all()
