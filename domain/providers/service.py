"""Fetching external data about an enterprise: consent first, the call, then one write.

A fetch is three steps so that no database transaction waits on a provider:
:func:`prepare` (read: may this viewer fetch this, with which consent), the provider
call (no session), and :func:`store` (one unit of work: the record, its access-log row
and audit entry) or, when the provider failed, :func:`record_failure` (an audit entry
alone). Nothing of a failed or malformed answer is written.

Whose consent: institution staff fetch for ``credit_assessment`` and need the
enterprise's consent to it for their institution (or any institution); the owner
fetches for ``product_recommendation`` (better matched offers) and needs its consent to
that for any institution: the platform. The consent is checked again when storing, so a
withdrawal during the call stores nothing.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record as audit
from domain.enterprises.models import Enterprise
from domain.enterprises.repository import enterprises_by_ids
from domain.identity.viewer import Viewer
from domain.privacy.consent import consented
from domain.privacy.models import AccessLogEntry
from domain.providers.answers import Profile, kept, read_answer
from domain.providers.client import Fetched
from domain.providers.errors import DataConsentMissing
from domain.providers.models import ExternalDataKind, ExternalDataRecord
from kernel.base import new_id
from kernel.errors import DomainError, NotFound
from privacy import keystore, vault
from privacy.keys import KeyProvider

TABLE = ExternalDataRecord.__tablename__
PERSONAL_COLUMN = "personal"
STAFF_PURPOSE = "credit_assessment"
OWNER_PURPOSE = "product_recommendation"


@dataclass(frozen=True, slots=True)
class Plan:
    """A fetch the viewer may make: about whom, for what, under whose consent."""

    enterprise_id: uuid.UUID
    code: str
    kind: ExternalDataKind
    purpose: str
    # The institutions whose consent would do (None: any institution); empty for owners.
    institution_ids: frozenset[uuid.UUID]


async def prepare(
    session: AsyncSession,
    *,
    viewer: Viewer,
    enterprise_id: uuid.UUID,
    kind: ExternalDataKind,
    now: datetime,
) -> Plan:
    """Check the viewer may fetch ``kind`` about the enterprise now; raise if not."""
    found = await enterprises_by_ids(session, viewer=viewer, ids=[enterprise_id])
    if not found:
        raise NotFound("enterprise not found")
    enterprise = found[0]
    if viewer.user_id is not None and enterprise.owner_id == viewer.user_id:
        plan = Plan(
            enterprise.id, enterprise.unified_social_credit_code, kind, OWNER_PURPOSE, frozenset()
        )
    else:
        plan = Plan(
            enterprise.id,
            enterprise.unified_social_credit_code,
            kind,
            STAFF_PURPOSE,
            frozenset(viewer.institution_ids),
        )
    await _require_consent(session, plan, now)
    return plan


async def _require_consent(session: AsyncSession, plan: Plan, now: datetime) -> None:
    granted = (
        await consented(session, subject_ids=[plan.enterprise_id], purpose=plan.purpose, now=now)
    )[plan.enterprise_id]
    if None in granted or granted & plan.institution_ids:
        return
    asked = min(plan.institution_ids) if plan.institution_ids else None
    raise DataConsentMissing(purpose=plan.purpose, institution_id=asked)


async def store(
    session: AsyncSession,
    *,
    viewer: Viewer,
    keys: KeyProvider,
    plan: Plan,
    fetched: Fetched,
    now: datetime,
    request_id: str | None,
) -> ExternalDataRecord:
    """Keep a checked answer: facts in the clear, people's names sealed; log and audit it."""
    await _require_consent(session, plan, now)
    enterprise = await session.get(Enterprise, plan.enterprise_id)
    key = (await keystore.unwrap_many(session, keys, [plan.enterprise_id]))[plan.enterprise_id]
    if enterprise is None or key is None:  # removed or erased while we were asking
        raise NotFound("enterprise not found")
    answer = read_answer(plan.kind, fetched.body, code=plan.code)
    sealed_name = enterprise.legal_representative_name
    profile = Profile(
        name=enterprise.name,
        founded_on=enterprise.founded_on,
        legal_representative_name=(
            None
            if sealed_name is None
            else vault.unseal(
                key,
                sealed_name,
                table="enterprises",
                column="legal_representative_name",
                row_id=enterprise.id,
            )
        ),
    )
    what = kept(answer, profile)
    record_id = new_id()
    personal = (
        None
        if what.personal is None
        else vault.seal(
            key,
            json.dumps(what.personal, sort_keys=True, ensure_ascii=False),
            table=TABLE,
            column=PERSONAL_COLUMN,
            row_id=record_id,
        )
    )
    row = ExternalDataRecord(
        id=record_id,
        enterprise_id=plan.enterprise_id,
        kind=plan.kind,
        source=answer.source,
        as_of=answer.as_of,
        fetched_at=now,
        content_hash=fetched.content_hash,
        facts=what.facts,
        personal=personal,
        purpose=plan.purpose,
        requested_by=viewer.user_id or viewer.service_account_id,
        request_id=request_id,
    )
    session.add(row)
    # The answer carries the subject's data into the platform: an access like a reveal.
    session.add(
        AccessLogEntry.of(
            viewer,
            subject_id=plan.enterprise_id,
            obj=f"ExternalData.{plan.kind.value}",
            purpose=plan.purpose,
            request_id=request_id,
            at=now,
        )
    )
    audit(
        session,
        action="external_data.fetched",
        entity_type="enterprise",
        entity_id=plan.enterprise_id,
        actor_id=viewer.user_id or viewer.service_account_id,
        request_id=request_id,
        kind=plan.kind.value,
        source=answer.source,
        content_hash=fetched.content_hash,
        purpose=plan.purpose,
    )
    await session.flush()
    return row


def record_failure(
    session: AsyncSession,
    *,
    viewer: Viewer,
    plan: Plan,
    error: DomainError,
    request_id: str | None,
) -> None:
    """What an operator needs of a failed fetch: who asked, what for, and its code."""
    audit(
        session,
        action="external_data.failed",
        entity_type="enterprise",
        entity_id=plan.enterprise_id,
        actor_id=viewer.user_id or viewer.service_account_id,
        request_id=request_id,
        kind=plan.kind.value,
        code=error.code,
        purpose=plan.purpose,
    )
