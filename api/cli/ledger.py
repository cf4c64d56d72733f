"""The books from the command line: an institution's trial balance on a day."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from api.cli.common import (
    as_of_day,
    guarded,
    in_transaction,
    institution_id,
    print_json,
    settings_or_exit,
)

group = typer.Typer(help="The double-entry books of each institution.", no_args_is_help=True)


@group.command("trial-balance")
def trial_balance(
    institution: Annotated[str, typer.Option(help="Institution code.")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Entries effective up to this day (today).")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON, not a table.")] = False,
) -> None:
    """Every account of the institution's chart with its debits, credits and balance, and
    whether the book balances (exit code 1 when it does not)."""
    from rich.console import Console
    from rich.table import Table

    from domain.ledger.service import TrialBalance
    from domain.ledger.service import trial_balance as read

    settings = settings_or_exit()
    day = as_of_day(as_of)

    async def run() -> TrialBalance:
        pk = uuid.UUID(await institution_id(settings, institution))
        return await in_transaction(settings, lambda s: read(s, institution_id=pk, as_of=day))

    found = guarded(settings, run)
    if json_output:
        print_json(
            {
                "institution": institution,
                "asOf": day.isoformat(),
                "debits": str(found.debits),
                "credits": str(found.credits),
                "balanced": found.balanced,
                "accounts": [
                    {
                        "code": a.code.value,
                        "glCode": a.gl_code,
                        "name": a.name,
                        "debits": str(a.debits),
                        "credits": str(a.credits),
                        "balance": str(a.balance),
                    }
                    for a in found.accounts
                ],
            }
        )
    else:
        table = Table(title=f"Trial balance of {institution} at {day}")
        for heading in ("GL", "account", "debits", "credits", "balance"):
            table.add_column(
                heading, justify="right" if heading in {"debits", "credits", "balance"} else "left"
            )
        for a in found.accounts:
            table.add_row(
                a.gl_code, a.name, f"{a.debits:,.2f}", f"{a.credits:,.2f}", f"{a.balance:,.2f}"
            )
        table.add_row(
            "", "debit and credit balances", f"{found.debits:,.2f}", f"{found.credits:,.2f}", ""
        )
        out = Console()  # the table is the answer: standard output
        out.print(table)
        out.print("balanced" if found.balanced else "[red]NOT BALANCED[/red]")
    if not found.balanced:
        raise typer.Exit(1)
