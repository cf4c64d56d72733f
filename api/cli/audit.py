"""The records the law asks us to keep: verify every chain, seal the logs now."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.common import guarded, settings_or_exit, transact
from kernel.db import create_engine, session_factory

group = typer.Typer(help="Checks of the records the law asks us to keep.", no_args_is_help=True)


@group.command("verify")
def audit_verify(
    rows: Annotated[
        bool, typer.Option("--rows/--seals-only", help="Re-digest every sealed log row.")
    ] = True,
) -> None:
    """Check every chain: the audit and access logs' seals and checkpoints, and the
    consent ledger; name each break. Exits 1 when anything is broken."""
    from domain.audit import integrity
    from domain.audit.chain import SealKey

    settings = settings_or_exit()
    key = SealKey(settings.audit_signing_key())
    checkpoint = settings.audit_checkpoint_file
    found = transact(
        settings, lambda session: integrity.verify(session, key, checkpoint=checkpoint, rows=rows)
    )
    for stream in found.streams:
        state = "intact" if stream.intact else "BROKEN"
        typer.echo(
            f"{stream.stream} log {state}: {stream.seals} seals over {stream.rows_sealed} rows, "
            f"{stream.rows_awaiting} awaiting a seal"
        )
        for brk in stream.breaks:
            typer.echo(f"BROKEN {brk.stream} seal {brk.seq}: {brk.reason}")
    for brk in found.checkpoint_breaks:
        typer.echo(f"BROKEN {brk.stream} checkpoint: {brk.reason}")
    if not found.consent_breaks:
        typer.echo("consent ledger intact")
    for cbrk in found.consent_breaks:
        typer.echo(f"BROKEN subject {cbrk.subject_id} at record {cbrk.record_id}: {cbrk.reason}")
    if not found.intact:
        raise typer.Exit(1)


@group.command("seal")
def audit_seal() -> None:
    """Seal the audit and access logs' settled rows now (the queue does it periodically)."""
    from domain.audit import integrity
    from domain.audit.chain import SealKey

    settings = settings_or_exit()
    key = SealKey(settings.audit_signing_key())

    async def work() -> dict[str, int]:
        engine = create_engine(settings.database_url)
        try:
            return await integrity.seal(
                session_factory(engine), key, checkpoint=settings.audit_checkpoint_file
            )
        finally:
            await engine.dispose()

    sealed = guarded(settings, work)
    for stream, count in sealed.items():
        typer.echo(f"{stream} log: {count} rows sealed")
