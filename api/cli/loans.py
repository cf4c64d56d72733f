"""Loan servicing jobs."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from api.cli.common import as_of_day, settings_or_exit, transact, working
from kernel.errors import DomainError

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


@group.command("accrue")
def loans_accrue(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Accrue through this day, YYYY-MM-DD (today).")
    ] = None,
    institution: Annotated[
        str | None,
        typer.Option("--institution", help="Only this institution (its global id or uuid)."),
    ] = None,
) -> None:
    """Accrue interest, penalty interest and late fees of every active loan through a day
    (daily job, and part of the month-end close); a day already accrued posts nothing."""
    from domain.lending.charges import accrue

    day = as_of_day(as_of)
    scope = None if institution is None else _institution_pk(institution)
    with working("accruing interest"):
        done = transact(
            settings_or_exit(), lambda session: accrue(session, as_of=day, institution_id=scope)
        )
    typer.echo(
        f"accrued {done.loans} active loans through {done.as_of}: interest {done.interest:,.2f}, "
        f"penalty interest {done.penalty:,.2f}, {done.late_fees_charged} late fees "
        f"{done.late_fees:,.2f}"
    )


def _institution_pk(value: str) -> uuid.UUID:
    from api.relay import decode_global_id

    try:
        return uuid.UUID(value)
    except ValueError:
        pass
    try:
        return decode_global_id(value, expected="Institution", field="institution")[1]
    except DomainError as exc:
        raise typer.BadParameter("an institution's global id or uuid") from exc
