from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kernel.base import Base, IdMixin, UTCDateTime, new_id, utcnow


class AuditEntry(IdMixin, Base):
    """What happened, who did it, to what. Rows are only ever inserted.

    The actor is a plain id, not a foreign key, so the record outlives the account.
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index(None, "entity_type", "entity_id"), Index(None, "at"))

    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[uuid.UUID | None] = mapped_column()
    action: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    request_id: Mapped[str | None] = mapped_column(String(64))


class LogSeal(Base):
    """One sealed batch of a log stream: its rows' digest, chained and signed.

    A seal covers the stream's rows with ids after the previous seal's ``upto`` and up
    to its own (ids are time-ordered), ``rows`` of them; ``hash`` covers the digest and
    ``previous_hash``, and ``signature`` is an HMAC of ``hash`` under a key kept outside
    the database (``kid`` names it). Rows are only ever inserted.
    """

    __tablename__ = "log_seals"
    __table_args__ = (UniqueConstraint("stream", "seq"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    stream: Mapped[str] = mapped_column(String(16))
    seq: Mapped[int] = mapped_column()
    upto: Mapped[uuid.UUID] = mapped_column()
    rows: Mapped[int] = mapped_column()
    digest: Mapped[str] = mapped_column(String(64))
    previous_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    kid: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(64))
    sealed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LogPurge(Base):
    """A signed checkpoint and receipt of a retention purge of a log stream.

    The rows of the stream's seals up to ``through_seq`` (ids up to ``upto``) are
    deleted; the seals stay, so the chain still verifies, and ``head_hash`` is the hash
    of the last purged seal. ``signature`` is an HMAC under the seal key of
    ``domain.audit.purge.purge_hash``: a purge nobody holding the key wrote shows as a
    break, and rows deleted beyond the newest purge still show as altered. On
    PostgreSQL the log tables refuse a DELETE of a row no purge covers (migration 0033).
    Rows are only ever inserted.
    """

    __tablename__ = "log_purges"
    __table_args__ = (UniqueConstraint("stream", "through_seq"), Index(None, "stream", "upto"))

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    stream: Mapped[str] = mapped_column(String(16))
    through_seq: Mapped[int] = mapped_column()
    upto: Mapped[uuid.UUID] = mapped_column()
    head_hash: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column()
    schedule_version: Mapped[str] = mapped_column(String(64))
    purged_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[uuid.UUID | None] = mapped_column()
    kid: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(64))
