"""Writing to the append-only audit log, inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.models import AuditEntry
from kernel import bulk
from kernel.base import new_id


def record(
    session: AsyncSession,
    *,
    action: str,
    entity_type: str,
    entity_id: str | uuid.UUID,
    actor_id: uuid.UUID | None = None,
    request_id: str | None = None,
    **detail: Any,
) -> None:
    session.add(
        AuditEntry(
            actor_id=actor_id,
            action=action,
            entity_type=entity_type,
            entity_id=str(entity_id),
            detail=detail,
            request_id=request_id,
        )
    )


async def record_many(
    session: AsyncSession,
    *,
    action: str,
    entity_type: str,
    entries: Iterable[tuple[str | uuid.UUID, dict[str, Any]]],
    at: datetime,
) -> None:
    """A system job's entries for many entities (id, detail), written in bulk; no actor."""
    rows = [
        {
            "id": new_id(),
            "at": at,
            "actor_id": None,
            "action": action,
            "entity_type": entity_type,
            "entity_id": str(entity_id),
            "detail": detail,
            "request_id": None,
        }
        for entity_id, detail in entries
    ]
    await bulk.insert_rows(session, AuditEntry, rows)
