"""recordsOfProcessing: what personal data is processed, why, on what basis, seen by whom."""

from __future__ import annotations

import strawberry

from api.access import classified
from api.context import Context
from api.privacy.masking import protected_fields
from domain.identity.models import Role
from domain.privacy.records import ProcessingRecord as Record
from domain.privacy.records import processing_records


@classified(
    internal=[
        "field",
        "classification",
        "purpose",
        "lawful_bases",
        "revealed_to",
        "masked_for",
        "retention",
    ]
)
@strawberry.type(
    description="One record of processing: a personal field processed for a purpose, on "
    "the lawful bases that cover it, revealed to some roles and masked for others."
)
class ProcessingRecord:
    field: str = strawberry.field(description="Type.field, e.g. Enterprise.contactPhone.")
    classification: str = strawberry.field(description="personal or sensitive.")
    purpose: str
    lawful_bases: list[str] = strawberry.field(
        description="subject, platform_oversight, consent, contract (lawful_bases.csv)."
    )
    revealed_to: list[Role] = strawberry.field(
        description="Roles the policy lets reveal it and that can hold one of the bases."
    )
    masked_for: list[Role] = strawberry.field(description="Roles that read it masked only.")
    retention: str = strawberry.field(description="How long it is kept.")

    @classmethod
    def of(cls, record: Record) -> ProcessingRecord:
        return cls(
            field=record.field,
            classification=record.classification,
            purpose=record.purpose,
            lawful_bases=[b.value for b in record.bases],
            revealed_to=list(record.revealed_to),
            masked_for=list(record.masked_for),
            retention=record.retention,
        )


def personal_classification(schema: object) -> dict[str, str]:
    """Each personal or sensitive ``Type.field`` of the schema and its classification."""
    return {obj: level.name.lower() for obj, (_, level) in protected_fields(schema).items()}


@classified(public=["records_of_processing"])
@strawberry.type
class RecordsQueries:
    @strawberry.field(
        description="The records of processing activities, generated from the "
        "classification, the authorization policy and the lawful-basis table as they "
        "stand. Platform roles only; empty for anyone else."
    )
    def records_of_processing(self, info: strawberry.Info[Context, None]) -> list[ProcessingRecord]:
        ctx = info.context
        if not ctx.viewer.oversees_platform:
            return []
        personal = personal_classification(info.schema)
        return [ProcessingRecord.of(r) for r in processing_records(personal, ctx.authorizer)]
