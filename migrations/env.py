from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from domain.models import Base
from domain.settings import get_settings

target_metadata = Base.metadata


def _ours(obj: object, name: str | None, *_: object) -> bool:
    # procrastinate's tables come from its own schema file (revision 0018), not our models.
    return not (name or "").startswith("procrastinate_")


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_object=_ours,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine(url: str) -> None:
    from kernel.db import create_engine

    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_configure)
    finally:
        await engine.dispose()


given = context.config.attributes.get("connection")
if given is not None:
    _configure(given)
elif context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run `lendgraph migrate`")
else:
    url = context.config.get_main_option("sqlalchemy.url") or get_settings().database_url
    asyncio.run(_run_with_own_engine(url))
