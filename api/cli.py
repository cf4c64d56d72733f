"""``lendgraph``: serve, migrate, seed, export the schema."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy.ext.asyncio import AsyncSession

from domain.base import utcnow
from domain.db import create_engine, session_factory, unit_of_work
from domain.errors import DomainError
from domain.identity.models import Role
from domain.settings import ConfigurationError, Settings, load_settings
from migrations.runner import current_revision, head_revision, upgrade

if TYPE_CHECKING:
    from seed.demo import DemoLogin

T = TypeVar("T")

app = typer.Typer(help="LendGraph: SME lending and credit risk over GraphQL.", no_args_is_help=True)
console = Console(stderr=True)

DEMO_ENTERPRISES = 1000
SCHEMA_FILE = Path("schema.graphql")


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigurationError as exc:
        console.print(f"[red]Invalid configuration[/red]\n{exc}")
        raise typer.Exit(2) from None


async def _migrate(settings: Settings) -> str | None:
    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
        return await current_revision(engine)
    finally:
        await engine.dispose()


def _print_demo_logins(logins: list[DemoLogin]) -> None:
    # Plain lines, not a table: secrets must never be cut to the terminal's width.
    console.print("Demo logins (shown once; staff sign in with a TOTP code from the secret):")
    for login in logins:
        totp = f"  totp-secret {login.totp_secret}" if login.totp_secret else ""
        console.print(
            f"  {login.email}  password {login.password}  [{login.role}]{totp}",
            soft_wrap=True,
            markup=False,
            highlight=False,
        )
    console.print(
        "Sign in with the `login` mutation; staff then send `verifyMfa` a code. "
        "Later, `lendgraph users token --email E` mints a token for any account.",
        soft_wrap=True,
    )


async def _seed(
    settings: Settings, *, enterprises: int, seed: int, locale: str, print_logins: bool = False
) -> bool:
    from seed import database_is_empty, seed_population
    from seed.demo import demo_logins

    engine = create_engine(settings.database_url)
    try:
        sessions = session_factory(engine)
        if not await database_is_empty(sessions):
            return False
        with Progress(
            TextColumn("{task.description:<24}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            tasks: dict[str, TaskID] = {}

            def report(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = progress.add_task(stage, total=total)
                progress.update(tasks[stage], completed=done, total=total)

            summary = await seed_population(
                sessions,
                enterprises=enterprises,
                seed=seed,
                locale=locale,
                keys=settings.keys(),
                progress=report,
            )
        console.print(f"seeded: {summary}")
        if print_logins:
            _print_demo_logins(await demo_logins(sessions, settings.keys()))
        return True
    finally:
        await engine.dispose()


async def _schema_is_current(settings: Settings) -> bool:
    engine = create_engine(settings.database_url)
    try:
        return await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    settings = _settings()
    revision = asyncio.run(_migrate(settings))
    console.print(f"database at revision {revision}")


@app.command()
def seed(
    enterprises: Annotated[int, typer.Option(min=1, max=1_000_000)] = DEMO_ENTERPRISES,
    seed: Annotated[int, typer.Option(help="Same seed, same data.")] = 42,
    locale: Annotated[str, typer.Option(help="Faker locale for names.")] = "zh_CN",
) -> None:
    """Fill an empty database with a synthetic, believable population."""
    settings = _settings()
    asyncio.run(_migrate(settings))
    if not asyncio.run(_seed(settings, enterprises=enterprises, seed=seed, locale=locale)):
        console.print("[yellow]the database already holds data; nothing seeded[/yellow]")
        raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Overrides LENDGRAPH_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Overrides LENDGRAPH_PORT.")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64)] = 1,
    demo: Annotated[
        bool, typer.Option(help="Migrate, and seed demo data when the database is empty.")
    ] = False,
) -> None:
    """Run the GraphQL service."""
    import uvicorn

    from api.logs import configure_logging

    settings = _settings()
    configure_logging(settings.log_level)
    if workers > 1 and settings.is_sqlite:
        console.print("[red]--workers > 1 needs PostgreSQL (LENDGRAPH_DATABASE_URL)[/red]")
        raise typer.Exit(2)
    if demo:
        asyncio.run(_migrate(settings))
        asyncio.run(
            _seed(
                settings, enterprises=DEMO_ENTERPRISES, seed=42, locale="zh_CN", print_logins=True
            )
        )
    elif not asyncio.run(_schema_is_current(settings)):
        console.print("[red]the database schema is not current: run `lendgraph migrate`[/red]")
        raise typer.Exit(2)
    bind_host = host or settings.host
    bind_port = port or settings.port
    console.print(f"GraphQL endpoint: http://{bind_host}:{bind_port}/graphql")
    if settings.is_development:
        console.print(f"GraphiQL (development): open http://{bind_host}:{bind_port}/graphql")
    uvicorn.run(
        "api.app:app_factory",
        factory=True,
        host=bind_host,
        port=bind_port,
        workers=workers,
        log_config=None,
        access_log=False,
    )


@app.command("export-schema")
def export_schema(
    out: Annotated[Path, typer.Option(help="Where to write the SDL.")] = SCHEMA_FILE,
) -> None:
    """Write the GraphQL schema (SDL) that frontends build against."""
    from api.schema import build_schema

    out.write_text(build_schema(_settings()).as_str() + "\n", encoding="utf-8")
    console.print(f"wrote {out}")


users = typer.Typer(help="Accounts, for operators.", no_args_is_help=True)
app.add_typer(users, name="users")


async def _in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    engine = create_engine(settings.database_url)
    try:
        async with unit_of_work(session_factory(engine)) as session:
            return await work(session)
    finally:
        await engine.dispose()


def _run(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    if not asyncio.run(_schema_is_current(settings)):
        console.print("[red]the database schema is not current: run `lendgraph migrate`[/red]")
        raise typer.Exit(2)
    try:
        return asyncio.run(_in_transaction(settings, work))
    except DomainError as exc:
        console.print(f"[red]{exc.code}[/red]: {exc.message}")
        raise typer.Exit(1) from None


@users.command("create")
def users_create(
    email: Annotated[str, typer.Option()],
    password: Annotated[str, typer.Option(help="At least 12 characters.")],
    role: Annotated[Role, typer.Option(help="The role to grant.")],
    institution: Annotated[
        str | None, typer.Option(help="Institution code, for institution roles.")
    ] = None,
) -> None:
    """Create (or update) an active account holding a role: bootstrap admins and staff."""
    from domain.identity import service

    settings = _settings()
    _run(
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


@users.command("token")
def users_token(
    email: Annotated[str, typer.Option()],
    ttl: Annotated[int, typer.Option(min=60, max=86_400, help="Seconds.")] = 900,
) -> None:
    """Mint a short-lived access token for an account; printed as the last line.

    The token carries the account's own roles: it sees exactly what the account sees.
    """
    from domain.identity import service

    settings = _settings()
    token = _run(settings, lambda s: service.operator_token(s, settings, email=email, ttl=ttl))
    typer.echo(token)


keys_cli = typer.Typer(help="Master keys of personal data.", no_args_is_help=True)
app.add_typer(keys_cli, name="keys")


async def _key_usage(settings: Settings) -> dict[str, int]:
    from privacy import keystore

    engine = create_engine(settings.database_url)
    try:
        async with session_factory(engine)() as session:
            return await keystore.usage(session)
    finally:
        await engine.dispose()


@keys_cli.command("status")
def keys_status() -> None:
    """Which master key wraps how many data keys."""
    settings = _settings()
    current = settings.keys().current_kid
    usage = asyncio.run(_key_usage(settings))
    for kid, count in sorted(usage.items()):
        typer.echo(f"{kid}  {count} data keys" + ("  (current)" if kid == current else ""))
    if current not in usage:
        typer.echo(f"{current}  0 data keys  (current)")


@keys_cli.command("rotate")
def keys_rotate(
    retire: Annotated[
        bool, typer.Option(help="Afterwards, drop master keys that no data key uses.")
    ] = False,
) -> None:
    """Introduce a new master key and rewrap every data key under it, online.

    With a key file, the new key is added to it; with LENDGRAPH_MASTER_KEYS, put the
    new key first there and restart the workers before running this. Until the
    rewrap finishes, every listed key still unwraps, so service goes on.
    """
    from privacy import keys as key_files
    from privacy import keystore

    settings = _settings()
    from_file = settings.master_keys is None
    keys = settings.keys()
    if from_file:
        keys = key_files.with_new_current(keys)
        key_files.write_file(settings.key_file, keys)
        console.print(f"new master key {keys.current_kid} written to {settings.key_file}")

    async def rewrap() -> int:
        engine = create_engine(settings.database_url)
        try:
            with Progress(
                TextColumn("rewrapping data keys"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as progress:
                task = progress.add_task("rewrap", total=None)

                def report(done: int, total: int) -> None:
                    progress.update(task, completed=done, total=total)

                return await keystore.rotate(session_factory(engine), keys, progress=report)
        finally:
            await engine.dispose()

    moved = asyncio.run(rewrap())
    console.print(f"{moved} data keys now under {keys.current_kid}")
    if retire:
        usage = asyncio.run(_key_usage(settings))
        if set(usage) - {keys.current_kid}:
            console.print("[red]some data keys are still under older keys; nothing retired[/red]")
            raise typer.Exit(1)
        if not from_file:
            console.print("remove the older keys from LENDGRAPH_MASTER_KEYS to retire them")
            return
        key_files.write_file(settings.key_file, key_files.retire_all_but_current(keys))
        console.print(
            "older master keys retired: backups made before this rotation can no longer "
            "unwrap their data keys"
        )


audit_cli = typer.Typer(help="Checks of the records the law asks us to keep.", no_args_is_help=True)
app.add_typer(audit_cli, name="audit")


@audit_cli.command("verify")
def audit_verify() -> None:
    """Check the consent ledger's hash chains; name the first broken link of each."""
    from privacy import consent

    settings = _settings()
    breaks = _run(settings, consent.verify_chains)
    if not breaks:
        typer.echo("consent ledger intact")
        return
    for found in breaks:
        typer.echo(f"BROKEN subject {found.subject_id} at record {found.record_id}: {found.reason}")
    raise typer.Exit(1)


loans_cli = typer.Typer(help="Loan servicing jobs.", no_args_is_help=True)
app.add_typer(loans_cli, name="loans")


@loans_cli.command("age")
def loans_age(
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The day to age to, YYYY-MM-DD (today).")
    ] = None,
) -> None:
    """Bring every active loan's days past due and delinquency bucket up to a day (daily job)."""
    from domain.lending.service import age_loans

    try:
        day = date.fromisoformat(as_of) if as_of else utcnow().date()
    except ValueError:
        console.print(f"[red]BAD_USER_INPUT[/red]: --as-of {as_of!r} is not a date (YYYY-MM-DD)")
        raise typer.Exit(2) from None
    aged = _run(_settings(), lambda session: age_loans(session, as_of=day))
    typer.echo(f"aged {aged.loans} active loans to {aged.as_of}: {aged.changed} changed")
    for bucket, count in aged.buckets.items():
        typer.echo(f"  {bucket.value:<12} {count}")


@app.command("outbox")
def outbox(
    all_messages: Annotated[bool, typer.Option("--all", help="Sent ones too.")] = False,
    mark_sent: Annotated[bool, typer.Option(help="Mark the listed messages sent.")] = False,
) -> None:
    """List the mail waiting to be sent (confirmations, invitations), oldest first."""
    from domain.identity import people, repository

    settings = _settings()

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

    for created, recipient, subject, body in _run(settings, listing):
        typer.echo(f"{created}  to: {recipient}\n  subject: {subject}\n  {body}\n")


def main() -> None:
    logging.captureWarnings(True)
    app(prog_name="lendgraph")


if __name__ == "__main__":
    main()
