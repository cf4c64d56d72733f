"""The consent ledger: who agreed that whose data be used for what, by whom, until when.

An SME owner grants or withdraws consent for one purpose (credit assessment, loan
servicing, product recommendation, marketing) to one institution or to any
institution (recipient NULL). The ledger is the evidence a regulator asks for under
GDPR (art. 7(1): the controller must be able to demonstrate consent) and PIPL
(art. 14-15: consent is specific, informed and can be withdrawn at any time), so it
records who recorded it, through which channel and agreeing to which text version.

Threat model:

* The ledger is append-only: nothing here updates or deletes a record. A withdrawal
  is a new record; the state of a consent is its latest record.
* It is tamper-evident, not tamper-proof. Each subject's records form a hash chain:
  a record's ``hash`` is SHA-256 over a canonical JSON of its content and the hash
  of the subject's previous record. Editing a record's content, deleting a record or
  reordering records breaks the chain, and :func:`verify_chains` names the first
  record where it breaks. ``UNIQUE (subject_id, previous_hash)`` makes a fork (two
  records claiming the same predecessor) impossible for every record but the first
  (NULLs are distinct in SQL); writers also lock the subject's enterprise row, so on
  PostgreSQL two writers of one subject queue instead of forking.
* The chain is not a signature. Anyone who can write to the database and read this
  code can rewrite a record and recompute every hash after it, and the chain will
  verify. The remedy is to anchor the chain heads somewhere such a person cannot
  write (a write-once log, a timestamping authority, a periodic signed digest
  handed to the auditor); that is not done here.
* Consent records name an enterprise and institutions, never a person's values,
  so the ledger itself holds nothing personal to seal.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Select, and_, exists, false, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from domain.audit.service import record as audit
from domain.enterprises.models import Enterprise
from domain.enterprises.repository import enterprises_by_ids
from domain.identity.models import Institution
from domain.identity.viewer import Viewer
from domain.privacy import preferences
from domain.privacy.models import ConsentRecord
from domain.privacy.purposes import PURPOSES
from kernel.base import new_id, utcnow
from kernel.errors import Conflict, Forbidden, InvalidInput, NotFound

CONSENTABLE: frozenset[str] = frozenset(
    {"credit_assessment", "loan_servicing", "product_recommendation", "marketing"}
)
assert CONSENTABLE <= PURPOSES

GRANT = "grant"
WITHDRAW = "withdraw"
CHANNEL_MAX = 16
TEXT_VERSION_MAX = 32
VERIFY_BATCH = 1000


class InvalidConsent(InvalidInput):
    """Bad consent input; ``field`` names the input field at fault (or None)."""


ALTERED = "the record's content does not match its hash"
UNLINKED = "previous_hash is not the hash of the record before it"
ORPHANED = "the subject's first record names a predecessor: a record before it is missing"


@dataclass(frozen=True, slots=True)
class ChainBreak:
    subject_id: uuid.UUID
    record_id: uuid.UUID
    reason: str


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def record_hash(
    *,
    subject_id: uuid.UUID,
    purpose: str,
    recipient_institution_id: uuid.UUID | None,
    action: str,
    expires_at: datetime | None,
    actor_id: uuid.UUID | None,
    channel: str,
    text_version: str,
    recorded_at: datetime,
    previous_hash: str | None,
) -> str:
    """SHA-256 (hex) of a record's content and its predecessor's hash, canonically encoded."""
    content = {
        "subject_id": str(subject_id),
        "purpose": purpose,
        "recipient_institution_id": (
            None if recipient_institution_id is None else str(recipient_institution_id)
        ),
        "action": action,
        "expires_at": _iso(expires_at),
        "actor_id": None if actor_id is None else str(actor_id),
        "channel": channel,
        "text_version": text_version,
        "recorded_at": _iso(recorded_at),
        "previous_hash": previous_hash,
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


class _Content(Protocol):
    subject_id: uuid.UUID
    purpose: str
    recipient_institution_id: uuid.UUID | None
    action: str
    expires_at: datetime | None
    actor_id: uuid.UUID | None
    channel: str
    text_version: str
    recorded_at: datetime
    previous_hash: str | None


def hash_of(row: _Content) -> str:
    """The hash a stored record should carry, recomputed from what it holds now."""
    return record_hash(
        subject_id=row.subject_id,
        purpose=row.purpose,
        recipient_institution_id=row.recipient_institution_id,
        action=row.action,
        expires_at=row.expires_at,
        actor_id=row.actor_id,
        channel=row.channel,
        text_version=row.text_version,
        recorded_at=row.recorded_at,
        previous_hash=row.previous_hash,
    )


def _active(row: ConsentRecord | None, now: datetime) -> bool:
    return (
        row is not None and row.action == GRANT and (row.expires_at is None or row.expires_at > now)
    )


# ------------------------------------------------------------------------- writing


async def grant(
    session: AsyncSession,
    *,
    viewer: Viewer,
    subject_id: uuid.UUID,
    purpose: str,
    recipient_institution_id: uuid.UUID | None,
    expires_at: datetime | None,
    text_version: str,
    channel: str,
    now: datetime | None = None,
    request_id: str | None = None,
) -> ConsentRecord:
    """Record the owner's consent to ``purpose`` by the recipient (None: any institution)."""
    now = now or utcnow()
    await _owned_enterprise(session, viewer, subject_id)
    _check_purpose(purpose)
    await _check_recipient(session, recipient_institution_id)
    _check_text("channel", channel, CHANNEL_MAX)
    _check_text("textVersion", text_version, TEXT_VERSION_MAX)
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise InvalidConsent("expiresAt needs a time zone", field="expiresAt")
        if expires_at <= now:
            raise InvalidConsent("expiresAt must be in the future", field="expiresAt")
    return await _append(
        session,
        viewer=viewer,
        subject_id=subject_id,
        purpose=purpose,
        recipient_institution_id=recipient_institution_id,
        action=GRANT,
        expires_at=expires_at,
        text_version=text_version,
        channel=channel,
        now=now,
        request_id=request_id,
    )


async def withdraw(
    session: AsyncSession,
    *,
    viewer: Viewer,
    subject_id: uuid.UUID,
    purpose: str,
    recipient_institution_id: uuid.UUID | None,
    channel: str,
    now: datetime | None = None,
    request_id: str | None = None,
) -> ConsentRecord:
    """End the consent currently active for (purpose, recipient); there must be one."""
    now = now or utcnow()
    await _owned_enterprise(session, viewer, subject_id)
    _check_purpose(purpose)
    await _check_recipient(session, recipient_institution_id)
    _check_text("channel", channel, CHANNEL_MAX)
    latest = await _latest_for(session, subject_id, purpose, recipient_institution_id)
    if latest is None or not _active(latest, now):
        raise InvalidConsent(
            f"there is no active consent to {purpose} for that recipient to withdraw",
            field="purpose",
        )
    return await _append(
        session,
        viewer=viewer,
        subject_id=subject_id,
        purpose=purpose,
        recipient_institution_id=recipient_institution_id,
        action=WITHDRAW,
        expires_at=None,
        # The withdrawal answers the text the subject had agreed to.
        text_version=latest.text_version,
        channel=channel,
        now=now,
        request_id=request_id,
    )


async def _owned_enterprise(session: AsyncSession, viewer: Viewer, subject_id: uuid.UUID) -> None:
    # Through the row-scoped repository: an enterprise the viewer cannot see is not found.
    found = await enterprises_by_ids(session, viewer=viewer, ids=[subject_id])
    if not found:
        raise NotFound("enterprise not found")
    if viewer.user_id is None or found[0].owner_id != viewer.user_id:
        raise Forbidden("only the enterprise's owner may record its consent")


def _check_purpose(purpose: str) -> None:
    if purpose not in CONSENTABLE:
        raise InvalidConsent(
            f"unknown purpose {purpose!r}; one of {', '.join(sorted(CONSENTABLE))}",
            field="purpose",
        )


async def _check_recipient(session: AsyncSession, institution_id: uuid.UUID | None) -> None:
    if institution_id is None:
        return
    found = await session.scalar(select(Institution.id).where(Institution.id == institution_id))
    if found is None:
        raise InvalidConsent("no such institution", field="recipientInstitutionId")


def _check_text(field: str, value: str, limit: int) -> None:
    if not value.strip() or len(value) > limit:
        raise InvalidConsent(f"{field} must be 1 to {limit} characters", field=field)


async def _latest_for(
    session: AsyncSession, subject_id: uuid.UUID, purpose: str, recipient: uuid.UUID | None
) -> ConsentRecord | None:
    stmt = (
        select(ConsentRecord)
        .where(
            ConsentRecord.subject_id == subject_id,
            ConsentRecord.purpose == purpose,
            ConsentRecord.recipient_institution_id.is_(None)
            if recipient is None
            else ConsentRecord.recipient_institution_id == recipient,
        )
        .order_by(ConsentRecord.id.desc())
        .limit(1)
    )
    return await session.scalar(stmt)


async def _chain_head(session: AsyncSession, subject_id: uuid.UUID) -> str | None:
    """The hash of the subject's latest record (ids are time-ordered), None if it has none."""
    stmt = (
        select(ConsentRecord.hash)
        .where(ConsentRecord.subject_id == subject_id)
        .order_by(ConsentRecord.id.desc())
        .limit(1)
    )
    return await session.scalar(stmt)


async def _append(
    session: AsyncSession,
    *,
    viewer: Viewer,
    subject_id: uuid.UUID,
    purpose: str,
    recipient_institution_id: uuid.UUID | None,
    action: str,
    expires_at: datetime | None,
    text_version: str,
    channel: str,
    now: datetime,
    request_id: str | None,
) -> ConsentRecord:
    # Writers of one subject queue on its enterprise row (PostgreSQL; SQLite has one
    # writer at a time anyway), so the head read below is the head written after.
    await session.execute(
        select(Enterprise.id).where(Enterprise.id == subject_id).with_for_update()
    )
    previous = await _chain_head(session, subject_id)
    row = ConsentRecord(
        id=new_id(),
        subject_id=subject_id,
        purpose=purpose,
        recipient_institution_id=recipient_institution_id,
        action=action,
        expires_at=expires_at,
        actor_id=viewer.user_id,
        channel=channel,
        text_version=text_version,
        recorded_at=now,
        previous_hash=previous,
    )
    row.hash = hash_of(row)
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        # Another writer claimed the same predecessor first: the chain must not fork.
        raise Conflict("the consent ledger moved; try again") from None
    audit(
        session,
        action="consent.granted" if action == GRANT else "consent.withdrawn",
        entity_type="consent",
        entity_id=row.id,
        actor_id=viewer.user_id,
        request_id=request_id,
        subject_id=str(subject_id),
        purpose=purpose,
        recipient_institution_id=(
            None if recipient_institution_id is None else str(recipient_institution_id)
        ),
        expires_at=_iso(expires_at),
        channel=channel,
        text_version=text_version,
    )
    await session.flush()
    return row


# ------------------------------------------------------------------------- reading


async def consented(
    session: AsyncSession,
    *,
    subject_ids: Iterable[uuid.UUID],
    purpose: str,
    now: datetime,
) -> dict[uuid.UUID, frozenset[uuid.UUID | None]]:
    """Each subject's recipients with an active consent to ``purpose`` (None: any institution).

    Active: the latest record for (subject, purpose, recipient) is a grant that has not
    expired. One statement; subjects without any active consent map to an empty set.
    """
    ids = list(dict.fromkeys(subject_ids))
    result: dict[uuid.UUID, frozenset[uuid.UUID | None]] = {i: frozenset() for i in ids}
    if not ids:
        return result
    grants = active_grants(purpose=purpose, now=now)
    stmt = grants.where(grants.selected_columns.subject_id.in_(ids))
    found: dict[uuid.UUID, set[uuid.UUID | None]] = {}
    for subject_id, recipient in (await session.execute(stmt)).all():
        found.setdefault(subject_id, set()).add(recipient)
    for subject_id, recipients in found.items():
        result[subject_id] = frozenset(recipients)
    return result


def active_grants(*, purpose: str, now: datetime) -> Select[uuid.UUID, uuid.UUID | None]:
    """(subject, recipient) of every active consent to ``purpose``: the latest record for
    the subject, purpose and recipient is a grant that has not expired.

    The one definition of an active consent: ``consented`` narrows it to a page of
    subjects, the compiled read path to each row it reads (a correlated subquery).
    """
    record = aliased(ConsentRecord)
    later = aliased(ConsentRecord)
    subject = aliased(Enterprise)
    return select(record.subject_id, record.recipient_institution_id).where(
        # The owner stopped sharing with institutions: their consents do not count.
        ~exists().where(
            subject.id == record.subject_id,
            preferences.switched_off("share_with_institutions", subject.owner_id),
        ),
        record.purpose == purpose,
        record.action == GRANT,
        or_(record.expires_at.is_(None), record.expires_at > now),
        ~exists().where(
            later.subject_id == record.subject_id,
            later.purpose == record.purpose,
            later.recipient_institution_id.is_not_distinct_from(record.recipient_institution_id),
            later.id > record.id,
        ),
    )


def _visible(viewer: Viewer) -> ColumnElement[bool] | None:
    """Which consent records the viewer may list (None: all of them)."""
    if viewer.sees_all_tenants:
        return None
    conditions: list[ColumnElement[bool]] = []
    if viewer.user_id is not None:
        conditions.append(
            exists().where(
                Enterprise.id == ConsentRecord.subject_id,
                Enterprise.owner_id == viewer.user_id,
            )
        )
    if viewer.institution_ids:
        conditions.append(
            or_(
                ConsentRecord.recipient_institution_id.in_(viewer.institution_ids),
                ConsentRecord.recipient_institution_id.is_(None),
            )
        )
    return or_(*conditions) if conditions else false()


async def history(
    session: AsyncSession, *, viewer: Viewer, subject_id: uuid.UUID
) -> Sequence[ConsentRecord]:
    """The subject's records the viewer may see, oldest first.

    The owner sees them all; institution staff the ones naming their institution or
    any institution; platform roles everything; everyone else nothing.
    """
    stmt = select(ConsentRecord).where(ConsentRecord.subject_id == subject_id)
    visible = _visible(viewer)
    if visible is not None:
        stmt = stmt.where(visible)
    return (await session.scalars(stmt.order_by(ConsentRecord.id))).all()


async def by_ids(
    session: AsyncSession, *, viewer: Viewer, ids: Sequence[uuid.UUID]
) -> Sequence[ConsentRecord]:
    """Records by id, those the viewer may see (``node(id:)``)."""
    stmt = select(ConsentRecord).where(ConsentRecord.id.in_(ids))
    visible = _visible(viewer)
    if visible is not None:
        stmt = stmt.where(visible)
    return (await session.scalars(stmt)).all()


# ------------------------------------------------------------------------- auditing


async def verify_chains(session: AsyncSession) -> list[ChainBreak]:
    """Every break in every subject's chain; an empty list means the ledger is intact.

    Reads the whole table in (subject, id) order, in batches; an offline audit.
    """
    breaks: list[ChainBreak] = []
    subject: uuid.UUID | None = None
    predecessor: str | None = None
    after: tuple[uuid.UUID, uuid.UUID] | None = None
    while True:
        # Plain rows, not ORM objects: the caller's identity map stays as it was.
        stmt = select(*ConsentRecord.__table__.columns).order_by(
            ConsentRecord.subject_id, ConsentRecord.id
        )
        if after is not None:
            stmt = stmt.where(
                or_(
                    ConsentRecord.subject_id > after[0],
                    and_(ConsentRecord.subject_id == after[0], ConsentRecord.id > after[1]),
                )
            )
        rows: Sequence[Any] = (await session.execute(stmt.limit(VERIFY_BATCH))).all()
        for row in rows:
            if row.subject_id != subject:
                subject, predecessor = row.subject_id, None
            if hash_of(row) != row.hash:
                breaks.append(ChainBreak(row.subject_id, row.id, ALTERED))
            if row.previous_hash != predecessor:
                reason = ORPHANED if predecessor is None else UNLINKED
                breaks.append(ChainBreak(row.subject_id, row.id, reason))
            predecessor = row.hash
        if len(rows) < VERIFY_BATCH:
            return breaks
        after = (rows[-1].subject_id, rows[-1].id)
