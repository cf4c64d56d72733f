"""Announcing alerts to the live feed: ids grouped by institution, within the transaction.

The payload names the institution so a subscriber of another one skips the event without
a query; what a subscriber is shown is still read through the viewer's row scope.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from kernel import events

BATCH = 100  # ids per event: far below PostgreSQL's 8000-byte payload


async def announce(
    session: AsyncSession, alerts: Iterable[tuple[uuid.UUID, uuid.UUID | None]]
) -> None:
    """Publish (alert id, institution id or None for a platform alert) pairs."""
    by_institution: dict[uuid.UUID | None, list[str]] = defaultdict(list)
    for alert_id, institution_id in alerts:
        by_institution[institution_id].append(str(alert_id))
    for institution_id, ids in by_institution.items():
        for start in range(0, len(ids), BATCH):
            await events.publish(
                session,
                events.ALERTS_CHANNEL,
                {
                    "alerts": ",".join(ids[start : start + BATCH]),
                    "institution": "" if institution_id is None else str(institution_id),
                },
            )
