"""Primary keys are UUIDv7 and sort in the order they were made."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from domain.base import new_id


def test_ids_made_in_one_burst_sort_in_creation_order() -> None:
    # given: far more ids than fit in distinct milliseconds
    ids = [new_id() for _ in range(5000)]

    # then
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)


def test_seeded_ids_are_deterministic_and_carry_their_time() -> None:
    # given
    at = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)

    # when
    first, again = new_id(at, entropy=42), new_id(at, entropy=42)

    # then
    assert first == again
    assert first.int >> 80 == int(at.timestamp() * 1000)
    assert new_id(at, entropy=43) != first
