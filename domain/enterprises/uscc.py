"""Unified social credit codes (统一社会信用代码, GB 32100-2015).

Eighteen characters: registration authority (1), entity type (1), administrative
division (6 digits), organisation code (9, GB 11714, ending in its own check
character) and a check character over the first seventeen.
"""

from __future__ import annotations

import random

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_VALUES = {char: value for value, char in enumerate(ALPHABET)}
_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

# GB 11714 values letters by their position in 0-9A-Z, not in the USCC alphabet.
_ORG_VALUES = {char: value for value, char in enumerate("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")}
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

# Enterprises registered with market regulation: authority 9, type 1 (company),
# 2 (individual business) or 3 (farmers' cooperative).
_ENTERPRISE_PREFIXES = ("91", "91", "91", "91", "92", "93")


def _is_division_code(text: str) -> bool:
    # str.isdigit() also accepts non-ASCII digits (Arabic-Indic, full-width).
    return len(text) == 6 and all(char in "0123456789" for char in text)


def organisation_check_character(first8: str) -> str:
    """The ninth character of a GB 11714 organisation code."""
    if len(first8) != 8 or any(char not in _ORG_VALUES for char in first8):
        raise ValueError(f"not the first 8 characters of an organisation code: {first8!r}")
    total = sum(
        _ORG_VALUES[char] * weight for char, weight in zip(first8, _ORG_WEIGHTS, strict=True)
    )
    check = 11 - total % 11
    if check == 10:
        return "X"
    if check == 11:
        return "0"
    return str(check)


def uscc_check_character(first17: str) -> str:
    """The eighteenth character of a unified social credit code."""
    if len(first17) != 17 or any(char not in _VALUES for char in first17):
        raise ValueError(f"not the first 17 characters of a credit code: {first17!r}")
    total = sum(_VALUES[char] * weight for char, weight in zip(first17, _WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def is_valid_uscc(code: str) -> bool:
    """Length, alphabet, division digits and both check characters."""
    if len(code) != 18 or any(char not in _VALUES for char in code):
        return False
    if not _is_division_code(code[2:8]):
        return False
    if organisation_check_character(code[8:16]) != code[16]:
        return False
    return uscc_check_character(code[:17]) == code[17]


def generate_uscc(rng: random.Random, *, division_code: str) -> str:
    """A valid code for an enterprise registered in ``division_code`` (6 digits)."""
    if not _is_division_code(division_code):
        raise ValueError(f"division code must be 6 digits: {division_code!r}")
    prefix = rng.choice(_ENTERPRISE_PREFIXES)
    organisation = "".join(rng.choices(ALPHABET, k=8))
    first17 = prefix + division_code + organisation + organisation_check_character(organisation)
    return first17 + uscc_check_character(first17)
