"""``lendgraph``: serve, migrate, seed, export the schema."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.base import utcnow
from domain.db import create_engine, session_factory, unit_of_work
from domain.errors import DomainError, NotFound
from domain.identity.models import Role
from domain.jobs.errors import JobFailed
from domain.settings import ConfigurationError, Settings, load_settings
from migrations.runner import current_revision, head_revision, upgrade

if TYPE_CHECKING:
    from domain.jobs.files import NewFile
    from domain.jobs.models import JobFile
    from seed.demo import DemoLogin

T = TypeVar("T")

app = typer.Typer(help="LendGraph: SME lending and credit risk over GraphQL.", no_args_is_help=True)
console = Console(stderr=True)

DEMO_ENTERPRISES = 1000
SCHEMA_FILE = Path("schema.graphql")


@contextmanager
def _progress(description: str) -> Iterator[Callable[[int, int | None], None]]:
    """A progress bar on stderr for a long step; yields ``report(done, total)``.

    Until a total is known (or when none is: ``report(done, None)``) the bar pulses,
    with the time elapsed: a command that takes a while shows it is working.
    """
    with _bars() as bar:
        yield bar(description)


@contextmanager
def _bars() -> Iterator[Callable[[str], Callable[[int, int | None], None]]]:
    """Progress bars on stderr for steps whose names come as they start: yields
    ``bar(description)``, which adds a bar and gives its ``report(done, total)``."""
    with Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as shown:

        def bar(description: str) -> Callable[[int, int | None], None]:
            task = shown.add_task(description, total=None)

            def report(done: int, total: int | None) -> None:
                shown.update(task, completed=done, total=total)

            return report

        yield bar


@contextmanager
def _working(description: str) -> Iterator[None]:
    """A spinner with the time elapsed for a step whose progress nothing measures."""
    with Progress(
        SpinnerColumn(), TextColumn(description), TimeElapsedColumn(), console=console
    ) as bar:
        bar.add_task(description, total=None)
        yield


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
    settings: Settings,
    *,
    enterprises: int,
    seed: int,
    locale: str,
    as_of: date,
    print_logins: bool = False,
) -> bool:
    from domain.risk.scan import run_scan
    from seed import database_is_empty, seed_population
    from seed.demo import demo_logins
    from seed.risk_rules import install_default_rules

    engine = create_engine(settings.database_url)
    try:
        sessions = session_factory(engine)
        if not await database_is_empty(sessions):
            return False
        with _bars() as bar:
            stages: dict[str, Callable[[int, int | None], None]] = {}

            def report(stage: str, done: int, total: int) -> None:
                if stage not in stages:
                    stages[stage] = bar(stage)
                stages[stage](done, total)

            summary = await seed_population(
                sessions,
                enterprises=enterprises,
                seed=seed,
                locale=locale,
                keys=settings.keys(),
                as_of=as_of,
                progress=report,
            )
        console.print(f"seeded: {summary}")
        console.print(f"the book's history ends on {as_of}, aged to that day")
        async with unit_of_work(sessions) as session:
            rules = await install_default_rules(session)
        scan = await run_scan(sessions, as_of=as_of, full=True, trigger="seed")
        console.print(
            f"early warning: {rules} rules, {scan.alerts_raised} alerts raised on "
            f"{scan.loans_scanned} active loans"
        )
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
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="The last day of the book's history, YYYY-MM-DD (today)."),
    ] = None,
) -> None:
    """Fill an empty database with a synthetic, believable population."""
    day = _day(as_of)
    settings = _settings()
    asyncio.run(_migrate(settings))
    seeded = _seed(settings, enterprises=enterprises, seed=seed, locale=locale, as_of=day)
    if not asyncio.run(seeded):
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
    configure_logging(settings.log_level, hide_parameters=not settings.is_development)
    if workers > 1 and settings.is_sqlite:
        console.print("[red]--workers > 1 needs PostgreSQL (LENDGRAPH_DATABASE_URL)[/red]")
        raise typer.Exit(2)
    if demo:
        asyncio.run(_migrate(settings))
        seeded = asyncio.run(
            _seed(
                settings,
                enterprises=DEMO_ENTERPRISES,
                seed=42,
                locale="zh_CN",
                as_of=utcnow().date(),
                print_logins=True,
            )
        )
        if seeded:
            # A champion from the demo history, so new applications are assessed at once,
            # validated like any other: its figures are what `model list` shows.
            console.print("training the first scoring model on the demo history")
            trained = _train_model(settings, promote=True)
            console.print(
                f"model {trained['version']} is the champion: cross-validated AUC "
                f"{trained['auc_mean']:.3f} ± {trained['auc_std']:.3f} on {trained['rows']} "
                f"loans ({trained['defaults']} defaults)"
            )
    elif not asyncio.run(_schema_is_current(settings)):
        console.print("[red]the database schema is not current: run `lendgraph migrate`[/red]")
        raise typer.Exit(2)
    bind_host = host or settings.host
    bind_port = port or settings.port
    console.print(f"GraphQL endpoint: http://{bind_host}:{bind_port}/graphql")
    if settings.is_development:
        console.print(f"GraphiQL (development): open http://{bind_host}:{bind_port}/graphql")
    providers: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if demo and settings.provider_url is None:
        providers = _demo_providers(bind_port + 1)
        console.print(f"external data providers (simulated): http://127.0.0.1:{bind_port + 1}")
    with providers, _metrics_shared(workers):
        uvicorn.run(
            "api.app:app_factory",
            factory=True,
            host=bind_host,
            port=bind_port,
            workers=workers,
            log_config=None,
            access_log=False,
            # A worker imports the model runtime and the schema before it answers the
            # supervisor's pings: on a loaded machine that took 30 s, and uvicorn's
            # default (5 s) killed each new worker before it could serve, forever.
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        )


WORKER_HEALTHCHECK_SECONDS = 120


@contextlib.contextmanager
def _metrics_shared(workers: int) -> Iterator[None]:
    """Several workers: a directory where each keeps its metrics for /metrics to merge.

    ``PROMETHEUS_MULTIPROC_DIR`` if set (emptied first, whatever the number of workers:
    values of a previous run would be counted again), else a temporary directory removed
    at exit. The workers are new processes that inherit the variable before they import
    prometheus-client.
    """
    from domain import metrics

    given = metrics.multiprocess_dir()
    if workers == 1 and given is None:
        yield
        return
    directory = Path(given) if given else Path(tempfile.mkdtemp(prefix="lendgraph-metrics-"))
    metrics.prepare_multiprocess_dir(directory)
    os.environ[metrics.MULTIPROC_ENV] = str(directory)
    try:
        yield
    finally:
        if given is None:
            shutil.rmtree(directory, ignore_errors=True)
            del os.environ[metrics.MULTIPROC_ENV]


@app.command("provider-simulator")
def provider_simulator(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 9180,
    seed: Annotated[int, typer.Option(help="Same seed, same answers.")] = 7,
) -> None:
    """Serve simulated registry, bureau and bank-statement providers (POST /faults breaks them)."""
    import uvicorn

    from seed.provider_simulator import create_simulator

    console.print(f"external data providers (simulated): http://{host}:{port}")
    # A slow answer it was told to give is not waited for when it is stopped.
    uvicorn.run(
        create_simulator(seed=seed),
        host=host,
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=1,
    )


@contextlib.contextmanager
def _demo_providers(port: int) -> Iterator[None]:
    """The demo's providers: the simulator in a child process, named to the app's workers."""
    child = subprocess.Popen(  # noqa: S603 (our own command line, no shell)
        [sys.executable, "-m", "api.cli", "provider-simulator", "--port", str(port)]
    )
    os.environ["LENDGRAPH_PROVIDER_URL"] = f"http://127.0.0.1:{port}"
    try:
        yield
    finally:
        del os.environ["LENDGRAPH_PROVIDER_URL"]
        child.terminate()
        child.wait(timeout=10)


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


def _guarded(settings: Settings, job: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a command's job on a current schema; an expected refusal exits 1 with its code."""
    import domain.models  # noqa: F401 - every mapper known before a command's first query

    if not asyncio.run(_schema_is_current(settings)):
        console.print("[red]the database schema is not current: run `lendgraph migrate`[/red]")
        raise typer.Exit(2)
    try:
        return asyncio.run(job())
    except DomainError as exc:
        console.print(f"[red]{exc.code}[/red]: {exc.message}")
        raise typer.Exit(1) from None


def _run(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    return _guarded(settings, lambda: _in_transaction(settings, work))


def _day(as_of: str | None) -> date:
    """An --as-of option: a YYYY-MM-DD day, today when left out; exits 2 otherwise."""
    try:
        return date.fromisoformat(as_of) if as_of else utcnow().date()
    except ValueError:
        console.print(f"[red]BAD_USER_INPUT[/red]: --as-of {as_of!r} is not a date (YYYY-MM-DD)")
        raise typer.Exit(2) from None


@users.command("create")
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


keys_cli = typer.Typer(
    help="Keys of personal data: master, blind-index, masking and data keys.",
    no_args_is_help=True,
)
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


@keys_cli.command("init")
def keys_init() -> None:
    """Make the key file (and, with PKCS#11, a first master key in the token) if absent."""
    from privacy import hsm
    from privacy import keys as key_files

    settings = _settings()
    path = settings.key_file
    if path.exists():
        console.print(f"{path} exists; nothing made")
        return
    if settings.key_provider == "pkcs11":
        made = hsm.create(path, *settings.pkcs11())
        console.print(f"master key {made.current_kid} made in token {settings.pkcs11()[1]}")
    else:
        key_files.write_file(path, key_files.generate())
    console.print(f"key file written to {path}")


def _from_file(settings: Settings, what: str) -> bool:
    """Whether this command may write the key file; with keys in the environment, say
    what the operator must change instead."""
    if settings.key_provider == "pkcs11" or settings.master_keys is None:
        return True
    console.print(f"keys come from the environment: {what}, then restart every process")
    return False


@keys_cli.command("rotate")
def keys_rotate(
    retire: Annotated[
        bool, typer.Option(help="Afterwards, drop master keys that no data key uses.")
    ] = False,
) -> None:
    """Introduce a new master key and rewrap every data key under it, online.

    With a key file, the new key is added to it (made in the token with PKCS#11); with
    LENDGRAPH_MASTER_KEYS, put the new key first there and restart the workers before
    running this. Until the rewrap finishes, every listed key still unwraps.
    """
    from privacy import keys as key_files
    from privacy import keystore

    settings = _settings()
    from_file = settings.key_provider == "pkcs11" or settings.master_keys is None
    keys = settings.keys()
    if from_file:
        keys = keys.rotated()
        key_files.write_text(settings.key_file, keys.to_json())
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
        key_files.write_text(settings.key_file, keys.retired().to_json())
        console.print(
            "older master keys retired: backups made before this rotation can no longer "
            "unwrap their data keys"
        )


@keys_cli.command("rotate-index")
def keys_rotate_index(
    retire: Annotated[
        bool, typer.Option(help="Afterwards, drop the older blind-index keys.")
    ] = False,
    wait: Annotated[bool, typer.Option(help="Follow the re-index with a progress bar.")] = True,
) -> None:
    """A new blind-index key, and every blind index rewritten under it by a job, online.

    Lookups match every live version until the older ones are retired, so finding a
    person by email or an enterprise by id number keeps working throughout.
    """
    from domain.jobs.tasks import REINDEX
    from privacy import keys as key_files

    settings = _settings()
    keys = settings.keys()
    if _from_file(settings, "put a new version first in LENDGRAPH_BLIND_INDEX_KEY"):
        hashing = keys.hashing
        keys = keys.with_hash_keys(
            key_files.HashKeys(hashing.blind_index.with_new_current(), hashing.masking)
        )
        key_files.write_text(settings.key_file, keys.to_json())
        console.print(f"new blind-index key {keys.hashing.blind_index.current}")
    done = _guarded(settings, lambda: _follow(settings, REINDEX, {}, wait=wait))
    _print_json(done)
    if (
        retire
        and wait
        and _from_file(settings, "keep only the first version in LENDGRAPH_BLIND_INDEX_KEY")
    ):
        hashing = keys.hashing
        retired = keys.with_hash_keys(
            key_files.HashKeys(hashing.blind_index.only_current(), hashing.masking)
        )
        key_files.write_text(settings.key_file, retired.to_json())
        console.print("older blind-index keys retired")


@keys_cli.command("rotate-masking")
def keys_rotate_masking() -> None:
    """A new masking-hash key. Masked digests are never stored: it takes effect at once
    (a digest shown before no longer matches one shown after)."""
    import secrets

    from privacy import keys as key_files

    settings = _settings()
    if not _from_file(settings, "set a new LENDGRAPH_MASKING_KEY"):
        raise typer.Exit(1)
    keys = settings.keys()
    masking = secrets.token_bytes(key_files.KEY_BYTES)
    changed = keys.with_hash_keys(key_files.HashKeys(keys.hashing.blind_index, masking))
    key_files.write_text(settings.key_file, changed.to_json())
    console.print("new masking-hash key written")


@keys_cli.command("replace-data-keys")
def keys_replace_data_keys(
    wait: Annotated[bool, typer.Option(help="Follow the job with a progress bar.")] = True,
) -> None:
    """A fresh data key for every subject, every sealed value re-encrypted under it, by
    a job, a committed batch at a time (online)."""
    from domain.jobs.tasks import REKEY

    settings = _settings()
    _print_json(_guarded(settings, lambda: _follow(settings, REKEY, {}, wait=wait)))


audit_cli = typer.Typer(help="Checks of the records the law asks us to keep.", no_args_is_help=True)
app.add_typer(audit_cli, name="audit")


@audit_cli.command("verify")
def audit_verify(
    rows: Annotated[
        bool, typer.Option("--rows/--seals-only", help="Re-digest every sealed log row.")
    ] = True,
) -> None:
    """Check every chain: the audit and access logs' seals and checkpoints, and the
    consent ledger; name each break. Exits 1 when anything is broken."""
    from domain.audit import integrity
    from domain.audit.chain import SealKey

    settings = _settings()
    key = SealKey(settings.audit_signing_key())
    checkpoint = settings.audit_checkpoint_file
    found = _run(
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


@audit_cli.command("seal")
def audit_seal() -> None:
    """Seal the audit and access logs' settled rows now (the queue does it periodically)."""
    from domain.audit import integrity
    from domain.audit.chain import SealKey

    settings = _settings()
    key = SealKey(settings.audit_signing_key())

    async def work() -> dict[str, int]:
        engine = create_engine(settings.database_url)
        try:
            return await integrity.seal(
                session_factory(engine), key, checkpoint=settings.audit_checkpoint_file
            )
        finally:
            await engine.dispose()

    sealed = _guarded(settings, work)
    for stream, count in sealed.items():
        typer.echo(f"{stream} log: {count} rows sealed")


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

    day = _day(as_of)
    with _working("ageing loans"):
        aged = _run(_settings(), lambda session: age_loans(session, as_of=day))
    typer.echo(f"aged {aged.loans} active loans to {aged.as_of}: {aged.changed} changed")
    for bucket, count in aged.buckets.items():
        typer.echo(f"  {bucket.value:<12} {count}")


risk_cli = typer.Typer(
    help="Early warning: portfolio scans and alert escalation.", no_args_is_help=True
)
app.add_typer(risk_cli, name="risk")


async def _with_sessions(
    settings: Settings, work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]
) -> T:
    engine = create_engine(settings.database_url)
    try:
        return await work(session_factory(engine))
    finally:
        await engine.dispose()


@risk_cli.command("scan")
def risk_scan(
    full: Annotated[
        bool, typer.Option("--full", help="Every active loan, changed or not.")
    ] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The day to judge, YYYY-MM-DD (today).")
    ] = None,
) -> None:
    """Evaluate the rules and warning indicators on the active loans; raise new alerts."""
    from domain.risk.alerts import escalate_overdue
    from domain.risk.scan import ScanReport, run_scan

    day = _day(as_of)
    settings = _settings()

    async def scan(sessions: async_sessionmaker[AsyncSession]) -> tuple[ScanReport, int]:
        with _progress("scanning loans") as shown:
            report = await run_scan(
                sessions,
                as_of=day,
                full=full,
                trigger="cli",
                progress=lambda scanned: shown(scanned, None),
            )
        async with unit_of_work(sessions) as session:
            return report, await escalate_overdue(session)

    report, escalated = _guarded(settings, lambda: _with_sessions(settings, scan))
    kind = "full" if report.full else "incremental"
    typer.echo(
        f"{kind} scan as of {report.as_of}: {report.loans_scanned} loans, {report.rules} rules, "
        f"{report.alerts_raised} new alerts, {report.warnings_written} warning scores written "
        f"in {report.seconds:.2f} s; {escalated} overdue alerts escalated"
    )
    for level, count in report.levels.items():
        typer.echo(f"  {level:<8} {count}")


retention_cli = typer.Typer(
    help="Retention: purge personal data past its schedule.", no_args_is_help=True
)
app.add_typer(retention_cli, name="retention")


@retention_cli.command("plan")
def retention_plan() -> None:
    """The dry run: which enterprises a retention run would crypto-shred now, and which
    are due but held (and by what). Changes nothing."""
    from privacy import retention

    found = _run(_settings(), lambda session: retention.plan(session))
    for item in found.due:
        typer.echo(f"due  {item.subject_id} {item.category.value} since {item.since}")
    for item in found.held:
        holds = ",".join(h.value for h in item.holds)
        typer.echo(f"held {item.subject_id} {item.category.value} since {item.since} by {holds}")
    typer.echo(
        f"schedule {found.schedule_version} as of {found.as_of}: "
        f"{len(found.due)} due, {len(found.held)} held"
    )


@retention_cli.command("run")
def retention_run() -> None:
    """Crypto-shred every enterprise the plan lists as due, purge the logs' sealed
    batches past their schedule, and write the receipts (the daily job does the same)."""
    from domain.audit.chain import SealKey
    from domain.identity.viewer import Viewer
    from privacy import retention

    settings = _settings()
    keys = settings.keys()
    seal_key = SealKey(settings.audit_signing_key())
    receipt = _run(
        settings,
        lambda session: retention.run(
            session, keys, viewer=Viewer(user_id=None), seal_key=seal_key
        ),
    )
    _print_json(
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


report_cli = typer.Typer(
    help="Reports for people who would rather look than read tables.", no_args_is_help=True
)
app.add_typer(report_cli, name="report")


@report_cli.command("portfolio")
def report_portfolio(
    out: Annotated[Path, typer.Option("--out", help="The HTML file to write.")],
    start: Annotated[
        str | None, typer.Option("--from", help="First day, YYYY-MM-DD (a year before --to).")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD (today).")] = None,
    institution: Annotated[
        str | None, typer.Option(help="Institution code: its book only (all when left out).")
    ] = None,
) -> None:
    """The portfolio's figures and charts as one self-contained HTML page, made by a job
    (run by this process on SQLite, by the workers on PostgreSQL) with a progress bar."""
    from domain.identity.repository import institution_by_code
    from domain.jobs.tasks import REPORT

    settings = _settings()
    params: dict[str, object] = {
        "start": _day(start).isoformat() if start else None,
        "end": _day(end).isoformat(),
        "institutions": None,  # an operator reads every book
    }

    async def make() -> bytes:
        if institution is not None:

            async def find(session: AsyncSession) -> str:
                found = await institution_by_code(session, institution)
                if found is None:
                    raise NotFound(f"no institution with code {institution!r}")
                return str(found.id)

            params["institution"] = await _in_transaction(settings, find)
        finished = await _follow(settings, REPORT, params, wait=True, label="portfolio report")
        return await _output_of(settings, finished["job"])

    page = _guarded(settings, make)
    out.write_bytes(page)
    typer.echo(f"wrote {out} ({len(page) // 1024} KiB)")


@report_cli.command("compliance")
def report_compliance(
    out: Annotated[Path, typer.Option("--out", help="The HTML file to write.")],
    start: Annotated[
        str | None, typer.Option("--from", help="First day of reveals counted (all history).")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day counted (today).")] = None,
    rows: Annotated[
        bool, typer.Option("--rows/--seals-only", help="Re-digest every sealed log row.")
    ] = True,
) -> None:
    """Consent coverage, reveals by role and purpose, break-glass, integrity and the
    records of processing, as one self-contained HTML page."""
    from datetime import UTC, datetime, time, timedelta

    from api.audit.records import personal_classification
    from api.schema import build_schema
    from domain.audit import compliance, integrity
    from domain.audit.chain import SealKey
    from domain.identity.authorization import Authorizer
    from privacy.records import processing_records

    settings = _settings()
    key = SealKey(settings.audit_signing_key())
    personal = personal_classification(build_schema(settings))
    since = datetime.combine(_day(start), time(), UTC) if start else None
    until = datetime.combine(_day(end), time(), UTC) + timedelta(days=1) if end else None

    async def build(session: AsyncSession) -> str:
        authorizer = Authorizer()
        await authorizer.sync(session)
        found = await integrity.verify(
            session, key, checkpoint=settings.audit_checkpoint_file, rows=rows
        )
        report = await compliance.gather(
            session,
            integrity=found,
            records=processing_records(personal, authorizer),
            since=since,
            until=until,
        )
        return compliance.render(report)

    with _working("checking the records"):
        page = _run(settings, build)
    out.write_text(page, encoding="utf-8")
    typer.echo(f"wrote {out} ({len(page) // 1024} KiB)")


model_cli = typer.Typer(
    help="Credit scoring models: train, evaluate, promote, score.", no_args_is_help=True
)
app.add_typer(model_cli, name="model")


def _print_json(value: object) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


DEFAULT_BUDGET = 180.0
BUDGET_OPTION = typer.Option(
    "--budget",
    min=0.0,
    help="Seconds the hyper-parameter search may take (per fit; 0: the default only).",
)
BLEND_OPTION = typer.Option(help="Try a blend with the logistic baseline on inner folds.")


def _search_params(budget: float, blend: bool) -> dict[str, object]:
    return {"budget_seconds": budget, "blend": blend}


def _print_comparison(figures: Mapping[str, Any]) -> None:
    """Default vs tuned vs blend, with their spread over folds, and each fold's choice."""
    variants = figures.get("variants")
    if not variants:
        return
    baseline = figures["baseline"]
    for name, found in [*variants.items(), ("pipeline", figures), ("logistic", baseline)]:
        console.print(
            f"{name:<9} AUC {found['auc_mean']:.4f} ± {found['auc_std']:.4f}   "
            f"ECE {found['ece']:.4f}   Brier {found['brier']:.4f}"
        )
    for index, chosen in enumerate(figures["chosen_per_fold"], start=1):
        console.print(
            f"fold {index}: {chosen['params'] or 'default'}, {chosen['iterations']} trees, "
            f"{chosen['candidates_tried']} tried, blend {'kept' if chosen['blend'] else 'not kept'}"
        )
    console.print(f"gain over the default: {figures['gain_over_default']:+.4f} AUC")


@model_cli.command("evaluate")
def model_evaluate(
    csv: Annotated[Path, typer.Option("--csv", exists=True, dir_okay=False)],
    target: Annotated[str, typer.Option("--target", help="The outcome column.")],
    bad_value: Annotated[str, typer.Option("--bad-value", help="Its value for a default.")],
    folds: Annotated[int, typer.Option(min=2, max=20)] = 5,
    seed: Annotated[int, typer.Option()] = 42,
    budget: Annotated[float, BUDGET_OPTION] = DEFAULT_BUDGET,
    blend: Annotated[bool, BLEND_OPTION] = True,
) -> None:
    """Cross-validate the training pipeline on any CSV; print the figures as JSON (and,
    on stderr, default vs tuned vs blend with their spread, and each fold's choice)."""
    from scoring.tabular import TabularError
    from scoring.training import evaluate_csv

    try:
        with _progress(f"{folds}-fold validation") as report:
            figures = evaluate_csv(
                csv,
                target,
                bad_value,
                folds=folds,
                seed=seed,
                params=_search_params(budget, blend),
                progress=report,
            )
        _print_comparison(figures)
        _print_json(figures)
    except (TabularError, ValueError) as exc:
        console.print(f"[red]BAD_USER_INPUT[/red]: {exc}")
        raise typer.Exit(2) from None


def _train_model(
    settings: Settings,
    *,
    csv: Path | None = None,
    target: str | None = None,
    bad_value: str | None = None,
    folds: int = 5,
    seed: int = 42,
    promote: bool = False,
    validate: bool = True,
    params: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """Sample, validate (k-fold), fit, record the drift reference, register, promote."""
    from domain.risk.training import train_and_register, training_rows
    from scoring.tabular import read_csv

    async def train(sessions: async_sessionmaker[AsyncSession]) -> dict[str, object]:
        if csv is not None:
            if not target or bad_value is None:
                raise ValueError("--csv needs --target and --bad-value")
            table = read_csv(csv, target=target, bad_value=bad_value)
            rows, labels, specs = list(table.rows), list(table.labels), tuple(table.specs)
            source = f"csv {csv.name}"
        else:
            rows, labels, specs, source = await training_rows(sessions)
        console.print(f"training on {len(rows)} loans ({sum(labels)} defaults) from {source}")
        with _bars() as bar:
            return await train_and_register(
                sessions,
                settings.model_dir,
                rows=rows,
                labels=labels,
                specs=specs,
                source=source,
                folds=folds,
                seed=seed,
                promote=promote,
                validate=validate,
                params=params,
                boosters=bar,
            )

    return _guarded(settings, lambda: _with_sessions(settings, train))


@model_cli.command("train")
def model_train(
    csv: Annotated[
        Path | None,
        typer.Option("--csv", exists=True, dir_okay=False, help="A lender's file (else: ours)."),
    ] = None,
    target: Annotated[str | None, typer.Option("--target")] = None,
    bad_value: Annotated[str | None, typer.Option("--bad-value")] = None,
    folds: Annotated[int, typer.Option(min=2, max=20, help="For the validation report.")] = 5,
    seed: Annotated[int, typer.Option()] = 42,
    promote: Annotated[bool, typer.Option(help="Make it the champion at once.")] = False,
    budget: Annotated[float, BUDGET_OPTION] = DEFAULT_BUDGET,
    blend: Annotated[bool, BLEND_OPTION] = True,
) -> None:
    """Train on the platform's loan history (or a CSV), validate, and register a candidate."""
    from scoring.tabular import TabularError

    try:
        result = _train_model(
            _settings(),
            csv=csv,
            target=target,
            bad_value=bad_value,
            folds=folds,
            seed=seed,
            promote=promote,
            params=_search_params(budget, blend),
        )
    except (TabularError, ValueError) as exc:
        console.print(f"[red]BAD_USER_INPUT[/red]: {exc}")
        raise typer.Exit(2) from None
    _print_json(result)


@model_cli.command("report")
def model_report(
    version: str,
    out: Annotated[Path, typer.Option("--out", file_okay=False, help="Directory to write to.")],
) -> None:
    """Write the model's validation report: one HTML page with its charts, for offline use."""
    from domain.risk.training import VALIDATION_FILE
    from scoring.registry import by_version, features_of, load
    from scoring.report import render
    from scoring.scorecard import MasterScale, Scorecard

    settings = _settings()
    row = _run(settings, lambda session: by_version(session, version))
    found = settings.model_dir / row.version / VALIDATION_FILE
    if not found.is_file():
        console.print(
            f"[red]NOT_FOUND[/red]: {row.version} has no cross-validation predictions "
            "(trained without validation); train it with `lendgraph model train`"
        )
        raise typer.Exit(1)
    predictions = json.loads(found.read_text(encoding="utf-8"))
    model = load(row, settings.model_dir)
    scorecard, scale = Scorecard(), MasterScale()
    pds = [min(max(p, 1e-9), 1 - 1e-9) for p in predictions["pd"]]
    names = [f.name for f in features_of(row)]
    importance = sorted(
        zip(names, (float(v) for v in model.booster.get_feature_importance()), strict=True),
        key=lambda pair: -pair[1],
    )
    page = render(
        version=row.version,
        source=row.source,
        metrics=row.metrics,
        labels=predictions["labels"],
        pds=pds,
        scores=[float(scorecard.points(p)) for p in pds],
        grades=[scale.grade(p) for p in pds],
        grade_order=list(scale.names),
        importance=importance,
    )
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"model-{row.version}.html"
    target.write_text(page, encoding="utf-8")
    typer.echo(f"wrote {target}")


@model_cli.command("list")
def model_list() -> None:
    """Registered models, newest first."""
    from scoring.registry import listing

    for row in _run(_settings(), listing):
        typer.echo(
            f"{row.version:<24} {row.status.value:<10} {_figures(row.metrics)}  {row.source}"
        )


def _figures(metrics: dict[str, Any]) -> str:
    """A model's validation in a few words: cross-validated AUC, its spread, the data."""
    validated = metrics.get("cross_validation") or {}
    auc, spread = validated.get("auc_mean"), validated.get("auc_std")
    shown = (
        f"auc {auc:.3f} ± {spread:.3f} ({validated.get('folds')}-fold)"
        if isinstance(auc, float) and isinstance(spread, float)
        else "auc -  (not validated)"
    )
    rows, bad = metrics.get("n_rows"), metrics.get("n_bad")
    return f"{shown}  {bad} defaults in {rows} rows"


@model_cli.command("promote")
def model_promote(
    version: str,
    retire_previous: Annotated[
        bool, typer.Option(help="Retire the champion it replaces instead of keeping it.")
    ] = False,
) -> None:
    """Make a registered model the champion; the previous one scores on in shadow."""
    from scoring.features import PLATFORM_FEATURES
    from scoring.registry import promote

    row = _run(
        _settings(),
        lambda session: promote(
            session,
            version,
            keep_previous_as_challenger=not retire_previous,
            features=PLATFORM_FEATURES,
        ),
    )
    typer.echo(f"{row.version} is the champion")


@model_cli.command("score-portfolio")
def model_score_portfolio(
    wait: Annotated[bool, typer.Option(help="Follow it with a progress bar.")] = True,
) -> None:
    """Re-score every active loan with the champion model: a job split into chunks that
    the workers share (on SQLite this process runs them)."""
    settings = _settings()
    found = _guarded(settings, lambda: _follow(settings, JOB_KINDS["rescoring"], {}, wait=wait))
    result = found.get("result") or {}
    if not wait:
        _print_json(found)
        return
    typer.echo(
        f"scored {result.get('loans', 0)} active loans with {result.get('version')} "
        f"in {result.get('chunks', 0)} chunks"
    )


@model_cli.command("drift")
def model_drift(
    days: Annotated[int, typer.Option(min=1, max=3650, help="Recent window.")] = 90,
) -> None:
    """Population stability of the score and each feature; alerts when unstable."""
    from domain.risk.monitoring import model_drift as measure
    from scoring.drift import verdict

    with _working("measuring stability"):
        found = _run(_settings(), lambda session: measure(session, days=days))
    typer.echo(f"model {found.version}: {found.assessments} assessments in the last {days} days")
    for name, index in sorted(found.indices.items(), key=lambda item: -item[1]):
        typer.echo(f"  {name:<36} PSI {index:7.4f}  {verdict(index)}")
    if found.alert_raised:
        typer.echo("unstable: a risk alert was raised")


import_cli = typer.Typer(
    help="Bulk imports: rows cleaned, merged and reported.", no_args_is_help=True
)
app.add_typer(import_cli, name="import")


@import_cli.command("enterprises")
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
    from domain.base import new_id
    from domain.imports.cleaning import Outcome
    from domain.imports.models import RowEffect
    from domain.jobs.files import NewFile
    from domain.jobs.models import FileRole
    from domain.jobs.tasks import IMPORT

    settings = _settings()
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
        finished = await _follow(settings, IMPORT, params, wait=True, files=[upload], label=label)
        rows = await _output_of(settings, finished["job"]) if report else None
        return finished["result"], rows

    done, rows = _guarded(settings, run)
    if report and rows is not None:
        report.write_bytes(rows)
    typer.echo(f"{file.name}: {done['rows_total']} rows; run {done['importRun']} {done['status']}")
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
    if report:
        typer.echo(f"  every row's outcome: {report}")
    if done["batches_failed"]:
        console.print("[red]some batches did not land: import the same file again to finish[/red]")
        raise typer.Exit(1)


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def _output_of(settings: Settings, job_id: str) -> bytes:
    """The content of a finished job's output file (a report, every row of an import)."""
    import uuid

    from domain.jobs import files as job_files
    from domain.jobs import repository as jobs_repo
    from domain.jobs.models import FileRole

    async def read(sessions: async_sessionmaker[AsyncSession]) -> bytes:
        async with sessions() as session:
            found: JobFile | None = await jobs_repo.file_of_job(
                session, uuid.UUID(job_id), FileRole.OUTPUT
            )
            if found is None:
                raise NotFound(f"job {job_id} left no output file")
            return await job_files.read(session, settings.keys(), found)

    return await _with_sessions(settings, read)


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


@app.command()
def worker(
    concurrency: Annotated[
        int, typer.Option(min=1, max=64, help="Jobs this process runs at once.")
    ] = 2,
    queue: Annotated[
        list[str] | None,
        typer.Option(
            "--queue",
            help="Only these queues (repeatable): `default` (scans, ageing, drift, "
            "escalation) or `chunks` (a split scan's ranges). All of them by default.",
        ),
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="Serve Prometheus metrics (job counts, durations, queue depth) on this port.",
        ),
    ] = None,
    metrics_host: Annotated[str, typer.Option(help="Where --metrics-port listens.")] = "127.0.0.1",
) -> None:
    """Run jobs from the queue on PostgreSQL (start as many as you like, anywhere)."""
    from api.logs import configure_logging
    from domain.jobs.queue import JobQueue, Runtime

    settings = _settings()
    configure_logging(settings.log_level, hide_parameters=not settings.is_development)
    if settings.is_sqlite:
        console.print(
            "[red]QUEUE_UNAVAILABLE[/red]: `lendgraph worker` needs PostgreSQL; on SQLite "
            "`lendgraph serve` runs the jobs itself"
        )
        raise typer.Exit(2)

    if metrics_port is not None:  # a worker has no HTTP app to scrape: a port of its own
        from domain import metrics

        metrics.serve(metrics_port, metrics_host)

    async def work() -> None:
        from domain import tracing

        engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
        provider = tracing.process_provider()  # None unless OTEL_* switch traces on
        if provider is not None:
            tracing.instrument_engine(engine, provider)
        jobs = JobQueue(settings)
        try:
            await jobs.run_worker(
                Runtime(settings, session_factory(engine)), concurrency=concurrency, queues=queue
            )
        finally:
            await jobs.close()
            await engine.dispose()
            if provider is not None:
                provider.shutdown()  # the last spans sent before the process ends

    console.print(f"worker: concurrency {concurrency}, queues {', '.join(queue or ['all'])}")
    _guarded(settings, work)


jobs_cli = typer.Typer(help="Background jobs: run one and follow it, list recent ones.")
app.add_typer(jobs_cli, name="jobs")

JOB_KINDS = {
    "risk-scan": "risk_scan",
    "escalation": "risk_escalation",
    "ageing": "loan_ageing",
    "drift": "model_drift",
    "training": "model_training",
    "purge-files": "job_files_purge",
    "rescoring": "portfolio_scoring",
    "request-deadlines": "subject_request_escalation",
    "retention": "retention",
}


async def _follow(
    settings: Settings,
    kind: str,
    params: dict[str, object],
    *,
    wait: bool,
    files: Sequence[NewFile] = (),
    label: str | None = None,
) -> dict[str, Any]:
    """Submit a job (with its input ``files``) and, unless told not to, show its progress
    until it ends. On SQLite this process runs it (the in-memory queue is this
    process's); on PostgreSQL the workers do, and this only watches its record."""
    from domain.jobs import repository as jobs_repo
    from domain.jobs.models import JobState
    from domain.jobs.queue import JobQueue, Runtime, drain
    from domain.jobs.tasks import Schedules

    engine = create_engine(settings.database_url)
    sessions = session_factory(engine)
    # Schedules are the workers' (or `serve`'s on SQLite), never a command's.
    queue = JobQueue(settings, schedules=Schedules.none())
    try:
        run = await queue.submit(sessions, kind, params=params, trigger="cli", files=files)
        if not wait:
            return {"job": str(run.id), "state": run.state.value}
        runner = (
            asyncio.create_task(drain(queue, Runtime(settings, sessions)))
            if queue.embedded
            else None
        )
        with Progress(
            TextColumn("{task.description:<16}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as bar:
            task = bar.add_task(label or kind, total=None)
            while True:
                async with sessions() as session:
                    row = await jobs_repo.get(session, run.id)
                assert row is not None
                shown = label or row.state
                bar.update(task, completed=row.done, total=row.total, description=shown)
                if row.state in (JobState.SUCCEEDED, JobState.FAILED):
                    break
                if runner is not None and runner.done():
                    runner.result()  # a worker that died says why; one that ended is rerun
                    runner = asyncio.create_task(drain(queue, Runtime(settings, sessions)))
                await asyncio.sleep(0.3)
        if runner is not None:
            await runner
        if row.state is JobState.FAILED:
            raise JobFailed(row.error or "the job failed")
        return {"job": str(row.id), "state": row.state.value, "result": row.result}
    finally:
        await queue.close()
        await engine.dispose()


@jobs_cli.command("run")
def jobs_run(
    kind: Annotated[str, typer.Argument(help=f"One of: {', '.join(JOB_KINDS)}.")],
    full: Annotated[
        bool, typer.Option("--full", help="risk-scan: every active loan, changed or not.")
    ] = False,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="risk-scan, ageing: the day, YYYY-MM-DD.")
    ] = None,
    wait: Annotated[bool, typer.Option(help="Follow it with a progress bar.")] = True,
) -> None:
    """Queue a job now (as its schedule would) and follow its progress."""
    if kind not in JOB_KINDS:
        console.print(f"[red]BAD_USER_INPUT[/red]: no job {kind!r}; one of {', '.join(JOB_KINDS)}")
        raise typer.Exit(2)
    params: dict[str, object] = {"full": True} if full else {}
    if as_of is not None:
        params["as_of"] = _day(as_of).isoformat()
    settings = _settings()
    _print_json(_guarded(settings, lambda: _follow(settings, JOB_KINDS[kind], params, wait=wait)))


@jobs_cli.command("list")
def jobs_list(
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
) -> None:
    """The newest jobs: kind, state, progress, timestamps, error."""
    from domain.identity.viewer import Viewer
    from domain.jobs import repository as jobs_repo

    operator = Viewer(platform_roles=frozenset({Role.PLATFORM_ADMIN}))
    rows = _run(
        _settings(),
        lambda session: jobs_repo.list_jobs(session, viewer=operator, first=limit, after=None),
    )
    for row in rows[:limit]:
        progress = f"{row.done}/{row.total}" if row.total is not None else "-"
        typer.echo(
            f"{row.id}  {row.kind:<16} {row.state.value:<9} {progress:>9}  "
            f"{row.created_at.isoformat(timespec='seconds')}  {row.error or ''}".rstrip()
        )


def main() -> None:
    logging.captureWarnings(True)
    app(prog_name="lendgraph")


if __name__ == "__main__":
    main()
