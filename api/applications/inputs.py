from __future__ import annotations

import strawberry

from domain.applications.models import ApplicationStatus


@strawberry.input
class ApplicationFilter:
    statuses: list[ApplicationStatus] | None = None
    institution_id: strawberry.ID | None = None
    enterprise_id: strawberry.ID | None = None
    product_id: strawberry.ID | None = None
