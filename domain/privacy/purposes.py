"""Why personal data is processed. Every request that may reveal it has a purpose.

A client names it in the ``X-Purpose`` header; without one, the viewer's role
implies the usual purpose of its work. The purpose is written to the access log
with every value revealed.
"""

from __future__ import annotations

from domain.identity.models import Role
from domain.identity.viewer import Viewer

PURPOSES: frozenset[str] = frozenset(
    {
        "credit_assessment",
        "loan_servicing",
        "product_recommendation",
        "marketing",
        "own_data",
        "oversight",
        "data_subject_request",
    }
)
HEADER = "x-purpose"


class UnknownPurpose(ValueError):
    pass


def purpose_for(viewer: Viewer, declared: str | None) -> str:
    if declared is not None:
        purpose = declared.strip().lower()
        if purpose not in PURPOSES:
            raise UnknownPurpose(
                f"unknown purpose {declared!r}; one of {', '.join(sorted(PURPOSES))}"
            )
        return purpose
    if Role.PRIVACY_OFFICER in viewer.platform_roles:
        return "data_subject_request"
    if viewer.sees_all_tenants:
        return "oversight"
    if viewer.institution_ids:
        return "credit_assessment"
    return "own_data"
