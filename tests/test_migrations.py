"""Alembic is the one way the schema changes: the migrations must build the models."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.models import Base
from migrations.runner import current_revision, head_revision


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    diff: list[Any] = compare_metadata(context, Base.metadata)
    return diff


async def test_autogenerate_finds_no_difference_between_models_and_migrations(
    engine: AsyncEngine,
) -> None:
    # given: the test database, built from empty by `alembic upgrade head`
    # when
    async with engine.connect() as conn:
        differences = await conn.run_sync(_differences)

    # then
    assert differences == []


async def test_the_database_is_at_the_single_head(engine: AsyncEngine) -> None:
    assert await current_revision(engine) == head_revision()
