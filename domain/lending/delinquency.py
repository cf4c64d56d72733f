"""Days past due and the delinquency buckets reported on every loan.

An instalment falls due on its due date and is past due from the day after; a loan is
as many days past due as its oldest unpaid instalment.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from domain.lending.models import DelinquencyBucket
from kernel.errors import InvalidInput

# Upper bound (inclusive) of days past due for each bucket, in order.
_BUCKET_LIMITS = (
    (0, DelinquencyBucket.CURRENT),
    (30, DelinquencyBucket.DPD_1_30),
    (60, DelinquencyBucket.DPD_31_60),
    (90, DelinquencyBucket.DPD_61_90),
)


def bucket_for(days_past_due: int) -> DelinquencyBucket:
    if days_past_due < 0:
        raise InvalidInput(f"days past due cannot be negative, got {days_past_due}")
    for limit, bucket in _BUCKET_LIMITS:
        if days_past_due <= limit:
            return bucket
    return DelinquencyBucket.DPD_90_PLUS


def days_past_due(unpaid_due_dates: Iterable[date], *, as_of: date) -> int:
    """Days since the oldest unpaid instalment fell due; 0 when none is overdue."""
    overdue = [due for due in unpaid_due_dates if due < as_of]
    return (as_of - min(overdue)).days if overdue else 0
