"""Lawful bases, each valid for the purposes ``lawful_bases.csv`` lists and no other.

A reveal of personal data needs a lawful basis, and a basis justifies processing
only for the purposes it was established for (purpose limitation): an active loan
lets the lender service it, not market to the borrower. Which basis covers which
purpose is policy, kept as data in one table beside this module and read once per
process; ``api.disclosure`` is the one place that applies it, for both executors.

Threat model: staff declaring a purpose of their choosing (``X-Purpose``) must not
turn a basis established for one purpose into a licence for another. The table is
shipped with the code and reviewed like it; a pair it does not list is refused.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping
from pathlib import Path

from domain.privacy.purposes import PURPOSES
from kernel.tables import InvalidTable, rows

TABLE_PATH = Path(__file__).with_name("lawful_bases.csv")


class Basis(enum.Enum):
    """What can make a reveal lawful, before asking whether it fits the purpose."""

    SUBJECT = "subject"  # the viewer is the subject (or its owner)
    PLATFORM_OVERSIGHT = "platform_oversight"  # a platform role across institutions
    CONSENT = "consent"  # the subject's consent to this purpose for this institution
    CONTRACT = "contract"  # an active loan with the viewer's institution


def parse(text: str) -> Mapping[Basis, frozenset[str]]:
    """Each basis and the purposes it covers; a malformed line is an error, not a skip."""
    covers: dict[Basis, set[str]] = {basis: set() for basis in Basis}
    for number, (basis, purpose) in rows(text, columns=("basis", "purpose")):
        try:
            covers[Basis(basis)].add(purpose)
        except ValueError:
            raise InvalidTable(f"line {number}: unknown basis {basis!r}") from None
        if purpose not in PURPOSES:
            raise InvalidTable(f"line {number}: unknown purpose {purpose!r}")
    return {basis: frozenset(purposes) for basis, purposes in covers.items()}


@functools.cache
def table() -> Mapping[Basis, frozenset[str]]:
    return parse(TABLE_PATH.read_text(encoding="utf-8"))


@functools.cache
def covering(purpose: str) -> frozenset[Basis]:
    """The bases that may justify a reveal for ``purpose``."""
    return frozenset(basis for basis, purposes in table().items() if purpose in purposes)
