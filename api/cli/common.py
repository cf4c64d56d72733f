"""What every command group shares: the console, progress bars, settings, and running a
command's work on a current schema in one transaction."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any, TypeVar

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

from domain.settings import ConfigurationError, Settings, load_settings
from kernel.base import utcnow
from kernel.db import create_engine, session_factory, unit_of_work
from kernel.errors import DomainError, NotFound
from migrations.runner import current_revision, head_revision

T = TypeVar("T")

console = Console(stderr=True)


@contextmanager
def progress(description: str) -> Iterator[Callable[[int, int | None], None]]:
    """A progress bar on stderr for a long step; yields ``report(done, total)``.

    Until a total is known (or when none is: ``report(done, None)``) the bar pulses,
    with the time elapsed: a command that takes a while shows it is working.
    """
    with bars() as bar:
        yield bar(description)


@contextmanager
def bars() -> Iterator[Callable[[str], Callable[[int, int | None], None]]]:
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
def working(description: str) -> Iterator[None]:
    """A spinner with the time elapsed for a step whose progress nothing measures."""
    with Progress(
        SpinnerColumn(), TextColumn(description), TimeElapsedColumn(), console=console
    ) as bar:
        bar.add_task(description, total=None)
        yield


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigurationError as exc:
        console.print(f"[red]Invalid configuration[/red]\n{exc}")
        raise typer.Exit(2) from None


async def schema_is_current(settings: Settings) -> bool:
    engine = create_engine(settings.database_url)
    try:
        return await current_revision(engine) == head_revision()
    finally:
        await engine.dispose()


async def in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    engine = create_engine(settings.database_url)
    try:
        async with unit_of_work(session_factory(engine)) as session:
            return await work(session)
    finally:
        await engine.dispose()


def guarded(settings: Settings, job: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a command's job on a current schema; an expected refusal exits 1 with its code."""
    import domain.models  # noqa: F401 - every mapper known before a command's first query

    if not asyncio.run(schema_is_current(settings)):
        console.print("[red]the database schema is not current: run `lendgraph migrate`[/red]")
        raise typer.Exit(2)
    try:
        return asyncio.run(job())
    except DomainError as exc:
        console.print(f"[red]{exc.code}[/red]: {exc.message}")
        raise typer.Exit(1) from None


def transact(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    return guarded(settings, lambda: in_transaction(settings, work))


def as_of_day(as_of: str | None) -> date:
    """An --as-of option: a YYYY-MM-DD day, today when left out; exits 2 otherwise."""
    try:
        return date.fromisoformat(as_of) if as_of else utcnow().date()
    except ValueError:
        console.print(f"[red]BAD_USER_INPUT[/red]: --as-of {as_of!r} is not a date (YYYY-MM-DD)")
        raise typer.Exit(2) from None


async def with_sessions(
    settings: Settings, work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]
) -> T:
    engine = create_engine(settings.database_url)
    try:
        return await work(session_factory(engine))
    finally:
        await engine.dispose()


def print_json(value: object) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


async def institution_id(settings: Settings, code: str) -> str:
    """The id of the institution with this code (an option's value); NOT_FOUND if none."""
    from domain.identity.repository import institution_by_code

    async def find(session: AsyncSession) -> str:
        found = await institution_by_code(session, code)
        if found is None:
            raise NotFound(f"no institution with code {code!r}")
        return str(found.id)

    return await in_transaction(settings, find)
