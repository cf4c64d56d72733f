"""Errors are part of the API: every error leaves with a stable ``extensions.code``.

Expected failures are :class:`domain.errors.DomainError`; their message is meant for
the client. Anything else is a bug: logged with the request id, and outside
development replaced by a neutral message that quotes the request id.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import SchemaExtension

from domain.errors import DomainError

log = logging.getLogger("lendgraph.errors")

INTERNAL = "INTERNAL_SERVER_ERROR"
PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"


def is_expected(error: GraphQLError) -> bool:
    return error.path is None or isinstance(error.original_error, DomainError)


def log_unexpected(errors: list[GraphQLError], request_id: str | None) -> None:
    for error in errors:
        if not is_expected(error):
            log.error(
                "unexpected error at %s",
                ".".join(str(p) for p in error.path or ()),
                exc_info=error.original_error,
                extra={"request_id": request_id},
            )


class ErrorShaping(SchemaExtension):
    """Gives every error its code and masks unexpected ones outside development."""

    def __init__(self, *, mask: bool) -> None:
        self.mask = mask
        self._validation_errors: set[int] = set()

    def on_validate(self) -> Iterator[None]:
        yield
        self._validation_errors = {id(e) for e in self.execution_context.pre_execution_errors or ()}

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [self._shape(e) for e in result.errors]

    def _shape(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        extensions: dict[str, Any] = dict(error.extensions or {})
        if isinstance(original, DomainError):
            extensions["code"] = original.code
        elif isinstance(error, GraphQLSyntaxError):
            extensions["code"] = PARSE_FAILED
        elif id(error) in self._validation_errors:
            extensions["code"] = VALIDATION_FAILED
        elif error.path is None:
            # Request-level but not validation: the variables did not coerce.
            extensions.setdefault("code", BAD_USER_INPUT)
        else:
            request_id = getattr(self.execution_context.context, "request_id", None)
            extensions = {"code": INTERNAL, "requestId": request_id}
            if self.mask:
                return GraphQLError(
                    f"Unexpected error. Quote request id {request_id} when reporting it.",
                    nodes=error.nodes,
                    source=error.source,
                    positions=error.positions,
                    path=error.path,
                    extensions=extensions,
                )
        error.extensions = extensions
        return error
