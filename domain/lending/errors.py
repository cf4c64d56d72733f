"""The lending context's own refusals, with their stable codes."""

from __future__ import annotations

from kernel.errors import InvalidInput


class LoanSold(InvalidInput):
    """A payment, or its reversal, on a loan whose claim was sold (domain.workout.claims):
    the buyer's."""

    code = "LOAN_SOLD"
