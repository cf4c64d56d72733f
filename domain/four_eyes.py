"""Four eyes on changes that widen access: one person proposes, another decides.

A change that shows or allows MORE than now is stored ``pending`` and applies only
when a second person holding the checker's role approves it; one that narrows
applies at once (``active``). Later states: ``superseded`` (a later version took its
place), ``rejected``, ``rolled_back``. Masking policies (``domain.privacy.policies``) and
authorization rule changes (``domain.identity.policy_changes``) share this module.

Threat model: one officer or admin, careless or coerced, must not widen access
alone. The decision is race-safe: only the first decision that finds the change
still pending wins, and the maker can never be the checker.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Protocol, TypeVar

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.identity.models import Role
from domain.identity.viewer import Viewer
from kernel.errors import Conflict, Forbidden, NotFound

PENDING = "pending"
ACTIVE = "active"
SUPERSEDED = "superseded"
REJECTED = "rejected"
ROLLED_BACK = "rolled_back"
STATUSES = (PENDING, ACTIVE, SUPERSEDED, REJECTED, ROLLED_BACK)


class Decidable(Protocol):
    id: Any
    status: Any
    created_by: Any
    decided_by: Any
    decided_at: Any


D = TypeVar("D", bound=Decidable)


def initial_status(*, widens: bool) -> str:
    return PENDING if widens else ACTIVE


async def decide(
    session: AsyncSession,
    model: type[D],
    change_id: uuid.UUID,
    *,
    viewer: Viewer,
    checker: Role,
    approve: bool,
    checker_entitled: bool | None = None,
    now: datetime,
    what: str,
) -> D:
    """A second ``checker`` approves (``active``) or rejects a pending change of ``model``.

    ``what`` names the change in refusals ("masking policy", "policy change").
    ``checker_entitled``, when given, replaces the platform-role test: the caller has
    decided whether the viewer may check in the change's own scope (an institution).
    """
    row = await session.get(model, change_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no such {what}")
    if row.status != PENDING:
        raise Conflict(f"only a pending {what} can be decided; this one is {row.status}")
    if (
        viewer.user_id is None
        or viewer.user_id == row.created_by
        or not (checker in viewer.platform_roles if checker_entitled is None else checker_entitled)
    ):
        raise Forbidden(f"a second {checker.value.replace('_', ' ')} must approve")
    table: Any = model
    result = await session.execute(
        update(table)
        .where(table.id == row.id, table.status == PENDING)
        .values(status=ACTIVE if approve else REJECTED, decided_by=viewer.user_id, decided_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"the {what} was decided meanwhile", field="id")
    await session.refresh(row)
    return row
