"""The application state machine: which status may follow which, and nothing else.

DRAFT -> SUBMITTED -> UNDER_REVIEW -> (MORE_INFO_REQUESTED -> UNDER_REVIEW) ->
APPROVED | REJECTED; REJECTED -> APPEALED -> UNDER_REVIEW (once);
APPROVED -> CONTRACT_SIGNED -> DISBURSED; WITHDRAWN from any state before
CONTRACT_SIGNED, and from CONTRACT_SIGNED when the signed contract is cancelled before
the payout (``domain.contracts.termination``). A rejection is final once its one
appeal is spent.
"""

from __future__ import annotations

from collections.abc import Iterable

from domain.applications.errors import InvalidTransition
from domain.applications.models import ApplicationStatus as S

_BEFORE_CONTRACT = frozenset(
    {
        S.DRAFT,
        S.SUBMITTED,
        S.UNDER_REVIEW,
        S.MORE_INFO_REQUESTED,
        S.APPROVED,
        S.REJECTED,
        S.APPEALED,
    }
)

NEXT: dict[S, frozenset[S]] = {
    S.DRAFT: frozenset({S.SUBMITTED}),
    S.SUBMITTED: frozenset({S.UNDER_REVIEW}),
    S.UNDER_REVIEW: frozenset({S.MORE_INFO_REQUESTED, S.APPROVED, S.REJECTED}),
    S.MORE_INFO_REQUESTED: frozenset({S.UNDER_REVIEW}),
    S.APPROVED: frozenset({S.CONTRACT_SIGNED}),
    S.REJECTED: frozenset({S.APPEALED}),
    S.APPEALED: frozenset({S.UNDER_REVIEW}),
    S.CONTRACT_SIGNED: frozenset({S.DISBURSED, S.WITHDRAWN}),
    S.DISBURSED: frozenset(),
    S.WITHDRAWN: frozenset(),
}
for _status in _BEFORE_CONTRACT:
    NEXT[_status] = NEXT[_status] | {S.WITHDRAWN}

TERMINAL = frozenset(status for status, following in NEXT.items() if not following)

# Each status's bit in ``Application.reached``, the statuses its time line has been in
# (kept beside the transitions, so the portfolio funnel reads one row per application
# instead of aggregating every transition). Stored: a bit never changes meaning.
REACHED_BIT: dict[S, int] = {
    S.DRAFT: 1 << 0,
    S.SUBMITTED: 1 << 1,
    S.UNDER_REVIEW: 1 << 2,
    S.MORE_INFO_REQUESTED: 1 << 3,
    S.APPROVED: 1 << 4,
    S.REJECTED: 1 << 5,
    S.APPEALED: 1 << 6,
    S.CONTRACT_SIGNED: 1 << 7,
    S.DISBURSED: 1 << 8,
    S.WITHDRAWN: 1 << 9,
}
DECISIONS = frozenset({S.APPROVED, S.REJECTED})


def reached(statuses: Iterable[S]) -> int:
    """The ``reached`` bits of a time line's statuses."""
    bits = 0
    for status in statuses:
        bits |= REACHED_BIT[status]
    return bits


def allowed(current: S, target: S) -> bool:
    return target in NEXT[current]


def check(current: S, target: S) -> None:
    """Refuse any move the machine does not have, naming what is possible instead."""
    if allowed(current, target):
        return
    options = ", ".join(sorted(s.name for s in NEXT[current])) or "none, it is final"
    raise InvalidTransition(
        f"an application {current.name} cannot become {target.name} (possible: {options})",
        current=current,
        target=target,
    )
