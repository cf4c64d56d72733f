"""Planned time lines, over many draws: rare branches the small population may not reach."""

from __future__ import annotations

import random
import uuid
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest

from domain.applications.models import ApplicationStatus, DecisionOutcome
from domain.applications.states import allowed
from seed.catalog import Staff
from seed.history import ENGLISH, Path, instants, plan

S = ApplicationStatus
OWNER = uuid.UUID(int=1)
STAFF = Staff(
    institution_id=uuid.UUID(int=2),
    four_eyes_threshold=Decimal("1000000.00"),
    officers=(uuid.UUID(int=3), uuid.UUID(int=4)),
    risk_officer=uuid.UUID(int=5),
    admin=uuid.UUID(int=6),
)
OWNER_MOVES = frozenset({S.APPEALED, S.CONTRACT_SIGNED, S.WITHDRAWN})
DRAWS = 300


def walk(final: S, path: Path) -> list[S]:
    """The statuses the path passes through, checking each move against the machine."""
    current = S.DRAFT if final is S.DRAFT else S.SUBMITTED
    seen = [current]
    for event in path.events:
        if event.status is None:
            continue
        assert allowed(current, event.status), (current, event.status)
        current = event.status
        seen.append(current)
    assert current is final
    return seen


@pytest.mark.parametrize("final", list(S))
@pytest.mark.parametrize("four_eyes", [False, True])
def test_every_planned_path_is_a_walk_of_the_machine(final: S, four_eyes: bool) -> None:
    rng = random.Random(f"{final.value}-{four_eyes}")
    for _ in range(DRAWS):
        # when
        path = plan(rng, final, owner=OWNER, staff=STAFF, four_eyes=four_eyes, texts=ENGLISH)

        # then
        walk(final, path)
        days = [event.day for event in path.events]
        assert days == sorted(days)
        assert path.day == (days[-1] if days else 0)
        earlier: set[uuid.UUID] = set()
        on_appeal: set[uuid.UUID] = set()
        approvals = []
        current = S.SUBMITTED
        for event in path.events:
            if event.status in OWNER_MOVES or current is S.MORE_INFO_REQUESTED:
                assert event.actor == OWNER  # the applicant's moves, answers included
            else:
                assert event.actor in (*STAFF.officers, STAFF.admin)
            if event.outcome in (DecisionOutcome.APPROVE, DecisionOutcome.REJECT):
                assert event.actor is not None
                (on_appeal if event.on_appeal else earlier).add(event.actor)
            if event.outcome is DecisionOutcome.APPROVE:
                approvals.append(event)
            current = event.status or current
        assert earlier.isdisjoint(on_appeal)
        if any(event.status is S.APPROVED for event in path.events):
            if four_eyes:
                first, second = approvals
                assert (first.awaits_second, second.awaits_second) == (True, False)
                assert first.actor != second.actor
            else:
                assert [event.awaits_second for event in approvals] == [False]
        else:
            assert all(event.awaits_second for event in approvals)
            assert four_eyes or not approvals


def test_rare_branches_are_reached() -> None:
    # given
    rng = random.Random(7)
    withdrawn_from: set[S] = set()
    appeal_approved_by: set[uuid.UUID | None] = set()
    waiting = 0

    # when
    for _ in range(DRAWS * 5):
        path = plan(rng, S.WITHDRAWN, owner=OWNER, staff=STAFF, four_eyes=False, texts=ENGLISH)
        withdrawn_from.add(walk(S.WITHDRAWN, path)[-2])
        path = plan(rng, S.DISBURSED, owner=OWNER, staff=STAFF, four_eyes=True, texts=ENGLISH)
        appeal_approved_by |= {e.actor for e in path.events if e.on_appeal and e.status}
        path = plan(rng, S.UNDER_REVIEW, owner=OWNER, staff=STAFF, four_eyes=True, texts=ENGLISH)
        waiting += any(event.awaits_second for event in path.events)

    # then: a withdrawal leaves every state before a contract; an appeal above the
    # threshold is approved by the other officer and the admin
    assert withdrawn_from == {
        S.SUBMITTED,
        S.UNDER_REVIEW,
        S.MORE_INFO_REQUESTED,
        S.APPROVED,
        S.REJECTED,
        S.APPEALED,
    }
    assert STAFF.admin in appeal_approved_by
    assert waiting > 0


def test_instants_increase_strictly_on_their_days() -> None:
    # given
    rng = random.Random(11)
    start = date(2026, 3, 2)

    for _ in range(DRAWS):
        days = sorted(start + timedelta(days=rng.randint(0, 3)) for _ in range(rng.randint(1, 6)))

        # when
        made = instants(rng, days)

        # then
        assert [at.date() for at in made] == days
        assert all(a < b for a, b in pairwise(made))
