"""How values are written where the outside reads them: one definition for the API's
scalars and for the documents the domain writes itself (contract terms, mails).

A record is named by its global id (Relay's: base64 of ``Type:uuid``, what
``node(id:)`` takes); money has two decimals and rates six, rounded half up.
"""

from __future__ import annotations

import base64
import uuid
from decimal import ROUND_HALF_UP, Decimal

MONEY_PLACES = 2
RATE_PLACES = 6


def global_id(type_name: str, pk: uuid.UUID) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


def fixed(value: Decimal, places: int) -> str:
    """Exactly ``places`` decimals, half up; zero has no sign ("0.00", never "-0.00")."""
    if not isinstance(value, Decimal):
        raise TypeError(f"a money or rate value must be a Decimal, not {type(value).__name__}")
    shown = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if shown.is_zero():
        shown = shown.copy_abs()
    return format(shown, "f")


def money(value: Decimal) -> str:
    return fixed(value, MONEY_PLACES)


def rate(value: Decimal) -> str:
    return fixed(value, RATE_PLACES)
