"""The inputs of verification: documents as multipart uploads, reviews and claims."""

import strawberry
from strawberry.file_uploads import Upload

from api.verification.types import VerificationDecision
from domain.verification.models import CaseStatus, DocumentKind, VerificationLevel


@strawberry.input(description="A PDF, JPEG or PNG of at most 5 MB; its type is read from it.")
class VerificationDocumentInput:
    kind: DocumentKind
    file: Upload


@strawberry.input
class SubmitVerificationInput:
    enterprise_id: strawberry.ID
    documents: list[VerificationDocumentInput] = strawberry.field(
        description="The business licence for BASIC; also the legal representative's "
        "identity document and a proof of control for VERIFIED."
    )
    note: str | None = None


@strawberry.input
class AddVerificationDocumentsInput:
    case_id: strawberry.ID
    documents: list[VerificationDocumentInput]
    note: str | None = None


@strawberry.input
class DisputeOwnershipInput:
    unified_social_credit_code: str = strawberry.field(
        description="The code of the enterprise another account holds."
    )
    documents: list[VerificationDocumentInput]
    note: str = strawberry.field(description="Why the enterprise is yours.")


@strawberry.input
class ReviewVerificationInput:
    case_id: strawberry.ID
    decision: VerificationDecision
    level: VerificationLevel | None = strawberry.field(
        default=None, description="The level granted when approving: BASIC or VERIFIED."
    )
    reasons: str = strawberry.field(description="Shown to the claimant.")
    expected_version: int | None = None


@strawberry.input
class VerificationCaseFilter:
    statuses: list[CaseStatus] | None = None
    enterprise_id: strawberry.ID | None = None
