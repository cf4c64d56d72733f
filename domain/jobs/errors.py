"""Refusals of the job queue, each with a stable code."""

from __future__ import annotations

from kernel.errors import DomainError


class QueueUnavailable(DomainError):
    """The queue cannot take the job here (an embedded database without its runner)."""

    code = "QUEUE_UNAVAILABLE"


class JobFailed(DomainError):
    """A job a caller waited for ended failed; the message is its recorded error."""

    code = "JOB_FAILED"
