"""Errors are part of the API: every error leaves with a stable ``extensions.code``.

Expected failures are :class:`kernel.errors.DomainError`; their message is meant for
the client. Anything else is a bug: logged with the request id, and outside
development replaced by a neutral message that quotes the request id.
"""

from __future__ import annotations

import errno
import logging
import socket
import sqlite3
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError
from sqlalchemy import exc as sa
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from api.scalars import Unrepresentable
from kernel.errors import DomainError

log = logging.getLogger("lendgraph.errors")

INTERNAL = "INTERNAL_SERVER_ERROR"
PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
# Set in the request's state when the database was out of reach: api.guards then answers
# HTTP 503 with Retry-After, whatever else the response holds.
UNAVAILABLE_FLAG = "database_unavailable"

# Outside development a response carries at most this many errors (after repeats are
# collapsed): enough to fix a request by, too few to amplify one.
MAX_ERRORS = 20


_UNREACHABLE = {
    errno.ECONNREFUSED,
    errno.ECONNRESET,
    errno.ECONNABORTED,
    errno.EHOSTUNREACH,
    errno.ENETUNREACH,
    errno.ETIMEDOUT,
    errno.EPIPE,
}


_ASYNCPG_OUTAGES = {
    ("asyncpg", "PostgresConnectionError"),  # lost, refused, never established
    ("asyncpg", "OperatorInterventionError"),  # shutting down, starting up, crashed
    ("asyncpg", "TooManyConnectionsError"),
}


def is_outage(error: BaseException | None) -> bool:
    """Whether an exception, or one it was raised from, says the database is out of reach.

    Not every database error: a constraint or a bad statement is a bug or a conflict,
    and SQLite reports "no such table" as an OperationalError too.
    """
    stack = [error]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if item is None or id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, ConnectionError | socket.gaierror | TimeoutError):
            return True
        # asyncio reports a refused connection to several addresses as a plain OSError.
        if isinstance(item, OSError) and (
            item.errno in _UNREACHABLE or str(item).startswith("Multiple exceptions")
        ):
            return True
        if isinstance(item, sa.DBAPIError) and item.connection_invalidated:
            return True
        if isinstance(item, sa.DisconnectionError | sa.TimeoutError):
            return True
        # asyncpg's, by name: a SQLite installation need not import the driver.
        lineage = {(c.__module__.split(".")[0], c.__name__) for c in type(item).__mro__}
        if lineage & _ASYNCPG_OUTAGES or (
            ("asyncpg", "InterfaceError") in lineage and "closed" in str(item)
        ):
            return True
        if isinstance(item, sqlite3.OperationalError) and (
            "locked" in str(item) or "unable to open" in str(item)
        ):
            return True
        stack.extend((item.__cause__, item.__context__, getattr(item, "orig", None)))
    return False


def is_expected(error: GraphQLError) -> bool:
    return error.path is None or isinstance(error.original_error, DomainError)


def log_unexpected(errors: list[GraphQLError], request_id: str | None) -> None:
    for error in errors:
        if is_outage(error.original_error):
            # What failed, without the statement or its values (they may be personal).
            log.warning(
                "database unavailable at %s",
                ".".join(str(p) for p in error.path or ()),
                extra={"request_id": request_id, "error": type(error.original_error).__name__},
            )
        elif not is_expected(error):
            log.error(
                "unexpected error at %s",
                ".".join(str(p) for p in error.path or ()),
                exc_info=error.original_error,
                extra={"request_id": request_id},
            )


class QuietExecutor(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor, without "Did you mean ...?" in the errors of variables
    and arguments that do not coerce (validation has its own switch, api.documents)."""

    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> Any:
        kwargs["hide_suggestions"] = True
        return super().build(*args, **kwargs)


class ErrorShaping(SchemaExtension):
    """Gives every error its code and masks unexpected ones outside development.

    Outside development it also collapses repeats (the same error at the same place in
    the document, e.g. one denied field on each of a hundred rows, reported once with
    ``extensions.occurrences``) and keeps at most MAX_ERRORS errors, saying in the
    response's ``extensions.errorsOmitted`` how many more there were.
    """

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
            if self.mask:
                result.errors, omitted = _collapse(result.errors)
                if omitted:
                    result.extensions = {**(result.extensions or {}), "errorsOmitted": omitted}

    def _shape(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        extensions: dict[str, Any] = dict(error.extensions or {})
        if isinstance(original, DomainError):
            extensions["code"] = original.code
        elif isinstance(error, GraphQLSyntaxError):
            extensions["code"] = PARSE_FAILED
        elif isinstance(original, Unrepresentable):
            extensions["code"] = BAD_USER_INPUT  # a literal no scalar can hold
        elif id(error) in self._validation_errors:
            # A rule may say more precisely what failed (a cost, a refused value).
            extensions.setdefault("code", VALIDATION_FAILED)
        elif error.path is None:
            # Request-level but not validation: the variables did not coerce.
            extensions.setdefault("code", BAD_USER_INPUT)
        elif is_outage(original):
            request = getattr(self.execution_context.context, "request", None)
            if request is not None:
                setattr(request.state, UNAVAILABLE_FLAG, True)
            return GraphQLError(
                "The service cannot reach its database; retry shortly.",
                nodes=error.nodes,
                source=error.source,
                positions=error.positions,
                path=error.path,
                extensions={"code": SERVICE_UNAVAILABLE},
            )
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


def _collapse(errors: list[GraphQLError]) -> tuple[list[GraphQLError], int]:
    """Repeats folded into their first occurrence, then at most MAX_ERRORS kept.

    A repeat says the same (message and code) about the same field: at another index
    of a list, or, before execution, anywhere in the document.
    """
    first: dict[tuple[Any, ...], GraphQLError] = {}
    counts: dict[tuple[Any, ...], int] = {}
    for error in errors:
        path = tuple(None if isinstance(p, int) else p for p in error.path or ())
        code = (error.extensions or {}).get("code")
        key = (error.message, code, path)
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, error)
    kept: list[GraphQLError] = []
    for key, error in first.items():
        if counts[key] > 1:
            error.extensions = {**(error.extensions or {}), "occurrences": counts[key]}
        kept.append(error)
    return kept[:MAX_ERRORS], max(0, len(kept) - MAX_ERRORS)
