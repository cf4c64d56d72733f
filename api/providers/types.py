"""What was fetched from external providers, as the API shows it, and the refusals."""

import uuid
from datetime import date, datetime
from typing import Self, cast

import strawberry
from strawberry import relay
from strawberry.scalars import JSON

from api.access import classified
from api.identity.types import UserError
from domain.providers.models import ExternalDataKind
from domain.providers.models import ExternalDataRecord as ExternalDataRecordRow

ExternalDataKindGQL = strawberry.enum(
    ExternalDataKind,
    name="ExternalDataKind",
    description="A kind of external data: business registry, credit bureau, bank statements.",
)


@classified(
    public=["id"],
    internal=["kind", "source", "as_of", "fetched_at", "content_hash", "facts"],
)
@strawberry.type(
    description=(
        "One provider's answer about an enterprise, as kept: its source and date, the hash "
        "of the bytes received, and its facts. Names of people in it are sealed and not served."
    )
)
class ExternalDataRecord(relay.Node):
    pk: relay.NodeID[uuid.UUID]
    kind: ExternalDataKind
    source: str = strawberry.field(description="Who answered, as the provider names itself.")
    as_of: date = strawberry.field(description="The date the provider's data is as of.")
    fetched_at: datetime
    content_hash: str = strawberry.field(description="SHA-256 (hex) of the answer's bytes.")
    facts: JSON = strawberry.field(
        description=(
            "What the answer says, not personal. Registry: status, registeredCapital, "
            "establishedOn, insuredEmployees, nameMatches, foundedOnMatches, "
            "legalRepresentativeMatches. Bureau: score, openCreditLines, overdueAccounts, "
            "maxDaysPastDue, enquiriesLast6Months, outstandingDebt. Bank statements: months, "
            "averageMonthlyInflow, averageMonthlyOutflow, lowestEndingBalance, inflowVariation."
        )
    )

    @classmethod
    def from_row(cls, row: ExternalDataRecordRow) -> Self:
        return cls(
            pk=row.id,
            kind=row.kind,
            source=row.source,
            as_of=row.as_of,
            fetched_at=row.fetched_at,
            content_hash=row.content_hash,
            facts=cast(JSON, row.facts),
        )


@classified(public=["message", "code", "retry_after_seconds"])
@strawberry.type(
    description=(
        "The provider did not answer in time or failed, after retries, or is being left "
        "alone after repeated failures; nothing was stored. Try again later."
    )
)
class ProviderUnavailable(UserError):
    retry_after_seconds: int | None = strawberry.field(
        description="When the circuit is open: seconds until the provider is tried again."
    )


@classified(public=["message", "code"])
@strawberry.type(description="The provider's answer broke its contract; nothing of it was stored.")
class ProviderMalformedAnswer(UserError):
    pass


@classified(public=["message", "code"])
@strawberry.type(description="The provider has no record of this enterprise.")
class NoProviderRecord(UserError):
    pass


@classified(public=["message", "code", "purpose", "institution_id"])
@strawberry.type(
    description=(
        "The enterprise has not consented to its data being fetched for this purpose: by "
        "the institution named, or (null) by the platform for any institution."
    )
)
class DataConsentRequired(UserError):
    purpose: str
    institution_id: strawberry.ID | None
