"""What can go wrong with an application, each with a stable code."""

from __future__ import annotations

import uuid

from domain.applications.models import ApplicationStatus
from kernel.errors import DomainError


class InvalidTransition(DomainError):
    code = "INVALID_TRANSITION"

    def __init__(
        self, message: str, *, current: ApplicationStatus, target: ApplicationStatus | None
    ) -> None:
        super().__init__(message)
        self.current = current
        self.target = target


class NotEligible(DomainError):
    code = "NOT_ELIGIBLE"

    def __init__(self, reasons: tuple[str, ...]) -> None:
        super().__init__("the enterprise is not eligible for this product: " + "; ".join(reasons))
        self.reasons = reasons


class ConsentMissing(DomainError):
    code = "CONSENT_REQUIRED"

    def __init__(self, *, purpose: str, institution_id: uuid.UUID) -> None:
        super().__init__(
            f"the receiving institution needs your consent for {purpose} before you apply"
        )
        self.purpose = purpose
        self.institution_id = institution_id


class FourEyes(DomainError):
    """The same person may not be both eyes, nor re-review their own decision."""

    code = "FOUR_EYES"


class TermsChanged(DomainError):
    code = "TERMS_CHANGED"
