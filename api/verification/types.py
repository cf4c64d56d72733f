"""Verification cases as their owners and officers see them."""

import enum
import uuid
from datetime import datetime
from typing import Annotated, Self

import strawberry
from strawberry import relay

from api.access import classified
from api.context import Context
from api.enterprises.types import Enterprise
from api.identity.types import InvalidInputError
from api.outcomes import ConflictError
from domain.verification.models import (
    CaseKind,
    CaseStatus,
    DocumentKind,
    VerificationLevel,
)
from domain.verification.models import VerificationCase as CaseRow
from domain.verification.models import VerificationDocument as DocumentRow
from domain.verification.models import VerificationEvent as EventRow

VerificationKindGQL = strawberry.enum(CaseKind, name="VerificationKind")
VerificationStatusGQL = strawberry.enum(CaseStatus, name="VerificationStatus")
DocumentKindGQL = strawberry.enum(DocumentKind, name="VerificationDocumentKind")


@strawberry.enum
class VerificationDecision(enum.Enum):
    REQUEST_MORE_INFO = "request_more_info"
    APPROVE = "approve"
    REJECT = "reject"


@classified(
    internal=["kind", "media_type", "size_bytes", "sha256", "uploaded_at"],
    sensitive=["content"],
    sealed_in="verification_documents",
    sealed=["content"],
)
@strawberry.type(description="A document of a case: a scan or photograph, PDF, JPEG or PNG.")
class VerificationDocument:
    pk: strawberry.Private[uuid.UUID]
    # Whoever submitted the case: their own document is theirs to read.
    owner_id: strawberry.Private[uuid.UUID | None]
    kind: DocumentKind
    media_type: str = strawberry.field(description="Found from the content, not the name.")
    size_bytes: int
    sha256: str = strawberry.field(description="The digest of the file, in hex.")
    uploaded_at: datetime
    content: str | None = strawberry.field(
        description="The file, base64: for the officers and the person who sent it."
    )

    @classmethod
    def from_row(cls, row: DocumentRow, *, owner_id: uuid.UUID | None) -> Self:
        return cls(
            pk=row.id,
            owner_id=owner_id,
            kind=row.kind,
            media_type=row.media_type,
            size_bytes=row.size_bytes,
            sha256=row.sha256,
            uploaded_at=row.created_at,
            content=row.content,
        )


@classified(
    internal=["at", "from_status", "to_status", "by_officer"],
    personal=["note"],
    sealed_in="verification_events",
    sealed=["note"],
)
@strawberry.type(description="One step of a case, with the reasons given.")
class VerificationStep:
    pk: strawberry.Private[uuid.UUID]
    owner_id: strawberry.Private[uuid.UUID | None]
    at: datetime
    from_status: CaseStatus | None
    to_status: CaseStatus
    by_officer: bool = strawberry.field(description="An officer's step, not the claimant's.")
    note: str | None = strawberry.field(description="The officer's reasons or the claimant's note.")

    @classmethod
    def from_row(cls, row: EventRow, *, claimant_id: uuid.UUID | None) -> Self:
        return cls(
            pk=row.id,
            owner_id=claimant_id,
            at=row.at,
            from_status=row.from_status,
            to_status=row.to_status,
            by_officer=row.actor_id is not None and row.actor_id != claimant_id,
            note=row.note,
        )


@classified(
    public=["id"],
    internal=[
        "kind",
        "status",
        "level_granted",
        "version",
        "submitted_at",
        "decided_at",
        "enterprise",
        "documents",
        "history",
    ],
)
@strawberry.type(
    description="A request to verify an enterprise (OWNERSHIP) or a claim on one whose credit "
    "code another account holds (DISPUTE)."
)
class VerificationCase(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    claimant_id: strawberry.Private[uuid.UUID | None]
    enterprise_id: strawberry.Private[uuid.UUID]
    kind: CaseKind
    status: CaseStatus
    level_granted: VerificationLevel | None
    version: int = strawberry.field(description="Pass it back as expectedVersion.")
    submitted_at: datetime
    decided_at: datetime | None

    @strawberry.field(description="The enterprise, if you may see it (a claimant may not).")
    async def enterprise(self, info: strawberry.Info[Context, None]) -> Enterprise | None:
        row = await info.context.loaders.enterprise.load(self.enterprise_id)
        return None if row is None else Enterprise.from_row(row)

    @strawberry.field(description="Every document sent, oldest first.")
    async def documents(self, info: strawberry.Info[Context, None]) -> list[VerificationDocument]:
        rows = await info.context.loaders.verification_documents.load(self.pk)
        return [VerificationDocument.from_row(r, owner_id=self.claimant_id) for r in rows]

    @strawberry.field(description="Every step, oldest first.")
    async def history(self, info: strawberry.Info[Context, None]) -> list[VerificationStep]:
        rows = await info.context.loaders.verification_events.load(self.pk)
        return [VerificationStep.from_row(r, claimant_id=self.claimant_id) for r in rows]

    @classmethod
    def from_row(cls, row: CaseRow) -> Self:
        return cls(
            pk=row.id,
            claimant_id=row.claimant_id,
            enterprise_id=row.enterprise_id,
            kind=row.kind,
            status=row.status,
            level_granted=row.level_granted,
            version=row.version,
            submitted_at=row.created_at,
            decided_at=row.decided_at,
        )


VerificationResult = Annotated[
    VerificationCase | InvalidInputError | ConflictError, strawberry.union("VerificationResult")
]
