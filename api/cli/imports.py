"""Bulk imports: a file of enterprises, cleaned and merged by a job."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli.common import console, guarded, settings_or_exit
from api.cli.jobs import follow, output_of

group = typer.Typer(help="Bulk imports: rows cleaned, merged and reported.", no_args_is_help=True)


@group.command("enterprises")
def import_enterprises_command(
    file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="A CSV (UTF-8) or .xlsx file.")
    ],
    batch_size: Annotated[
        int, typer.Option(min=1, max=100_000, help="Rows per transaction.")
    ] = 1000,
    report: Annotated[
        Path | None,
        typer.Option(help="Write every row's outcome and notes here (.json, else CSV)."),
    ] = None,
    delimiter: Annotated[str, typer.Option(help="The CSV delimiter (\\t for a tab).")] = ",",
) -> None:
    """Import enterprises and their statements, cleaned; the same file again changes nothing.

    Rows are merged by unified social credit code; each is accepted, fixed, flagged or
    rejected by documented rules (domain/imports/cleaning.py), one transaction per batch.
    The file is kept with an import job, which a worker runs (this process, on SQLite)
    while a bar shows the rows done.
    """
    from domain.jobs.files import NewFile
    from domain.jobs.models import FileRole
    from domain.jobs.tasks import IMPORT
    from kernel.base import new_id

    settings = settings_or_exit()
    upload = NewFile(
        role=FileRole.INPUT,
        name=file.name,
        content_type="text/csv" if file.suffix.lower() != ".xlsx" else XLSX,
        content=file.read_bytes(),
        personal=True,
    )
    params: dict[str, object] = {
        "delimiter": "\t" if delimiter in ("\\t", "tab") else delimiter,
        "batch_size": batch_size,
        "import_run": str(new_id()),
        "rows_format": "json" if report and report.suffix.lower() == ".json" else "csv",
    }

    async def run() -> tuple[dict[str, Any], bytes | None]:
        label = f"importing {file.name}"
        finished = await follow(settings, IMPORT, params, wait=True, files=[upload], label=label)
        rows = await output_of(settings, finished["job"]) if report else None
        return finished["result"], rows

    done, rows = guarded(settings, run)
    if report and rows is not None:
        report.write_bytes(rows)
    _print_summary(file.name, done)
    if report:
        typer.echo(f"  every row's outcome: {report}")
    if done["batches_failed"]:
        console.print("[red]some batches did not land: import the same file again to finish[/red]")
        raise typer.Exit(1)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _print_summary(name: str, done: dict[str, Any]) -> None:
    """An import's figures: rows by outcome and effect, batches, ignored columns."""
    from domain.imports.cleaning import Outcome
    from domain.imports.models import RowEffect

    typer.echo(f"{name}: {done['rows_total']} rows; run {done['importRun']} {done['status']}")
    typer.echo("  rows " + ", ".join(f"{o.value} {done[o.value]}" for o in Outcome))
    effects = [e for e in RowEffect if e is not RowEffect.NONE]
    typer.echo("  rows " + ", ".join(f"{e.value} {done[e.value]}" for e in effects))
    typer.echo(f"  batches {done['batches_landed']} landed, {done['batches_failed']} failed")
    for batch in done["failed_batches"]:
        typer.echo(
            f"    batch {batch['index']} (rows {batch['first_row']}-{batch['last_row']}): "
            f"{batch['error']}"
        )
    if done["ignored_columns"]:
        typer.echo(f"  ignored columns: {', '.join(done['ignored_columns'])}")
