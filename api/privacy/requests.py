"""Data-subject requests over GraphQL: a person asks, a privacy officer answers."""

import enum
import uuid
from datetime import datetime
from typing import Annotated, Any, Self, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from api.access import classified, mutation
from api.context import Context
from api.identity.types import InvalidInputError
from api.outcomes import ConflictError, perform
from api.relay import Connection, ListingRequest, decode_global_id, listed
from domain.privacy import requests as service
from domain.privacy.models import SubjectRequest as SubjectRequestRow

SUBJECT_TYPES = {"Enterprise": "enterprise", "User": "user"}


@strawberry.enum(description="What the person asks for.")
class SubjectRequestKind(enum.Enum):
    ACCESS = "access"
    RECTIFICATION = "rectification"
    ERASURE = "erasure"
    OBJECTION = "objection"


@strawberry.enum(description="Where the request stands.")
class SubjectRequestStatus(enum.Enum):
    OPEN = "open"
    COMPLETED = "completed"
    REFUSED = "refused"


@classified(
    public=["id"],
    internal=[
        "kind",
        "subject_id",
        "status",
        "identity_checked_at",
        "identity_method",
        "received_at",
        "due_at",
        "escalated_at",
        "decided_at",
        "refusal_reason",
        "receipt",
    ],
)
@strawberry.type(
    description="A data-subject request: received after an identity check, answered "
    "within 30 days (escalated when late), with a receipt."
)
class SubjectRequest(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    kind: SubjectRequestKind
    subject_id: strawberry.ID = strawberry.field(description="The Enterprise or User it is about.")
    status: SubjectRequestStatus
    identity_checked_at: datetime
    identity_method: str = strawberry.field(description="How the requester was identified.")
    received_at: datetime
    due_at: datetime = strawberry.field(description="30 days after it was received.")
    escalated_at: datetime | None = strawberry.field(
        description="When it passed its due date still open; null otherwise."
    )
    decided_at: datetime | None
    refusal_reason: str | None
    receipt: JSON | None = strawberry.field(
        description="What the requester was sent: kind, subject, outcome, dates and the "
        "SHA-256 of it all. Null while open."
    )

    @classmethod
    def from_row(cls, row: SubjectRequestRow) -> Self:
        subject_type = "Enterprise" if row.subject_type == "enterprise" else "User"
        return cls(
            pk=row.id,
            kind=SubjectRequestKind(row.kind),
            subject_id=strawberry.ID(relay.to_base64(subject_type, str(row.subject_id))),
            status=SubjectRequestStatus(row.status),
            identity_checked_at=row.identity_checked_at,
            identity_method=row.identity_method,
            received_at=row.received_at,
            due_at=row.due_at,
            escalated_at=row.escalated_at,
            decided_at=row.decided_at,
            refusal_reason=row.refusal_reason,
            receipt=cast(JSON, row.receipt),
        )


@strawberry.input
class SubmitSubjectRequestInput:
    kind: SubjectRequestKind
    subject_id: strawberry.ID = strawberry.field(
        description="Your own User, or an Enterprise you own."
    )
    password: str = strawberry.field(description="Your password again: the identity check.")
    details: JSON | None = strawberry.field(
        default=None,
        description='RECTIFICATION: the corrected values ({"displayName": ...}; for an '
        "enterprise legalRepresentativeName, contactPhone, contactEmail). OBJECTION: "
        '{"purpose": marketing | product_recommendation | sharing_with_institutions | '
        "sharing_with_providers}.",
    )


@strawberry.input
class CompleteSubjectRequestInput:
    request_id: strawberry.ID
    refusal: str | None = strawberry.field(
        default=None, description="Refuse it instead, saying why (10 characters or more)."
    )


SubjectRequestResult = Annotated[
    SubjectRequest | InvalidInputError | ConflictError, strawberry.union("SubjectRequestResult")
]


def _shown(result: object) -> SubjectRequestResult:
    if isinstance(result, SubjectRequestRow):
        return SubjectRequest.from_row(result)
    return result  # type: ignore[return-value]


@classified(public=["subject_requests"])
@strawberry.type
class SubjectRequestQueries:
    @strawberry.field(
        description="Data-subject requests, newest first: your own; every one for privacy officers."
    )
    async def subject_requests(
        self,
        info: strawberry.Info[Context, None],
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[SubjectRequest]:
        ctx = info.context
        asked = ListingRequest.read(
            ctx.settings, keyset=service.NEWEST, flt=None, first=first, after=after
        )
        return await listed(
            ctx.sessions,
            asked,
            page=lambda s: service.list_requests(
                s, viewer=ctx.viewer, first=asked.first, after=asked.after
            ),
            count=lambda s: service.count_requests(s, viewer=ctx.viewer),
            to_node=SubjectRequest.from_row,
        )


@strawberry.type
class SubjectRequestMutations:
    @mutation(
        "submitSubjectRequest",
        description="Ask for a copy, a correction, an erasure or an end to a use of your "
        "data (yours, or an enterprise's you own); answered within 30 days.",
    )
    async def submit_subject_request(
        self, info: strawberry.Info[Context, None], input: SubmitSubjectRequestInput
    ) -> SubjectRequestResult:
        type_name, subject_id = decode_global_id(
            input.subject_id, expected=tuple(SUBJECT_TYPES), field="subjectId"
        )
        details: dict[str, Any] = input.details if isinstance(input.details, dict) else {}
        return _shown(
            await perform(
                info,
                lambda s, a: service.submit(
                    s,
                    a.keys,
                    viewer=a.viewer,
                    kind=input.kind.value,
                    subject_type=SUBJECT_TYPES[type_name],
                    subject_id=subject_id,
                    password=input.password,
                    details={str(k): str(v) for k, v in details.items()},
                    request_id=a.request_id,
                ),
            )
        )

    @mutation(
        "completeSubjectRequest",
        description="Carry out an open data-subject request (or refuse it with a reason); "
        "the requester is sent a receipt.",
    )
    async def complete_subject_request(
        self, info: strawberry.Info[Context, None], input: CompleteSubjectRequestInput
    ) -> SubjectRequestResult:
        pk: uuid.UUID = decode_global_id(
            input.request_id, expected="SubjectRequest", field="requestId"
        )[1]
        return _shown(
            await perform(
                info,
                lambda s, a: service.complete(
                    s,
                    a.keys,
                    viewer=a.viewer,
                    request_id=pk,
                    refusal=input.refusal,
                    trace_id=a.request_id,
                ),
            )
        )
