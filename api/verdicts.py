"""What access decides for one field, as the request's context memoises it.

Kept apart from ``api.access`` (which decides) so that the context can hold the
verdicts without importing the module that reads the context: the arrows run
access -> context -> disclosure, one way.
"""

from __future__ import annotations

import enum

FieldKey = tuple[str, str]  # (GraphQL type, field)


class Access(enum.Enum):
    ALLOW = "allow"
    MASK = "mask"
    DENY = "deny"
