"""Early warning from the command line: a portfolio scan and alert escalation."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.cli.common import as_of_day, guarded, progress, settings_or_exit, with_sessions
from kernel.db import unit_of_work

group = typer.Typer(
    help="Early warning: portfolio scans and alert escalation.", no_args_is_help=True
)


@group.command("scan")
def risk_scan(
    full: Annotated[
        bool, typer.Option("--full", help="Every active loan, changed or not.")
    ] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The day to judge, YYYY-MM-DD (today).")
    ] = None,
) -> None:
    """Evaluate the rules and warning indicators on the active loans; raise new alerts."""
    from domain.risk.alerts import escalate_overdue
    from domain.risk.scan import ScanReport, run_scan

    day = as_of_day(as_of)
    settings = settings_or_exit()

    async def scan(sessions: async_sessionmaker[AsyncSession]) -> tuple[ScanReport, int]:
        with progress("scanning loans") as shown:
            report = await run_scan(
                sessions,
                as_of=day,
                full=full,
                trigger="cli",
                progress=lambda scanned: shown(scanned, None),
            )
        async with unit_of_work(sessions) as session:
            return report, await escalate_overdue(session)

    report, escalated = guarded(settings, lambda: with_sessions(settings, scan))
    kind = "full" if report.full else "incremental"
    typer.echo(
        f"{kind} scan as of {report.as_of}: {report.loans_scanned} loans, {report.rules} rules, "
        f"{report.alerts_raised} new alerts, {report.warnings_written} warning scores written "
        f"in {report.seconds:.2f} s; {escalated} overdue alerts escalated"
    )
    for level, count in report.levels.items():
        typer.echo(f"  {level:<8} {count}")
