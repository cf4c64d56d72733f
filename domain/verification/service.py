"""Submitting, reviewing and deciding verification cases; ownership disputes.

An owner submits documents for an enterprise (an OWNERSHIP case). Someone whose
enterprise's credit code another account holds submits the same documents against it
(a DISPUTE case). A verification officer asks for more, approves at a level, or
rejects, always with reasons. Approving an ownership case sets the enterprise's level;
approving a dispute hands the enterprise to the claimant (at the level granted) and
rejects the holder's open cases. Every step is an event in the case's history, which
the people concerned read; reasons and notes are sealed like every comment.

Services flush and never commit; expected refusals raise DomainError subclasses.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record
from domain.enterprises.models import Enterprise
from domain.enterprises.uscc import is_valid_uscc
from domain.identity.viewer import Viewer
from domain.verification import repository as repo
from domain.verification.documents import Checked
from domain.verification.models import (
    OPEN_STATUSES,
    CaseKind,
    CaseStatus,
    DocumentKind,
    VerificationCase,
    VerificationDocument,
    VerificationEvent,
    VerificationLevel,
)
from kernel.base import new_id, utcnow
from kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from privacy import keystore, vault
from privacy.keys import KeyProvider

MAX_NOTE = 1000
MAX_DOCUMENTS = 10
# What each level needs among the case's documents.
REQUIRED: dict[VerificationLevel, frozenset[DocumentKind]] = {
    VerificationLevel.BASIC: frozenset({DocumentKind.BUSINESS_LICENCE}),
    VerificationLevel.VERIFIED: frozenset(DocumentKind),
}


@dataclass(frozen=True, slots=True)
class Upload:
    kind: DocumentKind
    document: Checked


class Decision:
    REQUEST_MORE_INFO = "request_more_info"
    APPROVE = "approve"
    REJECT = "reject"


def _note(text: str | None, *, field: str, required: bool) -> str | None:
    text = (text or "").strip()
    if required and len(text) < 3:
        raise InvalidInput("give your reasons (3 characters or more)", field=field)
    if len(text) > MAX_NOTE:
        raise InvalidInput(f"at most {MAX_NOTE} characters", field=field)
    return text or None


async def _seal(session: AsyncSession, keys: KeyProvider, row_id: uuid.UUID, kind: str) -> bytes:
    return await keystore.create(session, keys, row_id, kind)


async def _add_documents(
    session: AsyncSession, keys: KeyProvider, case: VerificationCase, uploads: Sequence[Upload]
) -> None:
    for upload in uploads:
        document_id = new_id()
        key = await _seal(session, keys, document_id, "kyc_document")
        session.add(
            VerificationDocument(
                id=document_id,
                case_id=case.id,
                kind=upload.kind,
                media_type=upload.document.media_type,
                size_bytes=upload.document.size_bytes,
                sha256=upload.document.sha256,
                content=vault.seal(
                    key,
                    upload.document.encoded(),
                    table="verification_documents",
                    column="content",
                    row_id=document_id,
                ),
            )
        )


async def _event(
    session: AsyncSession,
    keys: KeyProvider,
    case: VerificationCase,
    *,
    actor_id: uuid.UUID | None,
    from_status: CaseStatus | None,
    note: str | None,
    now: datetime,
) -> None:
    event_id = new_id()
    sealed = None
    if note is not None:
        key = await _seal(session, keys, event_id, "kyc_note")
        sealed = vault.seal(key, note, table="verification_events", column="note", row_id=event_id)
    session.add(
        VerificationEvent(
            id=event_id,
            case_id=case.id,
            at=now,
            actor_id=actor_id,
            from_status=from_status,
            to_status=case.status,
            note=sealed,
        )
    )


def _check_uploads(uploads: Sequence[Upload]) -> None:
    if not uploads:
        raise InvalidInput("attach at least one document", field="documents")
    if len(uploads) > MAX_DOCUMENTS:
        raise InvalidInput(f"at most {MAX_DOCUMENTS} documents at once", field="documents")


async def submit(
    session: AsyncSession,
    keys: KeyProvider,
    *,
    viewer: Viewer,
    enterprise_id: uuid.UUID,
    uploads: Sequence[Upload],
    note: str | None,
    request_id: str | None,
    now: datetime | None = None,
) -> VerificationCase:
    """The owner asks for its enterprise to be verified."""
    now = now or utcnow()
    if viewer.user_id is None:
        raise Forbidden("only a signed-in owner submits verification")
    _check_uploads(uploads)
    text = _note(note, field="note", required=False)
    enterprise = await session.get(Enterprise, enterprise_id)
    if enterprise is None or enterprise.owner_id != viewer.user_id:
        raise NotFound("no such enterprise of yours", field="enterpriseId")
    if await repo.open_case_of(session, enterprise_id=enterprise.id, claimant_id=viewer.user_id):
        raise Conflict("a verification of this enterprise is open: add documents to it")
    return await _open(
        session, keys, viewer, enterprise, CaseKind.OWNERSHIP, uploads, text, request_id, now
    )


async def dispute(
    session: AsyncSession,
    keys: KeyProvider,
    *,
    viewer: Viewer,
    unified_social_credit_code: str,
    uploads: Sequence[Upload],
    note: str | None,
    request_id: str | None,
    now: datetime | None = None,
) -> VerificationCase:
    """Someone claims an enterprise whose credit code another account holds."""
    now = now or utcnow()
    if viewer.user_id is None:
        raise Forbidden("only a signed-in person claims an enterprise")
    code = unified_social_credit_code.strip().upper()
    if not is_valid_uscc(code):
        raise InvalidInput(
            "not a valid unified social credit code", field="unifiedSocialCreditCode"
        )
    _check_uploads(uploads)
    text = _note(note, field="note", required=True)
    enterprise = await repo.enterprise_by_code(session, code)
    if enterprise is None:
        raise NotFound(
            "no enterprise holds this code: register it with createEnterprise",
            field="unifiedSocialCreditCode",
        )
    if enterprise.owner_id == viewer.user_id:
        raise InvalidInput("the enterprise is yours already", field="unifiedSocialCreditCode")
    if await repo.open_case_of(session, enterprise_id=enterprise.id, claimant_id=viewer.user_id):
        raise Conflict("your claim on this enterprise is open already")
    return await _open(
        session, keys, viewer, enterprise, CaseKind.DISPUTE, uploads, text, request_id, now
    )


async def _open(
    session: AsyncSession,
    keys: KeyProvider,
    viewer: Viewer,
    enterprise: Enterprise,
    kind: CaseKind,
    uploads: Sequence[Upload],
    note: str | None,
    request_id: str | None,
    now: datetime,
) -> VerificationCase:
    case = VerificationCase(
        id=new_id(),
        enterprise_id=enterprise.id,
        claimant_id=viewer.user_id,
        kind=kind,
        status=CaseStatus.SUBMITTED,
        created_at=now,
    )
    session.add(case)
    await session.flush()
    await _add_documents(session, keys, case, uploads)
    await _event(session, keys, case, actor_id=viewer.user_id, from_status=None, note=note, now=now)
    await session.flush()
    record(
        session,
        action=f"verification.{kind.value}_submitted",
        entity_type="verification_case",
        entity_id=case.id,
        actor_id=viewer.user_id,
        request_id=request_id,
        enterprise_id=str(enterprise.id),
        documents=[u.kind.value for u in uploads],
    )
    return case


async def _case(
    session: AsyncSession, case_id: uuid.UUID, expected_version: int | None
) -> VerificationCase:
    case = await repo.case_for_update(session, case_id)
    if case is None:
        raise NotFound("no such verification case", field="caseId")
    if expected_version is not None and case.version != expected_version:
        raise Conflict(
            f"the case changed since you read it (version {expected_version}, now "
            f"{case.version}); reload it and decide again"
        )
    return case


async def add_documents(
    session: AsyncSession,
    keys: KeyProvider,
    *,
    viewer: Viewer,
    case_id: uuid.UUID,
    uploads: Sequence[Upload],
    note: str | None,
    request_id: str | None,
    now: datetime | None = None,
) -> VerificationCase:
    """The claimant answers a request for more: the case goes back to the officers."""
    now = now or utcnow()
    _check_uploads(uploads)
    text = _note(note, field="note", required=False)
    case = await _case(session, case_id, None)
    if case.claimant_id != viewer.user_id:
        raise NotFound("no such verification case of yours", field="caseId")
    if case.status not in OPEN_STATUSES:
        raise Conflict(f"the case is {case.status.value}: open a new one")
    before = case.status
    case.status = CaseStatus.SUBMITTED
    await _add_documents(session, keys, case, uploads)
    await _event(
        session, keys, case, actor_id=viewer.user_id, from_status=before, note=text, now=now
    )
    await session.flush()
    record(
        session,
        action="verification.documents_added",
        entity_type="verification_case",
        entity_id=case.id,
        actor_id=viewer.user_id,
        request_id=request_id,
        documents=[u.kind.value for u in uploads],
    )
    return case


async def review(
    session: AsyncSession,
    keys: KeyProvider,
    *,
    viewer: Viewer,
    case_id: uuid.UUID,
    decision: str,
    level: VerificationLevel | None,
    reasons: str,
    expected_version: int | None,
    request_id: str | None,
    now: datetime | None = None,
) -> VerificationCase:
    """An officer asks for more, approves at a level, or rejects; always with reasons."""
    now = now or utcnow()
    text = _note(reasons, field="reasons", required=True)
    case = await _case(session, case_id, expected_version)
    if case.claimant_id is not None and case.claimant_id == viewer.user_id:
        raise Forbidden("nobody reviews their own case")
    if case.status is not CaseStatus.SUBMITTED:
        raise Conflict(f"the case is {case.status.value}; only a submitted case is reviewed")
    before = case.status
    enterprise = await session.get(Enterprise, case.enterprise_id)
    assert enterprise is not None  # the foreign key cascades
    if decision == Decision.REQUEST_MORE_INFO:
        case.status = CaseStatus.MORE_INFO_REQUESTED
    elif decision == Decision.REJECT:
        _decided(case, CaseStatus.REJECTED, viewer, now)
    else:
        if level not in REQUIRED:
            raise InvalidInput("approve at BASIC or VERIFIED", field="level")
        held = {d.kind for d in await repo.documents_of(session, [case.id])}
        missing = sorted(k.value for k in REQUIRED[level] - held)
        if missing:
            raise InvalidInput(
                f"{level.value} needs these documents too: {', '.join(missing)}", field="level"
            )
        _decided(case, CaseStatus.APPROVED, viewer, now)
        case.level_granted = level
        if case.kind is CaseKind.DISPUTE:
            await _hand_over(session, keys, enterprise, case, viewer, now, request_id)
        enterprise.verification_level = level
    await _event(
        session, keys, case, actor_id=viewer.user_id, from_status=before, note=text, now=now
    )
    await session.flush()
    record(
        session,
        action=f"verification.{decision}",
        entity_type="verification_case",
        entity_id=case.id,
        actor_id=viewer.user_id,
        request_id=request_id,
        kind=case.kind.value,
        level=level.value if level and case.status is CaseStatus.APPROVED else None,
    )
    return case


def _decided(case: VerificationCase, status: CaseStatus, viewer: Viewer, now: datetime) -> None:
    case.status = status
    case.decided_by = viewer.user_id
    case.decided_at = now


async def _hand_over(
    session: AsyncSession,
    keys: KeyProvider,
    enterprise: Enterprise,
    case: VerificationCase,
    viewer: Viewer,
    now: datetime,
    request_id: str | None,
) -> None:
    """A dispute upheld: the claimant owns the enterprise; the holder's open cases close."""
    previous = enterprise.owner_id
    for other in await repo.open_cases_about(session, enterprise_id=enterprise.id, but=case.id):
        before = other.status
        _decided(other, CaseStatus.REJECTED, viewer, now)
        await _event(
            session,
            keys,
            other,
            actor_id=viewer.user_id,
            from_status=before,
            note="closed: the enterprise was found to belong to another claimant",
            now=now,
        )
    enterprise.owner_id = case.claimant_id
    record(
        session,
        action="enterprise.ownership_transferred",
        entity_type="enterprise",
        entity_id=enterprise.id,
        actor_id=viewer.user_id,
        request_id=request_id,
        previous_owner=str(previous) if previous else None,
        new_owner=str(case.claimant_id),
        case_id=str(case.id),
    )
