"""Accounts, for operators: create one, mint a token, read the outbox."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from api.cli.common import console, settings_or_exit, transact
from domain.identity.models import Role
from kernel.base import utcnow

group = typer.Typer(help="Accounts, for operators.", no_args_is_help=True)


@group.command("create")
def users_create(
    email: Annotated[str, typer.Option()],
    password: Annotated[
        str,
        typer.Option(
            help="At least 12 characters. Left out, it is read from LENDGRAPH_USER_PASSWORD "
            "or asked for without echo (a password on the command line lands in the shell's "
            "history and the process list).",
            envvar="LENDGRAPH_USER_PASSWORD",
            show_envvar=True,
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
        ),
    ],
    role: Annotated[Role, typer.Option(help="The role to grant.")],
    institution: Annotated[
        str | None, typer.Option(help="Institution code, for institution roles.")
    ] = None,
) -> None:
    """Create (or update) an active account holding a role: bootstrap admins and staff."""
    from domain.identity import service

    settings = settings_or_exit()
    transact(
        settings,
        lambda s: service.create_user(
            s,
            settings.keys(),
            email=email,
            password=password,
            role=role,
            institution_code=institution,
        ),
    )
    held = f"{email.strip().lower()} holds {role.value}"
    console.print(held + (f" in {institution}" if institution else ""))


@group.command("token")
def users_token(
    email: Annotated[str, typer.Option()],
    ttl: Annotated[int, typer.Option(min=60, max=86_400, help="Seconds.")] = 900,
) -> None:
    """Mint a short-lived access token for an account; printed as the last line.

    The token carries the account's own roles: it sees exactly what the account sees.
    """
    from domain.identity import service

    settings = settings_or_exit()
    token = transact(settings, lambda s: service.operator_token(s, settings, email=email, ttl=ttl))
    typer.echo(token)


def outbox(
    all_messages: Annotated[bool, typer.Option("--all", help="Sent ones too.")] = False,
    mark_sent: Annotated[bool, typer.Option(help="Mark the listed messages sent.")] = False,
) -> None:
    """List the mail waiting to be sent (confirmations, invitations), oldest first."""
    from domain.identity import people, repository

    settings = settings_or_exit()

    async def listing(session: AsyncSession) -> list[tuple[str, str, str, str]]:
        rows = list(await repository.outbox(session, unsent_only=not all_messages))
        opened = await people.read_mail(session, settings.keys(), rows)
        now = utcnow()
        if mark_sent:
            for row in rows:
                row.sent_at = row.sent_at or now
        return [
            (r.created_at.isoformat(), to, r.subject, body)
            for r, (to, body) in zip(rows, opened, strict=True)
        ]

    for created, recipient, subject, body in transact(settings, listing):
        typer.echo(f"{created}  to: {recipient}\n  subject: {subject}\n  {body}\n")
