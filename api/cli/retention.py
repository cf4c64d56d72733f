"""Retention: what is due for purging, and the purge itself."""

from __future__ import annotations

import typer

from api.cli.common import print_json, settings_or_exit, transact

group = typer.Typer(help="Retention: purge personal data past its schedule.", no_args_is_help=True)


@group.command("plan")
def retention_plan() -> None:
    """The dry run: which enterprises a retention run would crypto-shred now, and which
    are due but held (and by what). Changes nothing."""
    from privacy import retention

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
    """Crypto-shred every enterprise the plan lists as due and write the receipt (the
    daily job does the same)."""
    from domain.identity.viewer import Viewer
    from privacy import retention

    settings = settings_or_exit()
    keys = settings.keys()
    receipt = transact(
        settings, lambda session: retention.run(session, keys, viewer=Viewer(user_id=None))
    )
    print_json(
        {
            "receipt": str(receipt.id),
            "ranAt": receipt.ran_at.isoformat(),
            "scheduleVersion": receipt.schedule_version,
            "purged": {c.value: [str(i) for i in ids] for c, ids in receipt.purged.items()},
        }
    )
