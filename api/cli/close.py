"""The month-end close: one job that ages, stages, provisions and snapshots the book."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from api.cli.common import as_of_day, guarded, institution_id, print_json, settings_or_exit
from api.cli.jobs import follow
from kernel.base import utcnow


def close_month(
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="The month end closed, YYYY-MM-DD (the last one)."),
    ] = None,
    institution: Annotated[
        str | None, typer.Option(help="Institution code: its book only (all when left out).")
    ] = None,
    wait: Annotated[bool, typer.Option(help="Follow it with a progress bar.")] = True,
) -> None:
    """The month-end close as one job: age the loans, stage them (IFRS 9) with their
    expected credit loss, post the change in loss allowance, keep the month's snapshot.
    Repeatable for the same month end: nothing is posted twice."""
    from domain.analytics.service import month_end_on_or_before
    from domain.jobs.tasks import CLOSE
    from domain.provisioning.close import check_date

    day = as_of_day(as_of) if as_of else month_end_on_or_before(utcnow().date())
    settings = settings_or_exit()

    async def run() -> dict[str, Any]:
        check_date(day)
        params: dict[str, object] = {"as_of": day.isoformat(), "institution": None}
        if institution is not None:
            params["institution"] = await institution_id(settings, institution)
        return await follow(settings, CLOSE, params, wait=wait, label="month-end close")

    print_json(guarded(settings, run))
