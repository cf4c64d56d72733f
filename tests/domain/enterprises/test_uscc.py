from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.enterprises.uscc import (
    ALPHABET,
    generate_uscc,
    is_valid_uscc,
    organisation_check_character,
    uscc_check_character,
)

# Published codes: the example in GB 32100-2015 and codes of well-known companies.
KNOWN_VALID = [
    "91350100M000100Y43",
    "91110000802100433B",
    "914403001922038216",
    "91110108551385082Q",
    "91330100799655058B",
]


@pytest.mark.parametrize("code", KNOWN_VALID)
def test_published_codes_are_valid(code: str) -> None:
    assert is_valid_uscc(code)
    assert uscc_check_character(code[:17]) == code[17]


@pytest.mark.parametrize(
    ("first8", "check"),
    [
        ("M000100Y", "4"),  # from the GB 32100 example above
        ("D2677808", "5"),  # 39 + 14 + 54 + 70 + 35 + 64 + 0 + 16 = 292; 11 - 292 % 11 = 5
        ("40000000", "X"),  # 4 * 3 = 12; 11 - 1 = 10
        ("00000000", "0"),  # 11 - 0 = 11
    ],
)
def test_organisation_check_character_follows_gb_11714(first8: str, check: str) -> None:
    assert organisation_check_character(first8) == check


@pytest.mark.parametrize(
    "code",
    [
        "",
        "91350100M000100Y4",  # 17 characters
        "91350100M000100Y433",  # 19 characters
        "91350100M000100Y44",  # wrong check character
        "91350100M000100Z43",  # Z is not in the alphabet
        "91350100m000100Y43",  # lower case
        "9135A100M000100Y43",  # division code must be digits
    ],
)
def test_malformed_codes_are_invalid(code: str) -> None:
    assert not is_valid_uscc(code)


@settings(max_examples=200, deadline=None)
@given(
    code=st.sampled_from(KNOWN_VALID),
    position=st.integers(min_value=0, max_value=17),
    replacement=st.sampled_from(ALPHABET),
)
def test_a_single_changed_character_is_detected(code: str, position: int, replacement: str) -> None:
    # given
    corrupted = code[:position] + replacement + code[position + 1 :]

    # then
    assert is_valid_uscc(corrupted) == (corrupted == code)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32), division=st.from_regex(r"\A[0-9]{6}\Z"))
def test_generated_codes_are_valid(seed: int, division: str) -> None:
    # when
    code = generate_uscc(random.Random(seed), division_code=division)

    # then
    assert is_valid_uscc(code)
    assert code[2:8] == division


def test_generation_is_deterministic_for_a_seed() -> None:
    first = [generate_uscc(random.Random(7), division_code="330100") for _ in range(3)]
    second = [generate_uscc(random.Random(7), division_code="330100") for _ in range(3)]
    assert first == second


@pytest.mark.parametrize("division", ["33010", "3301000", "33010A", "33010\u0660"])
def test_generation_refuses_a_bad_division_code(division: str) -> None:
    with pytest.raises(ValueError, match="6 digits"):
        generate_uscc(random.Random(1), division_code=division)
