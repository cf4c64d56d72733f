"""Expected failures. The API maps each code to a stable ``extensions.code``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar


class DomainError(Exception):
    code: ClassVar[str] = "BAD_USER_INPUT"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # The part of the request at fault, in the API's names and relative to the
        # operation's input ("amount", "terms.minRate"); None: the input as a whole
        # (a refusal of the request's state, not of one value). The API prefixes it
        # with the argument ("input.amount"), so every refusal can point at its place.
        self.field = field


class InvalidInput(DomainError):
    code = "BAD_USER_INPUT"

    @classmethod
    def of_problems(
        cls, problems: Sequence[tuple[str, str]], *, under: str | None = None
    ) -> InvalidInput:
        """Every problem found at once, as ``(field, what is wrong)``; the first names it.

        ``under``: the input object the fields belong to ("terms" for terms.minRate).
        """
        message = "; ".join(f"{field}: {text}" for field, text in problems)
        first = problems[0][0]
        return cls(message, field=first if under is None else f"{under}.{first}")


class NotFound(DomainError):
    code = "NOT_FOUND"


class Forbidden(DomainError):
    code = "FORBIDDEN"


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"


class Conflict(DomainError):
    code = "CONFLICT"
