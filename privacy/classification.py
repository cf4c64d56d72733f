"""How sensitive a value is. Every GraphQL field carries exactly one level."""

from __future__ import annotations

import enum


class Classification(enum.IntEnum):
    PUBLIC = 0  # anyone, anonymous included
    INTERNAL = 1  # staff who may see the row
    PERSONAL = 2  # identifies a person; revealed only with a purpose and a lawful basis
    SENSITIVE = 3  # harmful if leaked: id numbers, bank accounts, confidential figures
