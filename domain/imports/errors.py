"""What stops an import before it writes anything."""

from __future__ import annotations

import enum

from kernel.errors import DomainError


class FileProblem(enum.StrEnum):
    """Why a file cannot be read as a table at all."""

    EMPTY = "empty"
    ENCODING = "encoding"
    HEADER = "header"
    DELIMITER = "delimiter"
    TRUNCATED = "truncated"
    FORMAT = "format"
    TOO_LARGE = "too_large"


class MalformedFile(DomainError):
    """The file is not a readable table; nothing was imported."""

    code = "MALFORMED_FILE"

    def __init__(self, problem: FileProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem
