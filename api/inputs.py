"""Inputs shared by every context."""

from __future__ import annotations

import enum

import strawberry


@strawberry.enum
class OrderDirection(enum.Enum):
    ASC = "asc"
    DESC = "desc"
