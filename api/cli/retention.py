"""Retention: what is due for purging, and the purge itself."""

from __future__ import annotations

import typer

from api.cli.common import print_json, settings_or_exit, transact

group = typer.Typer(help="Retention: purge personal data past its schedule.", no_args_is_help=True)


@group.command("plan")
def retention_plan() -> None:
    """The dry run: which enterprises a retention run would crypto-shred now, and which
    are due but held (and by what). Changes nothing."""
    from domain.privacy import retention

    found = transact(settings_or_exit(), lambda session: retention.plan(session))
    for item in found.due:
        typer.echo(f"due  {item.subject_id} {item.category.value} since {item.since}")
    for item in found.held:
        holds = ",".join(h.value for h in item.holds)
        typer.echo(f"held {item.subject_id} {item.category.value} since {item.since} by {holds}")
    typer.echo(
        f"schedule {found.schedule_version} as of {found.as_of}: "
        f"{len(found.due)} due, {len(found.held)} held"
    )


@group.command("run")
def retention_run() -> None:
    """Crypto-shred every enterprise the plan lists as due, purge the logs' sealed
    batches past their schedule, and write the receipts (the daily job does the same)."""
    from domain.audit.chain import SealKey
    from domain.identity.viewer import Viewer
    from domain.privacy import retention

    settings = settings_or_exit()
    keys = settings.keys()
    seal_key = SealKey(settings.audit_signing_key())
    receipt = transact(
        settings,
        lambda session: retention.run(
            session, keys, viewer=Viewer(user_id=None), seal_key=seal_key
        ),
    )
    print_json(
        {
            "receipt": str(receipt.id),
            "ranAt": receipt.ran_at.isoformat(),
            "scheduleVersion": receipt.schedule_version,
            "purged": {c.value: [str(i) for i in ids] for c, ids in receipt.purged.items()},
            "logsPurged": {
                stream: {"rows": rows, "receipt": str(purge_id)}
                for stream, (rows, purge_id) in receipt.logs.items()
            },
        }
    )
