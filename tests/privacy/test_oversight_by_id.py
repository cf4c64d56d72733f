"""Access-log entries and break-glass grants by id: for platform-wide oversight only,
whatever the policy lets a role read (the row rule behind ``node(id:)``)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.identity.models import Role
from domain.identity.viewer import Viewer
from domain.privacy import break_glass, subjects
from domain.privacy.models import AccessLogEntry, BreakGlassGrant
from kernel.base import utcnow

STAFF = Viewer(
    user_id=uuid.uuid4(), institution_roles={uuid.uuid4(): frozenset({Role.INSTITUTION_ADMIN})}
)
OVERSIGHT = Viewer(user_id=uuid.uuid4(), platform_roles=frozenset({Role.AUDITOR}))


async def test_only_platform_wide_viewers_find_log_entries_and_grants_by_id(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given
    subject = uuid.uuid4()
    async with sessions() as session, session.begin():
        entry = AccessLogEntry(
            viewer_id=STAFF.user_id,
            viewer_kind="user",
            subject_id=subject,
            object="User.email",
            purpose="oversight",
        )
        grant = BreakGlassGrant(
            viewer_id=STAFF.user_id,
            subject_id=subject,
            reason="fraud call",
            expires_at=utcnow() + timedelta(hours=1),
        )
        session.add_all([entry, grant])

    # when
    async with sessions() as session:
        found = [
            (
                await subjects.access_log_by_ids(session, viewer=viewer, ids=[entry.id]),
                await break_glass.grants_by_ids(session, viewer=viewer, ids=[grant.id]),
            )
            for viewer in (STAFF, OVERSIGHT)
        ]

    # then
    assert found[0] == ([], [])
    entries, grants = found[1]
    assert [e.id for e in entries] == [entry.id]
    assert [(g.id, kind) for g, kind in grants] == [(grant.id, "User")]
