"""The application state machine: which status may follow which, and nothing else.

DRAFT -> SUBMITTED -> UNDER_REVIEW -> (MORE_INFO_REQUESTED -> UNDER_REVIEW) ->
APPROVED | REJECTED; REJECTED -> APPEALED -> UNDER_REVIEW (once);
APPROVED -> CONTRACT_SIGNED -> DISBURSED; WITHDRAWN from any state before
CONTRACT_SIGNED. A rejection is final once its one appeal is spent.
"""

from __future__ import annotations

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
    S.CONTRACT_SIGNED: frozenset({S.DISBURSED}),
    S.DISBURSED: frozenset(),
    S.WITHDRAWN: frozenset(),
}
for _status in _BEFORE_CONTRACT:
    NEXT[_status] = NEXT[_status] | {S.WITHDRAWN}

TERMINAL = frozenset(status for status, following in NEXT.items() if not following)


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
