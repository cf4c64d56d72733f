"""Reports as self-contained HTML pages: the portfolio and compliance."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from api.cli.common import (
    as_of_day,
    guarded,
    institution_id,
    settings_or_exit,
    transact,
    working,
)
from api.cli.jobs import follow, output_of

group = typer.Typer(
    help="Reports for people who would rather look than read tables.", no_args_is_help=True
)


@group.command("portfolio")
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
    from domain.jobs.tasks import REPORT

    settings = settings_or_exit()
    params: dict[str, object] = {
        "start": as_of_day(start).isoformat() if start else None,
        "end": as_of_day(end).isoformat(),
        "institutions": None,  # an operator reads every book
    }

    async def make() -> bytes:
        if institution is not None:
            params["institution"] = await institution_id(settings, institution)
        finished = await follow(settings, REPORT, params, wait=True, label="portfolio report")
        return await output_of(settings, finished["job"])

    page = guarded(settings, make)
    out.write_bytes(page)
    typer.echo(f"wrote {out} ({len(page) // 1024} KiB)")


@group.command("compliance")
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
    from domain.privacy.records import processing_records

    settings = settings_or_exit()
    key = SealKey(settings.audit_signing_key())
    personal = personal_classification(build_schema(settings))
    since = datetime.combine(as_of_day(start), time(), UTC) if start else None
    until = datetime.combine(as_of_day(end), time(), UTC) + timedelta(days=1) if end else None

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

    with working("checking the records"):
        page = transact(settings, build)
    out.write_text(page, encoding="utf-8")
    typer.echo(f"wrote {out} ({len(page) // 1024} KiB)")
