"""The month-end close: one ordered list of steps, run one after the other for a date.

Each step is repeatable for the same date: ageing recomputes days past due, staging
replaces the date's stage rows, provisioning posts each loan's change of allowance
under a source named by the date (``provision:<date>:<loan>``: posted once), and the
snapshot replaces the month's rows. A close that failed half-way is run again whole.

Accrual goes first, so the month's interest, penalty interest and late fees are in the
balances that are staged and provisioned; it posts once per loan and day
(``domain.lending.charges``).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.analytics.service import is_month_end, snapshot_month
from domain.lending.charges import accrue
from domain.lending.service import age_loans
from domain.provisioning.service import provide, stage_book
from kernel.errors import InvalidInput

Sessions = async_sessionmaker[AsyncSession]


@dataclass(frozen=True, slots=True)
class Close:
    as_of: date
    institution_id: uuid.UUID | None  # None: every institution's book


StepWork = Callable[[Sessions, Close], Awaitable[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    work: StepWork


async def _accrue(sessions: Sessions, close: Close) -> dict[str, Any]:
    async with sessions() as session, session.begin():
        done = await accrue(session, as_of=close.as_of, institution_id=close.institution_id)
    return {
        "loans": done.loans,
        "interest": str(done.interest),
        "penalty": str(done.penalty),
        "lateFees": str(done.late_fees),
    }


async def _age(sessions: Sessions, close: Close) -> dict[str, Any]:
    async with sessions() as session, session.begin():
        aged = await age_loans(
            session, as_of=close.as_of, institution_id=close.institution_id, snapshot=False
        )
    return {"loans": aged.loans, "changed": aged.changed}


async def _stage(sessions: Sessions, close: Close) -> dict[str, Any]:
    found = await stage_book(sessions, as_of=close.as_of, institution_id=close.institution_id)
    return {
        "loans": found.loans,
        "stages": {str(k): v for k, v in found.stages.items()},
        "ecl": str(found.ecl),
    }


async def _provide(sessions: Sessions, close: Close) -> dict[str, Any]:
    found = await provide(sessions, as_of=close.as_of, institution_id=close.institution_id)
    return {"entries": found.entries, "raised": str(found.raised), "released": str(found.released)}


async def _snapshot(sessions: Sessions, close: Close) -> dict[str, Any]:
    async with sessions() as session, session.begin():
        rows = await snapshot_month(
            session, month_end=close.as_of, institution_id=close.institution_id
        )
    return {"rows": rows}


# In order: accrued balances are what ageing, staging and provisioning read.
STEPS: tuple[Step, ...] = (
    Step("accrue", _accrue),
    Step("age", _age),
    Step("stage", _stage),
    Step("provision", _provide),
    Step("snapshot", _snapshot),
)


def check_date(as_of: date) -> None:
    if not is_month_end(as_of):
        raise InvalidInput(f"asOf: {as_of} is not the last day of a month", field="asOf")


async def month_end_close(
    sessions: Sessions,
    close: Close,
    *,
    progress: Callable[[int, int], Awaitable[None]] | None = None,
    steps: tuple[Step, ...] = STEPS,
) -> dict[str, Any]:
    """Run every step for ``close`` in order; each step's figures under its name."""
    check_date(close.as_of)
    result: dict[str, Any] = {"asOf": close.as_of.isoformat()}
    if close.institution_id is not None:
        result["institution"] = str(close.institution_id)
    for done, step in enumerate(steps, start=1):
        result[step.name] = await step.work(sessions, close)
        if progress is not None:
            await progress(done, len(steps))
    return result
