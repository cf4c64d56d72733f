"""Submitting documents, claiming an enterprise, and an officer's review."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile

from api.access import mutation
from api.context import Context
from api.outcomes import perform, pk_of
from api.verification.inputs import (
    AddVerificationDocumentsInput,
    DisputeOwnershipInput,
    ReviewVerificationInput,
    SubmitVerificationInput,
    VerificationDocumentInput,
)
from api.verification.types import VerificationCase, VerificationResult
from domain.applications.service import Actor
from domain.verification import models, service
from domain.verification.documents import read_checked


def _uploads(documents: list[VerificationDocumentInput]) -> list[service.Upload]:
    """Each file read (up to the limit) and checked by its content."""
    uploads = []
    for n, document in enumerate(documents):
        upload = cast(UploadFile, document.file)
        checked = read_checked(upload.file, field=f"documents.{n}.file")
        uploads.append(service.Upload(kind=document.kind, document=checked))
    return uploads


async def _decide(
    info: strawberry.Info[Context, None],
    step: Callable[..., Awaitable[models.VerificationCase]],
    **arguments: Any,
) -> VerificationResult:
    """Run one step of the case's service as the viewer, in one transaction."""

    async def work(session: AsyncSession, actor: Actor) -> VerificationCase:
        row = await step(
            session, actor.keys, viewer=actor.viewer, request_id=actor.request_id, **arguments
        )
        return VerificationCase.from_row(row)

    result: VerificationResult = await perform(info, work)
    return result


@strawberry.type
class VerificationMutations:
    @mutation(
        "submitVerification",
        description="Ask for an enterprise of yours to be verified, with its documents.",
    )
    async def submit_verification(
        self, info: strawberry.Info[Context, None], input: SubmitVerificationInput
    ) -> VerificationResult:
        return await _decide(
            info,
            service.submit,
            enterprise_id=pk_of(input.enterprise_id, "Enterprise", field="enterpriseId"),
            uploads=_uploads(input.documents),
            note=input.note,
        )

    @mutation(
        "addVerificationDocuments",
        description="Answer a request for more: add documents; the case goes back to review.",
    )
    async def add_verification_documents(
        self, info: strawberry.Info[Context, None], input: AddVerificationDocumentsInput
    ) -> VerificationResult:
        return await _decide(
            info,
            service.add_documents,
            case_id=pk_of(input.case_id, "VerificationCase", field="caseId"),
            uploads=_uploads(input.documents),
            note=input.note,
        )

    @mutation(
        "disputeOwnership",
        description="Claim an enterprise whose credit code another account holds; an officer "
        "decides who owns it.",
    )
    async def dispute_ownership(
        self, info: strawberry.Info[Context, None], input: DisputeOwnershipInput
    ) -> VerificationResult:
        return await _decide(
            info,
            service.dispute,
            unified_social_credit_code=input.unified_social_credit_code,
            uploads=_uploads(input.documents),
            note=input.note,
        )

    @mutation(
        "reviewVerification",
        description="An officer asks for more, approves at a level, or rejects, with reasons. "
        "Approving a dispute hands the enterprise to the claimant.",
    )
    async def review_verification(
        self, info: strawberry.Info[Context, None], input: ReviewVerificationInput
    ) -> VerificationResult:
        return await _decide(
            info,
            service.review,
            case_id=pk_of(input.case_id, "VerificationCase", field="caseId"),
            decision=input.decision.value,
            level=input.level,
            reasons=input.reasons,
            expected_version=input.expected_version,
        )
