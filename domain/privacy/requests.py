"""Data-subject requests as a workflow: received with an identity check, answered by a
privacy officer within 30 days (escalated when late), a receipt to the requester.

Who may ask: a person about their own account (their sealed email and name) or about
an enterprise they own. The identity check is the requester's password, asked again
when the request is made: a stolen access token alone cannot export or erase anyone.

What each kind does when a privacy officer completes it:
- access: a copy of everything held (domain.privacy.subjects.export_subject for an
  enterprise; the account, its roles and its waiting mail for a person), delivered
  sealed in the requester's outbox;
- rectification: the corrected values (sealed under the subject's key while they
  wait) written over the old ones;
- erasure: crypto-shredding (domain.privacy.subjects.erase_subject for an enterprise;
  :func:`erase_person` for a person), refused while a loan that is active or written
  off gives the lender a legal basis to keep the data;
- objection: processing for the purpose stops, through the requester's preferences.

The receipt (kind, subject, outcome, when, and the SHA-256 of its canonical JSON) is
kept on the request and mailed to the requester; a refusal says why.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.audit.service import record as audit
from domain.enterprises.models import Enterprise
from domain.identity import people, security
from domain.identity.models import (
    USER_SEALED_COLUMNS,
    AuthSession,
    Membership,
    OutboxMessage,
    RecoveryCode,
    User,
    UserStatus,
)
from domain.identity.viewer import Viewer
from domain.lending.models import Loan, LoanStatus
from domain.privacy import preferences, subjects
from domain.privacy.models import SubjectRequest
from kernel.base import utcnow
from kernel.errors import Conflict, Forbidden, InvalidInput, NotFound
from kernel.pagination import Keyset, Page, page_from
from privacy import keystore, vault
from privacy.keys import KeyProvider

KINDS = ("access", "rectification", "erasure", "objection")
OPEN, COMPLETED, REFUSED = "open", "completed", "refused"
DEADLINE = timedelta(days=30)
TABLE = "subject_requests"
# Plaintext per mail: sealed and encoded it stays under the outbox body's 6000 characters.
MAIL_PART = 4000
# Loans that give the lender a legal basis to keep a borrower's data: a written-off
# debt is still owed and may be pursued.
KEEPING_LOANS = (LoanStatus.ACTIVE, LoanStatus.WRITTEN_OFF)
# What a rectification may correct, per subject, as the API names it -> the column.
RECTIFIABLE: Mapping[str, Mapping[str, str]] = {
    "user": {"displayName": "display_name"},
    "enterprise": {
        "legalRepresentativeName": "legal_representative_name",
        "contactPhone": "contact_phone",
        "contactEmail": "contact_email",
    },
}
# What an objection may be to -> the preference it switches off.
OBJECTIONS: Mapping[str, str] = {
    "marketing": "marketing",
    "product_recommendation": "product_recommendations",
    "sharing_with_institutions": "share_with_institutions",
    "sharing_with_providers": "share_with_providers",
}
NEWEST = Keyset("newest", (SubjectRequest.id,), descending=True)


def visible(viewer: Viewer) -> Any:
    """Requesters see their own requests; platform roles (privacy officers) all."""
    if viewer.sees_all_tenants:
        return SubjectRequest.id.is_not(None)
    return SubjectRequest.requester_id == viewer.user_id


async def _subject_owner(
    session: AsyncSession, subject_type: str, subject_id: uuid.UUID
) -> uuid.UUID | None:
    if subject_type == "user":
        return subject_id if await session.get(User, subject_id) is not None else None
    enterprise = await session.get(Enterprise, subject_id)
    return None if enterprise is None else enterprise.owner_id


async def submit(
    session: AsyncSession,
    keys: KeyProvider,
    *,
    viewer: Viewer,
    kind: str,
    subject_type: str,
    subject_id: uuid.UUID,
    password: str,
    details: Mapping[str, str],
    request_id: str | None = None,
    now: datetime | None = None,
) -> SubjectRequest:
    """Receive a request after checking the requester's identity (their password)."""
    if viewer.user_id is None:
        raise Forbidden("only a person makes a data-subject request")
    if kind not in KINDS:
        raise InvalidInput(f"kind: one of {', '.join(KINDS)}", field="kind")
    requester = await session.get(User, viewer.user_id)
    if requester is None or not security.verify_password(requester.password_hash, password):
        raise InvalidInput("the password does not match: identity not confirmed", field="password")
    if await _subject_owner(session, subject_type, subject_id) != viewer.user_id:
        raise NotFound("no such subject of yours")
    at = now or utcnow()
    row = SubjectRequest(
        kind=kind,
        subject_type=subject_type,
        subject_id=subject_id,
        requester_id=viewer.user_id,
        identity_checked_at=at,
        identity_method="password",
        received_at=at,
        due_at=at + DEADLINE,
        status=OPEN,
    )
    session.add(row)
    await session.flush()
    row.details = await _details(session, keys, row, details)
    await session.flush()
    audit(
        session,
        action="subject_request.received",
        entity_type="SubjectRequest",
        entity_id=row.id,
        actor_id=viewer.user_id,
        request_id=request_id,
        kind=kind,
        subject_type=subject_type,
        subject_id=str(subject_id),
    )
    return row


async def _details(
    session: AsyncSession, keys: KeyProvider, row: SubjectRequest, given: Mapping[str, str]
) -> dict[str, Any]:
    """What a rectification corrects (sealed) or an objection objects to; nothing else."""
    if row.kind == "rectification":
        allowed = RECTIFIABLE[row.subject_type]
        if not given or set(given) - set(allowed):
            raise InvalidInput(f"details: correct some of {', '.join(allowed)}", field="details")
        key = (await keystore.unwrap_many(session, keys, [row.subject_id]))[row.subject_id]
        if key is None:
            raise Conflict("the subject is erased: nothing to rectify")
        return {
            name: vault.seal(key, str(value).strip(), table=TABLE, column=name, row_id=row.id)
            for name, value in given.items()
        }
    if row.kind == "objection":
        purpose = given.get("purpose")
        if set(given) != {"purpose"} or purpose not in OBJECTIONS:
            raise InvalidInput(
                f"details: {{purpose: one of {', '.join(OBJECTIONS)}}}", field="details"
            )
        return {"purpose": purpose}
    if given:
        raise InvalidInput(f"details: none for {row.kind}", field="details")
    return {}


async def complete(
    session: AsyncSession,
    keys: KeyProvider,
    *,
    viewer: Viewer,
    request_id: uuid.UUID,
    refusal: str | None = None,
    trace_id: str | None = None,
    now: datetime | None = None,
) -> SubjectRequest:
    """Carry out (or refuse, with a reason) an open request; the receipt goes out."""
    row = await session.get(SubjectRequest, request_id, with_for_update=True)
    if row is None:
        raise NotFound("no such request")
    if row.status != OPEN:
        raise Conflict(f"the request is already {row.status}")
    at = now or utcnow()
    if refusal is not None:
        if len(refusal.strip()) < subjects.MIN_REASON:
            raise InvalidInput(
                f"refusal: give at least {subjects.MIN_REASON} characters", field="refusal"
            )
        outcome: dict[str, Any] = {"refused": refusal.strip()}
        row.status, row.refusal_reason = REFUSED, refusal.strip()
        export = None
    else:
        # An access request's copy goes to the requester by mail, never into this row.
        export = await _export(session, keys, row) if row.kind == "access" else None
        outcome = (
            {"exported": sorted(export)}
            if export is not None
            else await _carry_out(session, keys, viewer, row, trace_id, at)
        )
        row.status = COMPLETED
    row.decided_by, row.decided_at = viewer.user_id, at
    row.details = {}  # corrected values now live in the subject's row alone
    row.receipt = receipt(row, outcome)
    await session.flush()
    await _mail_receipt(session, keys, row, export)
    audit(
        session,
        action=f"subject_request.{row.status}",
        entity_type="SubjectRequest",
        entity_id=row.id,
        actor_id=viewer.user_id,
        request_id=trace_id,
        receipt=row.receipt,
    )
    return row


def receipt(row: SubjectRequest, outcome: Mapping[str, Any]) -> dict[str, Any]:
    body = {
        "request": str(row.id),
        "kind": row.kind,
        "subjectType": row.subject_type,
        "subjectId": str(row.subject_id),
        "receivedAt": row.received_at.isoformat(),
        "dueAt": row.due_at.isoformat(),
        "decidedAt": row.decided_at.isoformat() if row.decided_at else None,
        "status": row.status,
        "outcome": outcome,
    }
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return {**body, "sha256": hashlib.sha256(canonical.encode()).hexdigest()}


async def _carry_out(
    session: AsyncSession,
    keys: KeyProvider,
    viewer: Viewer,
    row: SubjectRequest,
    trace_id: str | None,
    at: datetime,
) -> dict[str, Any]:
    if row.kind == "erasure":
        if row.subject_type == "enterprise":
            erased = await subjects.erase_subject(
                session,
                keys,
                viewer=viewer,
                subject_id=row.subject_id,
                reason=f"data-subject request {row.id}",
                now=at,
                request_id=trace_id,
            )
            return {"removed": list(erased.removed), "kept": dict(erased.kept)}
        return await erase_person(session, row.subject_id, now=at)
    if row.kind == "rectification":
        return await _rectify(session, keys, row)
    switch = OBJECTIONS[row.details["purpose"]]
    await preferences.change(
        session,
        viewer=Viewer(user_id=row.requester_id),
        changes={switch: False},
        request_id=trace_id,
    )
    return {"stopped": row.details["purpose"]}


async def _export(session: AsyncSession, keys: KeyProvider, row: SubjectRequest) -> dict[str, Any]:
    if row.subject_type == "enterprise":
        return await subjects.export_subject(session, keys, subject_id=row.subject_id)
    user = await session.get(User, row.subject_id)
    assert user is not None
    roles = (
        await session.execute(
            select(Membership.role, Membership.institution_id).where(Membership.user_id == user.id)
        )
    ).all()
    mail = await session.scalar(select(func.count()).where(OutboxMessage.user_id == user.id))
    return {
        "account": {
            "id": str(user.id),
            **{
                k: v
                for k, v in (await people.opened(session, keys, user)).items()
                if k in USER_SEALED_COLUMNS
            },
            "status": user.status.value,
            "createdAt": user.created_at.isoformat(),
            "lastLoginAt": user.last_login_at.isoformat() if user.last_login_at else None,
            "mfaEnrolled": user.mfa_enrolled_at is not None,
        },
        "roles": [
            {"role": r.value if r else None, "institutionId": str(i) if i else None}
            for r, i in roles
        ],
        "preferences": (await preferences.of_user(session, user.id)).switches(),
        "mailWaiting": int(mail or 0),
    }


async def _rectify(session: AsyncSession, keys: KeyProvider, row: SubjectRequest) -> dict[str, Any]:
    key = (await keystore.unwrap_many(session, keys, [row.subject_id]))[row.subject_id]
    if key is None:
        raise Conflict("the subject is erased: nothing to rectify")
    columns = RECTIFIABLE[row.subject_type]
    table = "users" if row.subject_type == "user" else "enterprises"
    model: Any = User if row.subject_type == "user" else Enterprise
    values = {}
    for name, sealed in row.details.items():
        plain = vault.unseal(key, sealed, table=TABLE, column=name, row_id=row.id)
        column = columns[name]
        values[column] = vault.seal(key, plain, table=table, column=column, row_id=row.subject_id)
    await session.execute(update(model).where(model.id == row.subject_id).values(values))
    return {"rectified": sorted(values)}


async def erase_person(
    session: AsyncSession, user_id: uuid.UUID, *, now: datetime
) -> dict[str, Any]:
    """Crypto-shred a person's account: their data key destroyed, sealed email, name and
    second factor gone, their mail, sessions and recovery codes deleted, the account
    disabled. Refused while an enterprise they own has a loan the lender must keep."""
    owned = select(Enterprise.id).where(Enterprise.owner_id == user_id)
    keeping = await session.scalar(
        select(func.count(Loan.id)).where(
            Loan.enterprise_id.in_(owned), Loan.status.in_(KEEPING_LOANS)
        )
    )
    if keeping:
        raise subjects.ErasureRefused(
            "an enterprise of this person has an active or written-off loan; the lender "
            "must keep its borrower's data (legal basis)"
        )
    if not await keystore.shred(session, user_id, now=now):
        raise Conflict("the person is already erased")
    await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(
            email="",
            display_name="",
            # Unique and never a real index: the blind index keys are HMAC, never hex of this.
            email_bidx=f"erased-{user_id.hex}",
            mfa_secret=None,
            mfa_enrolled_at=None,
            password_hash=None,
            status=UserStatus.DISABLED,
        )
        .execution_options(synchronize_session="fetch")
    )
    removed: dict[str, int] = {}
    for model in (OutboxMessage, RecoveryCode, AuthSession):
        result = await session.execute(delete(model).where(model.user_id == user_id))
        removed[model.__tablename__] = int(result.rowcount)  # type: ignore[attr-defined]
    return {
        "removed": ["users.email", "users.display_name", "users.mfa_secret", "data_keys.wrapped"],
        "deleted": removed,
    }


async def _mail_receipt(
    session: AsyncSession, keys: KeyProvider, row: SubjectRequest, export: Any
) -> None:
    """The receipt (and an access request's copy) to the requester, sealed in the outbox."""
    requester = await session.get(User, row.requester_id)
    if requester is None or requester.status is UserStatus.DISABLED:
        return  # an erased person has no address left to write to
    address = (await people.opened(session, keys, requester)).get("email")
    if address is None:
        return
    body = json.dumps({"receipt": row.receipt, "export": export}, indent=2, default=str)
    # A sealed mail body holds 6000 characters: a long copy goes in numbered parts.
    parts = [body[i : i + MAIL_PART] for i in range(0, len(body), MAIL_PART)]
    for n, part in enumerate(parts, start=1):
        suffix = f" (part {n} of {len(parts)})" if len(parts) > 1 else ""
        await people.send_mail(
            session,
            keys,
            requester,
            to=address,
            subject=f"Your {row.kind} request: {row.status}{suffix}",
            body=part,
        )


async def escalate_overdue(session: AsyncSession, *, now: datetime) -> int:
    """Mark open requests past their 30 days as escalated, once, with an audit entry each."""
    late = (
        await session.scalars(
            select(SubjectRequest)
            .where(
                SubjectRequest.status == OPEN,
                SubjectRequest.due_at < now,
                SubjectRequest.escalated_at.is_(None),
            )
            .with_for_update()
        )
    ).all()
    for row in late:
        row.escalated_at = now
        audit(
            session,
            action="subject_request.escalated",
            entity_type="SubjectRequest",
            entity_id=row.id,
            due_at=row.due_at.isoformat(),
        )
    await session.flush()
    return len(late)


async def list_requests(
    session: AsyncSession, *, viewer: Viewer, first: int, after: tuple[Any, ...] | None
) -> Page[SubjectRequest]:
    stmt = NEWEST.apply(select(SubjectRequest).where(visible(viewer)), after=after, limit=first + 1)
    return page_from((await session.scalars(stmt)).all(), first)


async def count_requests(session: AsyncSession, *, viewer: Viewer) -> int:
    stmt = select(func.count()).select_from(SubjectRequest).where(visible(viewer))
    return int(await session.scalar(stmt) or 0)


async def requests_by_ids(
    session: AsyncSession, *, viewer: Viewer, ids: list[uuid.UUID]
) -> list[SubjectRequest]:
    stmt = select(SubjectRequest).where(SubjectRequest.id.in_(ids), visible(viewer))
    return list((await session.scalars(stmt)).all())
