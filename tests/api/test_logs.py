"""Structured logs: a failed statement's parameters stay out of production logs."""

from __future__ import annotations

import json
import logging

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from api.logs import Housekeeping, JsonFormatter, configure_logging


async def _failed_statement(db: AsyncEngine) -> DBAPIError:
    try:
        async with db.connect() as conn:
            await conn.execute(
                text("SELECT * FROM no_such_table WHERE email = :email"),
                {"email": "private.person@example.test"},
            )
    except DBAPIError as exc:
        return exc
    raise AssertionError("the statement ran")


def _line(formatter: JsonFormatter, error: BaseException) -> dict[str, str]:
    record = logging.LogRecord(
        "lendgraph.errors",
        logging.ERROR,
        __file__,
        1,
        "unexpected error",
        None,
        (type(error), error, error.__traceback__),
    )
    entry: dict[str, str] = json.loads(formatter.format(record))
    return entry


@pytest.mark.parametrize("hide", [True, False])
async def test_sql_parameters_are_logged_only_when_allowed(db: AsyncEngine, hide: bool) -> None:
    # given: a statement that failed with a personal value bound to it
    error = await _failed_statement(db)

    # when
    entry = _line(JsonFormatter(hide_parameters=hide), error)

    # then: production says which statement failed, not with what
    assert "no_such_table" in entry["exc"]
    assert ("private.person@example.test" in entry["exc"]) is not hide


@pytest.mark.parametrize(
    ("logger", "level", "task", "kept"),
    [
        ("procrastinate.worker", logging.INFO, "lendgraph.retry_stalled", False),
        ("procrastinate.periodic", logging.INFO, "lendgraph.retry_stalled", False),
        ("procrastinate.worker", logging.ERROR, "lendgraph.retry_stalled", True),
        ("procrastinate.worker", logging.INFO, "lendgraph.risk_scan", True),
        ("lendgraph", logging.INFO, "lendgraph.retry_stalled", True),
    ],
)
def test_the_queues_minute_housekeeping_is_not_logged_unless_it_fails(
    logger: str, level: int, task: str, kept: bool
) -> None:
    # given: a line as procrastinate writes it, with its job
    record = logging.LogRecord(logger, level, __file__, 1, "job ended", None, None)
    record.job = {"task_name": task, "id": 1}

    # then
    assert Housekeeping().filter(record) is kept


def test_the_service_logs_through_the_housekeeping_filter() -> None:
    # given
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        # when
        configure_logging("INFO")

        # then
        [handler] = root.handlers
        assert any(isinstance(f, Housekeeping) for f in handler.filters)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
