"""``lendgraph``: the command line. Each module holds one command group (or a few
top-level commands); this one only puts them together, in the order ``--help`` shows.

| module | commands |
|---|---|
| ``database`` | ``migrate``, ``seed`` (and the demo's population and logins) |
| ``service`` | ``serve``, ``worker``, ``provider-simulator``, ``export-schema`` |
| ``users`` | ``users create|token``, ``outbox`` |
| ``keys`` | ``keys status|init|rotate|rotate-index|rotate-masking|replace-data-keys`` |
| ``audit`` | ``audit verify|seal`` |
| ``loans`` | ``loans age|accrue`` |
| ``ledger`` | ``ledger trial-balance`` |
| ``close`` | ``close`` (the month-end close) |
| ``risk`` | ``risk scan`` |
| ``retention`` | ``retention plan|run`` |
| ``reports`` | ``report portfolio|compliance`` |
| ``model`` | ``model evaluate|train|report|list|promote|score-portfolio|drift`` |
| ``imports`` | ``import enterprises`` |
| ``jobs`` | ``jobs run|list`` (and following a job from any command) |

``common`` is what they share: the console, progress bars, settings, and running a
command's work in one transaction on a current schema.
"""

from __future__ import annotations

import logging

import typer

from api.cli import (
    audit,
    close,
    database,
    imports,
    jobs,
    keys,
    ledger,
    loans,
    model,
    reports,
    retention,
    risk,
    service,
    users,
)

app = typer.Typer(help="LendGraph: SME lending and credit risk over GraphQL.", no_args_is_help=True)

app.command()(database.migrate)
app.command()(database.seed)
app.command()(service.serve)
app.command("provider-simulator")(service.provider_simulator)
app.command("export-schema")(service.export_schema)
app.add_typer(users.group, name="users")
app.add_typer(keys.group, name="keys")
app.add_typer(audit.group, name="audit")
app.add_typer(loans.group, name="loans")
app.add_typer(ledger.group, name="ledger")
app.command("close")(close.close_month)
app.add_typer(risk.group, name="risk")
app.add_typer(retention.group, name="retention")
app.add_typer(reports.group, name="report")
app.add_typer(model.group, name="model")
app.add_typer(imports.group, name="import")
app.command("outbox")(users.outbox)
app.command()(service.worker)
app.add_typer(jobs.group, name="jobs")


def main() -> None:
    logging.captureWarnings(True)
    app(prog_name="lendgraph")
