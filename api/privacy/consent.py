"""The consent ledger over GraphQL: an owner's grants and withdrawals, and their history."""

import enum
import uuid
from datetime import datetime
from typing import Annotated, Self

import strawberry
from strawberry import relay

from api.access import classified, mutation
from api.context import Context
from api.identity.types import Institution, InvalidInputError
from api.relay import decode_global_id
from domain.privacy import consent
from domain.privacy.models import ConsentRecord
from kernel.db import unit_of_work
from kernel.errors import Conflict, InvalidInput


@strawberry.enum(description="What a consent record did.")
class ConsentAction(enum.Enum):
    GRANT = "grant"
    WITHDRAW = "withdraw"


@classified(
    internal=[
        "id",
        "subject_id",
        "purpose",
        "recipient_institution",
        "action",
        "expires_at",
        "recorded_at",
        "channel",
        "text_version",
        "hash",
        "previous_hash",
    ]
)
@strawberry.type(
    description=(
        "One grant or withdrawal of consent, as recorded. Records are never edited; "
        "each carries the hash of the subject's previous record."
    )
)
class Consent(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    subject_id: strawberry.ID = strawberry.field(description="The enterprise's global id.")
    purpose: str
    action: ConsentAction
    expires_at: datetime | None = strawberry.field(description="Null: until withdrawn.")
    recorded_at: datetime
    channel: str = strawberry.field(description="Where it was recorded, e.g. api, web, branch.")
    text_version: str = strawberry.field(description="The consent text the subject agreed to.")
    hash: str = strawberry.field(description="SHA-256 of this record and previousHash.")
    previous_hash: str | None = strawberry.field(description="Null on the subject's first record.")
    recipient_institution_pk: strawberry.Private[uuid.UUID | None]

    @strawberry.field(description="Who may use the data; null: any institution.")
    async def recipient_institution(
        self, info: strawberry.Info[Context, None]
    ) -> Institution | None:
        if self.recipient_institution_pk is None:
            return None
        row = await info.context.loaders.institution.load(self.recipient_institution_pk)
        return None if row is None else Institution.from_row(row)

    @classmethod
    def from_row(cls, row: ConsentRecord) -> Self:
        return cls(
            pk=row.id,
            subject_id=strawberry.ID(relay.to_base64("Enterprise", str(row.subject_id))),
            purpose=row.purpose,
            action=ConsentAction(row.action),
            expires_at=row.expires_at,
            recorded_at=row.recorded_at,
            channel=row.channel,
            text_version=row.text_version,
            hash=row.hash,
            previous_hash=row.previous_hash,
            recipient_institution_pk=row.recipient_institution_id,
        )


@strawberry.input
class GrantConsentInput:
    subject_id: strawberry.ID = strawberry.field(description="The enterprise's global id.")
    purpose: str = strawberry.field(
        description="credit_assessment, loan_servicing, product_recommendation or marketing."
    )
    recipient_institution_id: strawberry.ID | None = strawberry.field(
        default=None, description="The institution; null: any institution."
    )
    expires_at: datetime | None = strawberry.field(
        default=None, description="In the future, with a time zone; null: until withdrawn."
    )
    text_version: str = strawberry.field(description="The consent text the subject agreed to.")
    channel: str = "api"


@strawberry.input
class WithdrawConsentInput:
    subject_id: strawberry.ID
    purpose: str
    recipient_institution_id: strawberry.ID | None = None
    channel: str = "api"


GrantConsentResult = Annotated[Consent | InvalidInputError, strawberry.union("GrantConsentResult")]
WithdrawConsentResult = Annotated[
    Consent | InvalidInputError, strawberry.union("WithdrawConsentResult")
]


def _invalid(exc: InvalidInput | Conflict) -> InvalidInputError:
    return InvalidInputError.of(exc)


def _ids(
    subject_id: strawberry.ID, recipient_institution_id: strawberry.ID | None
) -> tuple[uuid.UUID, uuid.UUID | None]:
    subject = decode_global_id(subject_id, expected="Enterprise", field="subjectId")[1]
    if recipient_institution_id is None:
        return subject, None
    recipient = decode_global_id(
        recipient_institution_id, expected="Institution", field="recipientInstitutionId"
    )[1]
    return subject, recipient


@classified(public=["consents"])
@strawberry.type
class ConsentQueries:
    @strawberry.field(
        description=(
            "An enterprise's consent history, oldest first: all of it for its owner, "
            "what names your institution (or any institution) for institution staff."
        )
    )
    async def consents(
        self, info: strawberry.Info[Context, None], subject_id: strawberry.ID
    ) -> list[Consent]:
        ctx = info.context
        subject = decode_global_id(subject_id, expected="Enterprise")[1]
        async with ctx.sessions() as session:
            rows = await consent.history(session, viewer=ctx.viewer, subject_id=subject)
        return [Consent.from_row(r) for r in rows]


@strawberry.type
class ConsentMutations:
    @mutation("grantConsent", description="Consent to a use of your enterprise's data.")
    async def grant_consent(
        self, info: strawberry.Info[Context, None], input: GrantConsentInput
    ) -> GrantConsentResult:
        ctx = info.context
        try:
            subject, recipient = _ids(input.subject_id, input.recipient_institution_id)
            async with unit_of_work(ctx.sessions) as session:
                row = await consent.grant(
                    session,
                    viewer=ctx.viewer,
                    subject_id=subject,
                    purpose=input.purpose,
                    recipient_institution_id=recipient,
                    expires_at=input.expires_at,
                    text_version=input.text_version,
                    channel=input.channel,
                    request_id=ctx.request_id,
                )
        except (InvalidInput, Conflict) as exc:
            return _invalid(exc)
        return Consent.from_row(row)

    @mutation("withdrawConsent", description="Withdraw a consent you gave; it ends at once.")
    async def withdraw_consent(
        self, info: strawberry.Info[Context, None], input: WithdrawConsentInput
    ) -> WithdrawConsentResult:
        ctx = info.context
        try:
            subject, recipient = _ids(input.subject_id, input.recipient_institution_id)
            async with unit_of_work(ctx.sessions) as session:
                row = await consent.withdraw(
                    session,
                    viewer=ctx.viewer,
                    subject_id=subject,
                    purpose=input.purpose,
                    recipient_institution_id=recipient,
                    channel=input.channel,
                    request_id=ctx.request_id,
                )
        except (InvalidInput, Conflict) as exc:
            return _invalid(exc)
        return Consent.from_row(row)
