"""The refusals an external-data fetch can meet, each with a stable code."""

from __future__ import annotations

import uuid

from kernel.errors import DomainError


class ProviderUnavailable(DomainError):
    """The provider did not answer in time, answered with a server error after every
    retry, or its circuit is open; nothing was stored. Try again later."""

    code = "PROVIDER_UNAVAILABLE"

    def __init__(self, message: str, *, retry_after_seconds: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class ProviderMalformed(DomainError):
    """The provider answered something that is not what its contract promises."""

    code = "PROVIDER_MALFORMED"


class NoProviderRecord(DomainError):
    """The provider knows nothing of this enterprise."""

    code = "PROVIDER_NO_RECORD"


class DataConsentMissing(DomainError):
    """The enterprise has not consented to its data being fetched for this purpose."""

    code = "CONSENT_REQUIRED"

    def __init__(self, *, purpose: str, institution_id: uuid.UUID | None) -> None:
        whom = "your institution" if institution_id is not None else "the platform"
        super().__init__(
            f"the enterprise has not consented to {purpose} by {whom}: "
            "outside data is fetched only with consent"
        )
        self.purpose = purpose
        self.institution_id = institution_id
