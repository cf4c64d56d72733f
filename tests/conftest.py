"""Shared fixtures: a real database built by alembic, emptied after every test that used it.

``LENDGRAPH_TEST_DATABASE_URL`` selects the database (PostgreSQL in CI's second leg);
without it the suite runs on a throwaway SQLite file.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.identity.authorization import DEFAULT_POLICY_PATH, install_policy
from domain.identity.models import PolicyVersion
from domain.models import Base
from kernel.db import create_engine, session_factory
from migrations.runner import upgrade

PG_ENV = "LENDGRAPH_TEST_DATABASE_URL"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get(PG_ENV)
    if url:
        return url
    path: Path = tmp_path_factory.mktemp("db") / "test.db"
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture(scope="session")
def is_postgres(database_url: str) -> bool:
    return database_url.startswith("postgresql")


@pytest.fixture(autouse=True)
def _postgres_only(request: pytest.FixtureRequest) -> None:
    # Skipped on the SQLite run, CI's included: CI's PostgreSQL run executes them, and
    # fails loudly there if the database cannot be reached (see ``engine``).
    if request.node.get_closest_marker("postgres_only"):
        url = os.environ.get(PG_ENV, "")
        if not url.startswith("postgresql"):
            pytest.skip(f"needs PostgreSQL: set {PG_ENV}=postgresql+asyncpg://...")


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(database_url)
    if eng.dialect.name == "postgresql":
        # In CI an unreachable PostgreSQL must fail the run here, loudly, never skip.
        async with eng.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    await upgrade(eng)
    async with eng.connect() as conn:
        _MIGRATED["policy_version"] = int(
            await conn.scalar(select(PolicyVersion.version).where(PolicyVersion.id == 1)) or 0
        )
    yield eng
    await eng.dispose()


# Reference data the migrations install: kept, and put back if a test changed it.
POLICY_TABLES = ("authz_rules", "authz_version")
QUEUE_TABLES = (
    "procrastinate_jobs",
    "procrastinate_periodic_defers",
    "procrastinate_events",
    "procrastinate_workers",
)
_MIGRATED: dict[str, int] = {}


async def truncate_all(eng: AsyncEngine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name not in POLICY_TABLES]
    await restore_default_policy(eng)
    async with eng.begin() as conn:
        if eng.dialect.name == "postgresql":
            await conn.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))
            # The job queue's tables (procrastinate's schema, revision 0018) are not models.
            await conn.execute(text(f"TRUNCATE {', '.join(QUEUE_TABLES)} CASCADE"))
        else:
            for name in tables:
                await conn.execute(text(f"DELETE FROM {name}"))  # noqa: S608 - fixed table names


async def restore_default_policy(eng: AsyncEngine) -> None:
    """Back to the policy a fresh migration installs, at its version, if a test moved it."""
    baseline = _MIGRATED["policy_version"]
    async with session_factory(eng)() as session, session.begin():
        version = await session.scalar(select(PolicyVersion.version).where(PolicyVersion.id == 1))
        if version == baseline:
            return
        await install_policy(session, DEFAULT_POLICY_PATH.read_text(), detail={"restored": "tests"})
        await session.execute(
            update(PolicyVersion).where(PolicyVersion.id == 1).values(version=baseline)
        )


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """The migrated database, emptied after the test."""
    yield engine
    await truncate_all(engine)


@pytest.fixture
def sessions(db: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(db)
