"""The ledger's refusals."""

from __future__ import annotations

from kernel.errors import Conflict, InvalidInput


class UnbalancedEntry(InvalidInput):
    """Debits and credits differ, or a leg is not a positive amount in cents."""

    code = "UNBALANCED_ENTRY"


class AlreadyReversed(Conflict):
    code = "ALREADY_REVERSED"
