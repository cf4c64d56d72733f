"""Loan servicing jobs."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.common import as_of_day, settings_or_exit, transact, working

group = typer.Typer(help="Loan servicing jobs.", no_args_is_help=True)


@group.command("age")
def loans_age(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The day to age to, YYYY-MM-DD (today).")
    ] = None,
) -> None:
    """Bring every active loan's days past due and delinquency bucket up to a day (daily job)."""
    from domain.lending.service import age_loans

    day = as_of_day(as_of)
    with working("ageing loans"):
        aged = transact(settings_or_exit(), lambda session: age_loans(session, as_of=day))
    typer.echo(f"aged {aged.loans} active loans to {aged.as_of}: {aged.changed} changed")
    for bucket, count in aged.buckets.items():
        typer.echo(f"  {bucket.value:<12} {count}")
