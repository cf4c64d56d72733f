from __future__ import annotations

import strawberry

from domain.lending.models import DelinquencyBucket, LoanStatus


@strawberry.input
class LoanFilter:
    statuses: list[LoanStatus] | None = None
    delinquency_buckets: list[DelinquencyBucket] | None = None
    institution_id: strawberry.ID | None = None
    enterprise_id: strawberry.ID | None = None
