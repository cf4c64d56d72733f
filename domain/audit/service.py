"""Writing to the append-only audit log, inside the caller's transaction."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.models import AuditEntry


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
