"""Tables of the privacy use cases."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from domain.identity.viewer import Viewer
from kernel.base import Base, UTCDateTime, new_id, utcnow


class AccessLogEntry(Base):
    """One personal value revealed (not masked) to a viewer. Rows are only inserted.

    Written in one batched insert per request; the viewer is a plain id, not a
    foreign key, so the record outlives the account.
    """

    __tablename__ = "access_log"
    __table_args__ = (Index(None, "subject_id", "id"), Index(None, "viewer_id", "id"))

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    viewer_id: Mapped[uuid.UUID | None] = mapped_column()
    viewer_kind: Mapped[str] = mapped_column(String(16))
    institution_codes: Mapped[str] = mapped_column(String(200), default="")
    subject_id: Mapped[uuid.UUID] = mapped_column()
    object: Mapped[str] = mapped_column(String(100))
    purpose: Mapped[str] = mapped_column(String(32))
    request_id: Mapped[str | None] = mapped_column(String(64))

    @classmethod
    def of(
        cls,
        viewer: Viewer,
        *,
        subject_id: uuid.UUID,
        obj: str,
        purpose: str,
        request_id: str | None,
        at: datetime,
    ) -> AccessLogEntry:
        """One access by ``viewer`` to the subject's ``obj``, outside a request's batch."""
        return cls(
            id=new_id(),
            at=at,
            viewer_id=viewer.user_id or viewer.service_account_id,
            viewer_kind="service" if viewer.service_account_id else "user",
            institution_codes=",".join(sorted(viewer.institution_codes.values())),
            subject_id=subject_id,
            object=obj,
            purpose=purpose,
            request_id=request_id,
        )


class ConsentRecord(Base):
    """One grant or withdrawal of consent. Append-only, and chained per subject.

    ``hash`` covers the record's content and ``previous_hash`` (the subject's record
    before it), so an edited, removed or reordered record breaks the chain; the
    unique (subject, previous) pair makes a fork (two records claiming the same
    predecessor) impossible.
    """

    __tablename__ = "consent_records"
    __table_args__ = (
        UniqueConstraint("subject_id", "previous_hash"),
        Index(None, "subject_id", "purpose", "recipient_institution_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    subject_id: Mapped[uuid.UUID] = mapped_column()
    purpose: Mapped[str] = mapped_column(String(32))
    # NULL: every institution (e.g. marketing by the platform itself).
    recipient_institution_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("institutions.id", ondelete="RESTRICT")
    )
    action: Mapped[str] = mapped_column(String(8))  # grant | withdraw
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Evidence: who recorded it, through which channel, agreeing to which text.
    actor_id: Mapped[uuid.UUID | None] = mapped_column()
    channel: Mapped[str] = mapped_column(String(16))
    text_version: Mapped[str] = mapped_column(String(32))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    previous_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class MaskingPolicy(Base):
    """How a personal field is shown to a role for a purpose. Versioned, never edited.

    ``status``: pending (a widening waits for a second privacy officer), active,
    superseded (a later version took its place), rejected, or rolled_back.
    """

    __tablename__ = "masking_policies"
    __table_args__ = (
        UniqueConstraint("object", "role", "purpose", "version"),
        Index(None, "status", "object"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    object: Mapped[str] = mapped_column(String(100))  # Type.field
    role: Mapped[str] = mapped_column(String(32))
    purpose: Mapped[str] = mapped_column(String(32))  # a purpose, or * for any
    strategy: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[uuid.UUID | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    decided_by: Mapped[uuid.UUID | None] = mapped_column()
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class BreakGlassGrant(Base):
    """An emergency reveal: who, of whose data, why, until when, and who reviewed it."""

    __tablename__ = "break_glass_grants"
    __table_args__ = (Index(None, "viewer_id", "subject_id", "expires_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    viewer_id: Mapped[uuid.UUID] = mapped_column()
    subject_id: Mapped[uuid.UUID] = mapped_column()
    reason: Mapped[str] = mapped_column(String(500))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[uuid.UUID | None] = mapped_column()
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class PrivacyPreference(Base):
    """A person's privacy settings; no row means the defaults (domain.privacy.preferences)."""

    __tablename__ = "privacy_preferences"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    marketing: Mapped[bool] = mapped_column(default=False)
    product_recommendations: Mapped[bool] = mapped_column(default=True)
    share_with_institutions: Mapped[bool] = mapped_column(default=True)
    share_with_providers: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SubjectRequest(Base):
    """A data-subject request (access, rectification, erasure, objection) as a workflow.

    ``status``: open (identity checked, waiting for a privacy officer), completed or
    refused. ``due_at`` is 30 days after it was received; an open request past it is
    escalated once (``escalated_at``). ``receipt`` is what the requester was sent.
    """

    __tablename__ = "subject_requests"
    __table_args__ = (Index(None, "requester_id", "id"), Index(None, "status", "due_at"))

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(16))
    subject_type: Mapped[str] = mapped_column(String(16))  # enterprise | user
    subject_id: Mapped[uuid.UUID] = mapped_column()
    requester_id: Mapped[uuid.UUID] = mapped_column()
    # What to rectify ({field: value}, sealed under the subject's key) or object to.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    identity_checked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    identity_method: Mapped[str] = mapped_column(String(16))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[uuid.UUID | None] = mapped_column()
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    refusal_reason: Mapped[str | None] = mapped_column(String(500))
    receipt: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class LegalHold(Base):
    """A privacy officer's hold on a subject: no retention purge while it is active.

    Released, not deleted: ``released_at`` and ``released_by`` say when and by whom.
    """

    __tablename__ = "legal_holds"
    __table_args__ = (Index(None, "subject_id", "released_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    subject_id: Mapped[uuid.UUID] = mapped_column()
    reason: Mapped[str] = mapped_column(String(500))
    set_by: Mapped[uuid.UUID | None] = mapped_column()
    set_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    released_by: Mapped[uuid.UUID | None] = mapped_column()
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class RetentionRun(Base):
    """The receipt of one retention run: only inserted (refused UPDATE/DELETE on PostgreSQL).

    ``purged`` maps each category to the subject ids it crypto-shredded.
    """

    __tablename__ = "retention_runs"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor_id: Mapped[uuid.UUID | None] = mapped_column()
    schedule_version: Mapped[str] = mapped_column(String(64))
    purged: Mapped[dict[str, Any]] = mapped_column(JSON)
    total: Mapped[int] = mapped_column()
