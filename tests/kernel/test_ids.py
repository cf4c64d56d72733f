"""Primary keys are UUIDv7 and sort in the order they were made."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest

import kernel.base
from kernel.base import new_id, new_ids


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


def test_a_batch_of_ids_sorts_between_the_ids_made_around_it() -> None:
    # given
    before = new_id()

    # when
    batch = new_ids(300)
    after = new_id()

    # then: as if made one by one
    assert [before, *batch, after] == sorted([before, *batch, after])
    assert len({before, *batch, after}) == 302
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in batch)
    assert new_ids(0) == []


def test_a_batch_whose_count_would_reach_the_variant_starts_the_next_millisecond(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given: randomness at the top of the counter
    monkeypatch.setattr(kernel.base.os, "urandom", lambda n: b"\xff" * n)
    start = time.time_ns() // 1_000_000

    # when
    batch = new_ids(10)

    # then
    assert all(i.variant == uuid.RFC_4122 for i in batch)
    assert batch == sorted(batch)
    assert batch[0].int >> 80 > start or batch[0].int & ((1 << 62) - 1) == 0
