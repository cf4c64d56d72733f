"""Names, identity numbers and contact details, cheap to draw per row.

Faker is slow per call, so it is asked once for pools of name parts; rows combine
parts drawn from the seeded ``random.Random``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from faker import Faker

from seed.reference import COMPANY_SUFFIXES_EN, COMPANY_SUFFIXES_ZH, Industry, Place

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_POOL_SIZE = 400


@dataclass(frozen=True, slots=True)
class NamePools:
    chinese: bool
    family_names: tuple[str, ...]
    given_names: tuple[str, ...]
    company_words: tuple[str, ...]
    banks: tuple[str, ...]

    @classmethod
    def build(cls, fake: Faker, *, chinese: bool) -> NamePools:
        family = tuple(fake.last_name() for _ in range(_POOL_SIZE))
        given = tuple(fake.first_name() for _ in range(_POOL_SIZE))
        if chinese:
            words = tuple(dict.fromkeys(fake.company_prefix() for _ in range(_POOL_SIZE)))
            banks = tuple(dict.fromkeys(fake.bank() for _ in range(_POOL_SIZE)))
        else:
            words = tuple(dict.fromkeys(fake.last_name() for _ in range(_POOL_SIZE)))
            banks = tuple(dict.fromkeys(f"{fake.last_name()} Bank" for _ in range(60)))
        return cls(chinese, family, given, words, banks)

    def person(self, rng: random.Random) -> str:
        family, given = rng.choice(self.family_names), rng.choice(self.given_names)
        return f"{family}{given}" if self.chinese else f"{given} {family}"

    def company(self, rng: random.Random, *, place: Place, industry: Industry) -> str:
        word = rng.choice(self.company_words)
        if self.chinese:
            trade = rng.choice(industry.words_zh)
            return f"{place.city_zh}{word}{trade}{rng.choice(COMPANY_SUFFIXES_ZH)}"
        trade = rng.choice(industry.words_en)
        return f"{place.city_en} {word} {trade} {rng.choice(COMPANY_SUFFIXES_EN)}"

    def city(self, place: Place) -> str:
        return place.city_zh if self.chinese else place.city_en


def resident_id_check_character(first17: str) -> str:
    """GB 11643-1999: ISO 7064 MOD 11-2 over the first 17 digits."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def resident_id_number(rng: random.Random, *, division_code: str, as_of: date) -> str:
    """An 18-digit id of an adult aged 23 to 65 registered in ``division_code``."""
    born = as_of - timedelta(days=rng.randint(23 * 365 + 6, 65 * 365))
    first17 = f"{division_code}{born:%Y%m%d}{rng.randint(0, 999):03d}"
    return first17 + resident_id_check_character(first17)


# Mobile prefixes in use for voice and SMS (14x and most of 16x/19x are data-only).
_MOBILE_PREFIXES = (
    *(str(n) for n in range(130, 140)),
    "150", "151", "152", "153", "155", "156", "157", "158", "159",
    "166", "173", "175", "176", "177", "178",
    *(str(n) for n in range(180, 190)),
    "198", "199",
)  # fmt: skip


def mobile_number(rng: random.Random) -> str:
    return f"{rng.choice(_MOBILE_PREFIXES)}{rng.randint(0, 99_999_999):08d}"


def bank_account_number(rng: random.Random) -> str:
    """19 digits ending in a Luhn check digit, as Chinese account numbers do."""
    body = f"62{rng.randint(0, 10**16 - 1):016d}"
    total = 0
    for index, char in enumerate(reversed(body)):
        digit = int(char)
        if index % 2 == 0:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return body + str((10 - total % 10) % 10)
