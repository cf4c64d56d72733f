"""The compliance report's figures, and the page they make."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.audit import compliance, integrity
from domain.audit.chain import SealKey
from domain.identity.models import Role
from domain.identity.viewer import Viewer
from domain.privacy import consent
from domain.privacy.models import AccessLogEntry, BreakGlassGrant
from kernel.base import utcnow
from tests import factories as f

KEY = SealKey(b"c" * 48)


async def test_the_report_counts_consents_reveals_by_role_and_purpose_and_break_glass(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given: two enterprises, one consenting to marketing; an officer's reveals under two
    # purposes, a partner's one; a break-glass grant not yet reviewed
    now = utcnow()
    async with sessions() as s, s.begin():
        bank = await f.institution(s)
        owner = await f.user(s)
        consenting = await f.enterprise(s, owner_id=owner.id)
        await f.enterprise(s)
        await consent.grant(
            s,
            viewer=Viewer(user_id=owner.id),
            subject_id=consenting.id,
            purpose="marketing",
            recipient_institution_id=None,
            expires_at=None,
            text_version="v1",
            channel="web",
        )
        officer = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        for purpose in ("credit_assessment", "credit_assessment", "loan_servicing"):
            s.add(
                AccessLogEntry(
                    viewer_id=officer.id,
                    viewer_kind="user",
                    subject_id=consenting.id,
                    object="Enterprise.contactPhone",
                    purpose=purpose,
                )
            )
        s.add(
            AccessLogEntry(
                viewer_id=uuid.uuid4(),
                viewer_kind="service",
                subject_id=consenting.id,
                object="Enterprise.contactPhone",
                purpose="loan_servicing",
            )
        )
        s.add(
            BreakGlassGrant(
                viewer_id=officer.id,
                subject_id=consenting.id,
                reason="x" * 20,
                expires_at=now + timedelta(hours=1),
            )
        )

    # when
    async with sessions() as s:
        checked = await integrity.verify(s, KEY, checkpoint=None)
        report = await compliance.gather(s, integrity=checked, records=[])
    page = compliance.render(report)

    # then
    assert report.enterprises == 2
    assert report.consents["marketing"] == 1
    assert report.consents["credit_assessment"] == 0
    assert report.reveals == [
        ("loan_officer", "credit_assessment", 2),
        ("loan_officer", "loan_servicing", 1),
        ("partner_service", "loan_servicing", 1),
    ]
    assert (report.glass_used, report.glass_unreviewed) == (1, 1)
    assert "<td>marketing</td><td>1</td><td>50.0%</td>" in page
    assert "<td>loan_officer</td><td>credit_assessment</td><td>2</td>" in page
    assert "<td>audit log</td><td>intact</td>" in page
    assert "x" * 20 not in page  # no reasons, no personal values
