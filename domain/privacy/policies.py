"""Masking policies: versioned, never edited, and widened only with four eyes.

A policy says how one personal field (``Type.field``) is shown to one role for one
purpose (or ``*``, any purpose). Every change is a new version. A version that
shows a role MORE than it sees now (a higher strategy rank than the active
version's, or than the built-in default's when none is active) waits as
``pending`` until a second, different privacy officer approves it; one that shows
less or the same applies at once. A rollback puts back the version active before.

Threat model: one privacy officer, careless or coerced, must not be able to widen
what staff see alone; narrowing is always safe to do at once. Every step is in the
audit log, and every change bumps a counter so that every worker reloads the rules.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from domain import four_eyes
from domain.audit.service import record
from domain.four_eyes import ACTIVE, PENDING, REJECTED, ROLLED_BACK, SUPERSEDED
from domain.identity.authorization import MASKING_COUNTER
from domain.identity.models import PolicyVersion, Role
from domain.identity.viewer import Viewer
from domain.privacy.models import MaskingPolicy
from domain.privacy.purposes import PURPOSES
from kernel.base import utcnow
from kernel.errors import Conflict, InvalidInput, NotFound
from privacy import masking
from privacy.masking import Strategy

ANY_PURPOSE = "*"
ROLES: frozenset[str] = frozenset(r.value for r in Role)

PolicyKey = tuple[str, str, str]  # (object, role, purpose)


def default_rank(field_type: str) -> int:
    """What a role that may read but not reveal sees without a policy (masking.mask)."""
    return masking.RANK[masking.PARTIAL if field_type == "String" else masking.NULL]


def strategy_of(row: MaskingPolicy) -> Strategy:
    return Strategy(row.strategy, dict(row.params or {}), row.version, row.id)


# ------------------------------------------------------------------- the change counter


async def rules_version(session: AsyncSession) -> int:
    """The masking policies' change counter (0 before the first change)."""
    version = await session.scalar(
        select(PolicyVersion.version).where(PolicyVersion.id == MASKING_COUNTER)
    )
    return int(version or 0)


async def _bump(session: AsyncSession, *, detail: dict[str, str]) -> None:
    result = await session.execute(
        update(PolicyVersion)
        .where(PolicyVersion.id == MASKING_COUNTER)
        .values(version=PolicyVersion.version + 1, changed_at=utcnow(), detail=detail)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        session.add(PolicyVersion(id=MASKING_COUNTER, version=1, detail=detail))
    await session.flush()


# ---------------------------------------------------------------------------- changes


def _problems(
    *,
    object: str,
    role: str,
    purpose: str,
    strategy: str,
    params: Mapping[str, Any],
    field_type: str,
    personal_fields: Collection[str],
) -> list[tuple[str, str]]:
    """Everything wrong with a policy, as (input field, readable sentence)."""
    problems = []
    if object not in personal_fields:
        problems.append(("object", f"{object!r} is not a personal or sensitive field (Type.field)"))
    if role not in ROLES:
        problems.append(("role", f"unknown role {role!r}"))
    if purpose != ANY_PURPOSE and purpose not in PURPOSES:
        problems.append(
            ("purpose", f"unknown purpose {purpose!r}; one of {', '.join(sorted(PURPOSES))} or *")
        )
    for text in masking.validate(strategy, params, field_type=field_type):
        # masking.validate speaks of the strategy first ("unknown strategy ...", "strategy
        # 'band' needs ..."), then of its parameters.
        about = "strategy" if text.startswith(("unknown strategy", "strategy ")) else "params"
        problems.append((about, text))
    return problems


async def _versions(session: AsyncSession, key: PolicyKey) -> list[MaskingPolicy]:
    """Every version for (object, role, purpose), oldest first, locked where supported."""
    object, role, purpose = key
    rows = await session.scalars(
        select(MaskingPolicy)
        .where(
            MaskingPolicy.object == object,
            MaskingPolicy.role == role,
            MaskingPolicy.purpose == purpose,
        )
        .order_by(MaskingPolicy.version)
        .with_for_update()
    )
    return list(rows.all())


def _audit(
    session: AsyncSession,
    action: str,
    row: MaskingPolicy,
    viewer: Viewer,
    request_id: str | None,
    **detail: Any,
) -> None:
    record(
        session,
        action=action,
        entity_type="MaskingPolicy",
        entity_id=row.id,
        actor_id=viewer.user_id,
        request_id=request_id,
        object=row.object,
        role=row.role,
        purpose=row.purpose,
        strategy=row.strategy,
        params=dict(row.params or {}),
        version=row.version,
        status=row.status,
        **detail,
    )


async def _flush(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError:
        # Two officers set the same (object, role, purpose) at the same moment.
        raise Conflict("the masking policy changed meanwhile; try again") from None


async def set_policy(
    session: AsyncSession,
    *,
    viewer: Viewer,
    object: str,
    role: str,
    purpose: str,
    strategy: str,
    params: Mapping[str, Any],
    field_type: str,
    personal_fields: Collection[str],
    now: datetime | None = None,
    request_id: str | None = None,
) -> MaskingPolicy:
    """A new version: active at once if it shows no more than now, else pending.

    ``field_type`` is the field's GraphQL scalar name; ``personal_fields`` every
    ``Type.field`` classified personal or sensitive (the API knows its schema).
    """
    problems = _problems(
        object=object,
        role=role,
        purpose=purpose,
        strategy=strategy,
        params=params,
        field_type=field_type,
        personal_fields=personal_fields,
    )
    if problems:
        # The sentences name their values already: the message keeps them as they are.
        raise InvalidInput("; ".join(text for _, text in problems), field=problems[0][0])
    now = now or utcnow()
    versions = await _versions(session, (object, role, purpose))
    active = next((v for v in versions if v.status == ACTIVE), None)
    baseline = masking.RANK[active.strategy] if active else default_rank(field_type)
    widens = masking.RANK[strategy] > baseline
    row = MaskingPolicy(
        object=object,
        role=role,
        purpose=purpose,
        strategy=strategy,
        params=dict(params),
        version=max((v.version for v in versions), default=0) + 1,
        status=PENDING if widens else ACTIVE,
        created_by=viewer.user_id,
        created_at=now,
    )
    # A newer version replaces a proposal still waiting: approving the old one later
    # would undo what was decided after it.
    for waiting in (v for v in versions if v.status == PENDING):
        waiting.status = REJECTED
        waiting.decided_by = viewer.user_id
        waiting.decided_at = now
        _audit(
            session,
            "masking.policy_rejected",
            waiting,
            viewer,
            request_id,
            reason=f"replaced by version {row.version}",
        )
    if not widens and active is not None:
        active.status = SUPERSEDED
    session.add(row)
    await _flush(session)
    _audit(session, "masking.policy_set", row, viewer, request_id, widens=widens)
    await _bump(session, detail={"masking": "set", "object": object, "role": role})
    return row


async def decide(
    session: AsyncSession,
    *,
    viewer: Viewer,
    policy_id: uuid.UUID,
    approve: bool,
    now: datetime | None = None,
    request_id: str | None = None,
) -> MaskingPolicy:
    """A second privacy officer approves (it applies) or rejects a pending widening."""
    row = await four_eyes.decide(
        session,
        MaskingPolicy,
        policy_id,
        viewer=viewer,
        checker=Role.PRIVACY_OFFICER,
        approve=approve,
        now=now or utcnow(),
        what="masking policy",
    )
    if approve:
        previous = await session.scalars(
            select(MaskingPolicy).where(
                MaskingPolicy.object == row.object,
                MaskingPolicy.role == row.role,
                MaskingPolicy.purpose == row.purpose,
                MaskingPolicy.status == ACTIVE,
                MaskingPolicy.id != row.id,
            )
        )
        for old in previous:
            old.status = SUPERSEDED
        await session.flush()
    action = "masking.policy_approved" if approve else "masking.policy_rejected"
    _audit(session, action, row, viewer, request_id)
    await _bump(session, detail={"masking": "approved" if approve else "rejected"})
    return row


async def roll_back(
    session: AsyncSession,
    *,
    viewer: Viewer,
    object: str,
    role: str,
    purpose: str,
    now: datetime | None = None,
    request_id: str | None = None,
) -> MaskingPolicy | None:
    """The active version is rolled back; the one active before it applies again.

    Returns the restored version, or None when there was none (the default applies).
    """
    versions = await _versions(session, (object, role, purpose))
    active = next((v for v in versions if v.status == ACTIVE), None)
    if active is None:
        raise NotFound(f"no active masking policy for {object} / {role} / {purpose}")
    active.status = ROLLED_BACK
    restored = next(
        (v for v in reversed(versions) if v.status == SUPERSEDED and v.version < active.version),
        None,
    )
    if restored is not None:
        restored.status = ACTIVE
    await session.flush()
    _audit(
        session,
        "masking.policy_rolled_back",
        active,
        viewer,
        request_id,
        restored_version=restored.version if restored else None,
        at=(now or utcnow()).isoformat(),
    )
    await _bump(session, detail={"masking": "rolled_back", "object": object, "role": role})
    return restored


async def by_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> list[MaskingPolicy]:
    """The versions named, for ``node(id:)``: platform roles only, as the list."""
    if not viewer.sees_all_tenants or not ids:
        return []
    return list(
        (await session.scalars(select(MaskingPolicy).where(MaskingPolicy.id.in_(ids)))).all()
    )


async def all_versions(session: AsyncSession) -> list[MaskingPolicy]:
    """Every version, grouped by (object, role, purpose), newest version first."""
    rows = await session.scalars(
        select(MaskingPolicy).order_by(
            MaskingPolicy.object,
            MaskingPolicy.role,
            MaskingPolicy.purpose,
            MaskingPolicy.version.desc(),
        )
    )
    return list(rows.all())


# ------------------------------------------------------------------ rules, as applied


@dataclass(frozen=True)
class MaskingRules:
    """The active policies, indexed by field, as one process applies them."""

    by_object: Mapping[str, Mapping[tuple[str, str], Strategy]] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> MaskingRules:
        return cls()

    @classmethod
    async def load(cls, session: AsyncSession) -> MaskingRules:
        rows = await session.scalars(select(MaskingPolicy).where(MaskingPolicy.status == ACTIVE))
        by_object: dict[str, dict[tuple[str, str], Strategy]] = {}
        for row in rows:
            by_object.setdefault(row.object, {})[(row.role, row.purpose)] = strategy_of(row)
        return cls(by_object)

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_object.values())

    def strategy_for(self, object: str, roles: Iterable[str], purpose: str) -> Strategy | None:
        """The policy for this field among the viewer's roles (purpose exact, else ``*``).

        When several roles have one, the most revealing wins: what some role of the
        viewer allows, the viewer may see (as with Casbin's permissions).
        """
        policies = self.by_object.get(object)
        if not policies:
            return None
        best: Strategy | None = None
        for role in sorted(roles):
            found = policies.get((role, purpose)) or policies.get((role, ANY_PURPOSE))
            if found is not None and (best is None or found.rank > best.rank):
                best = found
        return best
