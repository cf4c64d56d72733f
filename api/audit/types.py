"""The audit log and the integrity of every chain, as auditors read them."""

# No postponed annotations: Strawberry reads strawberry.Private from the evaluated annotation.

import enum
import uuid
from datetime import datetime
from typing import Self, cast

import strawberry
from strawberry.scalars import JSON

from api.access import classified
from api.context import Context
from api.identity.types import User, person
from domain.audit.chain import SealBreak, StreamIntegrity
from domain.audit.integrity import Integrity
from domain.audit.models import AuditEntry as AuditRow
from domain.privacy.consent import ChainBreak


@classified(
    internal=["id", "at", "actor", "action", "entity_type", "entity_id", "request_id"],
    personal=["detail"],
)
@strawberry.type(description="One thing that happened: who did it, to what, when.")
class AuditLogEntry:
    id: strawberry.ID = strawberry.field(
        description="The entry's key (a UUID): an external reference, not a node."
    )
    at: datetime
    actor_pk: strawberry.Private[uuid.UUID | None]
    action: str = strawberry.field(description="What happened, e.g. masking.policy_set.")
    entity_type: str
    entity_id: str = strawberry.field(
        description="The entity's key as the domain keeps it: an external reference."
    )
    detail: JSON | None = strawberry.field(
        description="The particulars; may quote people's words (reasons), so it is personal: "
        "auditors see it withheld."
    )
    request_id: str | None = strawberry.field(
        description="The request's id, as in the logs and X-Request-ID: an external reference."
    )

    @strawberry.field(
        description="The User who did it; null for the system's own jobs, or if you may "
        "not see them."
    )
    async def actor(self, info: strawberry.Info[Context, None]) -> User | None:
        return await person(info, self.actor_pk)

    @classmethod
    def from_row(cls, row: AuditRow) -> Self:
        return cls(
            id=strawberry.ID(str(row.id)),
            at=row.at,
            actor_pk=row.actor_id,
            action=row.action,
            entity_type=row.entity_type,
            entity_id=row.entity_id,
            detail=cast(JSON, row.detail),
            request_id=row.request_id,
        )


@strawberry.enum(description="A chain the platform keeps, or the checkpoints of its logs.")
class IntegrityChain(enum.Enum):
    AUDIT = "audit"
    ACCESS = "access"
    CHECKPOINT = "checkpoint"
    CONSENT = "consent"


@classified(internal=["chain", "seal", "consent_record", "reason"])
@strawberry.type(description="Where a chain is broken, and how.")
class IntegrityBreak:
    chain: IntegrityChain
    seal: int | None = strawberry.field(description="The seal's number in its log's chain.")
    consent_record: str | None = strawberry.field(
        description="The consent record's key (a UUID): an external reference."
    )
    reason: str

    @classmethod
    def of_seal(cls, found: SealBreak) -> Self:
        return cls(
            chain=IntegrityChain(found.stream),
            seal=found.seq,
            consent_record=None,
            reason=found.reason,
        )

    @classmethod
    def of_consent(cls, found: ChainBreak) -> Self:
        return cls(
            chain=IntegrityChain.CONSENT,
            seal=None,
            consent_record=str(found.record_id),
            reason=found.reason,
        )


@classified(
    internal=["chain", "intact", "seals", "rows_sealed", "rows_awaiting_seal", "last_sealed_at"]
)
@strawberry.type(description="One log's chain of seals.")
class LogIntegrity:
    chain: IntegrityChain
    intact: bool
    seals: int
    rows_sealed: int
    rows_awaiting_seal: int = strawberry.field(
        description="Rows newer than the last seal; the sealing job takes them on its next run."
    )
    last_sealed_at: datetime | None

    @classmethod
    def of(cls, found: StreamIntegrity) -> Self:
        return cls(
            chain=IntegrityChain(found.stream),
            intact=found.intact,
            seals=found.seals,
            rows_sealed=found.rows_sealed,
            rows_awaiting_seal=found.rows_awaiting,
            last_sealed_at=found.last_sealed_at,
        )


@classified(internal=["intact", "checked_at", "rows_checked", "logs", "breaks"])
@strawberry.type(description="Every chain checked: the logs' seals, their checkpoints, consents.")
class AuditIntegrity:
    intact: bool
    checked_at: datetime
    rows_checked: bool = strawberry.field(
        description="Whether every sealed row was read and digested again (deep: true)."
    )
    logs: list[LogIntegrity]
    breaks: list[IntegrityBreak]

    @classmethod
    def of(cls, found: Integrity, *, rows_checked: bool) -> Self:
        breaks = [IntegrityBreak.of_seal(b) for b in found.checkpoint_breaks]
        breaks += [IntegrityBreak.of_seal(b) for s in found.streams for b in s.breaks]
        breaks += [IntegrityBreak.of_consent(b) for b in found.consent_breaks]
        return cls(
            intact=found.intact,
            checked_at=found.checked_at,
            rows_checked=rows_checked,
            logs=[LogIntegrity.of(s) for s in found.streams],
            breaks=breaks,
        )
