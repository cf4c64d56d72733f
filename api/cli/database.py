"""The database and what is in it: migrate, seed, and the demo's population and logins."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer

from domain.settings import Settings
from kernel.base import utcnow
from kernel.db import create_engine, session_factory, unit_of_work
from migrations.runner import current_revision, upgrade

if TYPE_CHECKING:
    from seed.demo import DemoLogin


from api.cli.common import as_of_day, bars, console, settings_or_exit
from api.cli.model import train_model

DEMO_ENTERPRISES = 1000


async def migrate_database(settings: Settings) -> str | None:
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


async def seed_database(
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
        with bars() as bar:
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


def migrate() -> None:
    """Bring the database schema up to date."""
    settings = settings_or_exit()
    revision = asyncio.run(migrate_database(settings))
    console.print(f"database at revision {revision}")


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
    day = as_of_day(as_of)
    settings = settings_or_exit()
    asyncio.run(migrate_database(settings))
    seeded = seed_database(settings, enterprises=enterprises, seed=seed, locale=locale, as_of=day)
    if not asyncio.run(seeded):
        console.print("[yellow]the database already holds data; nothing seeded[/yellow]")
        raise typer.Exit(1)


def prepare_demo(settings: Settings) -> None:
    """Migrate; on an empty database, seed the demo's population (its history ending
    today), print every role's login, and train the first champion model."""
    asyncio.run(migrate_database(settings))
    seeded = asyncio.run(
        seed_database(
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
        trained = train_model(settings, promote=True)
        console.print(
            f"model {trained['version']} is the champion: cross-validated AUC "
            f"{trained['auc_mean']:.3f} ± {trained['auc_std']:.3f} on {trained['rows']} "
            f"loans ({trained['defaults']} defaults)"
        )
