"""Structured logs: one JSON object per line, in every process that serves.

Outside development a database error is logged without the statement's parameters:
they may be personal values (an email, an id number) or secrets in transit.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import StatementError

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, *, hide_parameters: bool = False) -> None:
        super().__init__()
        self.hide_parameters = hide_parameters

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            if self.hide_parameters:
                _hide_parameters(record.exc_info[1])
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def _hide_parameters(error: BaseException | None) -> None:
    """SQLAlchemy prints a failed statement's parameters unless told not to."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, StatementError):
            error.hide_parameters = True
        error = error.__cause__ or error.__context__


# The queue's own housekeeping, every minute on every deployment: its routine INFO lines
# (deferred, started, succeeded) would be three lines a minute of nothing to read.
QUIET_TASKS = frozenset({"lendgraph.retry_stalled"})


class Housekeeping(logging.Filter):
    """Drops the job queue's routine lines about its housekeeping tasks; their warnings
    and errors, and every line about real work, pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING or not record.name.startswith("procrastinate"):
            return True
        job = getattr(record, "job", None)
        return not (isinstance(job, dict) and job.get("task_name") in QUIET_TASKS)


def configure_logging(level: str, *, hide_parameters: bool = False) -> None:
    """Route every logger, uvicorn's too, to one JSON handler on stderr (idempotent)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(hide_parameters=hide_parameters))
    handler.addFilter(Housekeeping())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's own access log would repeat our request line in another format.
    logging.getLogger("uvicorn.access").handlers[:] = []
    logging.getLogger("uvicorn.access").propagate = False
