"""What the benchmarks share: a seeded database, signed-in viewers, the app without
field-level access they measure the guarded app against, and how they report.

Imported by the benchmark scripts in this folder (run as ``python bench/<script>.py``,
which puts this folder on the import path).
"""

from __future__ import annotations

import copy
import statistics
import time
import uuid
from collections.abc import Sequence
from typing import Any, Protocol
from unittest import mock

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.field import StrawberryField

import api.schema
from api.access import FieldAccess
from api.app import create_app
from domain.identity import people
from domain.identity.models import AuthSession, Membership, Role, UserStatus
from domain.identity.security import mint_token
from domain.models import Application, Institution
from domain.settings import Settings, load_settings
from kernel.base import utcnow
from kernel.db import create_engine, session_factory
from migrations.runner import upgrade
from privacy.keys import generate
from seed import seed_population

# One set of keys for the seed and the app it serves (never written anywhere).
KEYS = generate()


def bench_settings(url: str) -> Settings:
    # Tokens live an hour: a long benchmark outlives the default quarter, and the
    # service refuses a token that claims more than the lifetime it gives.
    return load_settings(
        database_url=url,
        env="development",
        secret_key="bench-" + "k" * 40,
        access_token_ttl=3600,
        **KEYS.env_values(),
    )


async def prepare(url: str, enterprises: int) -> AsyncEngine:
    """A migrated database with a seeded population (PostgreSQL: schema public renewed)."""
    engine = create_engine(url)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    await upgrade(engine)
    await seed_population(session_factory(engine), enterprises=enterprises, seed=7, keys=KEYS)
    return engine


async def busiest_institution(engine: AsyncEngine) -> tuple[uuid.UUID, str]:
    """The institution with the most applications: (id, code)."""
    async with session_factory(engine)() as s:
        row = (
            await s.execute(
                select(Institution.id, Institution.code)
                .join(Application, Application.institution_id == Institution.id)
                .group_by(Institution.id, Institution.code)
                .order_by(func.count().desc(), Institution.code)
                .limit(1)
            )
        ).one()
    return row.id, row.code


async def signed_in(
    engine: AsyncEngine,
    settings: Settings,
    role: Role,
    institution_id: uuid.UUID | None,
    *,
    name: str | None = None,
) -> str:
    """A new user holding one role, signed in: its access token."""
    async with session_factory(engine)() as s, s.begin():
        user = await people.new_user(
            s,
            settings.keys(),
            email=f"bench-{role.value}@example.test",
            display_name=name or role.value,
            status=UserStatus.ACTIVE,
        )
        auth_session = AuthSession(user_id=user.id)
        s.add(Membership(user_id=user.id, institution_id=institution_id, role=role))
        s.add(auth_session)
        await s.flush()
    return mint_token(
        settings.signing_key(),
        subject=str(user.id),
        type="access",
        now=utcnow(),
        ttl=3600,
        session_id=auth_session.id,
    )


class Timed(Protocol):
    samples: list[float]  # wall-clock ms
    cpu: list[float]  # this process's CPU ms


def summary(samples: Sequence[float], cpu: Sequence[float] | None = None) -> str:
    p90 = statistics.quantiles(samples, n=10)[-1]
    line = f"{statistics.median(samples):7.2f} ms {p90:7.2f} ms"
    return line if cpu is None else f"{line} {statistics.median(cpu):7.2f} ms"


def overhead(slower: Timed, floor: Timed) -> str:
    """Difference and ratio of wall medians, median of the differences within a round, CPU."""
    a, b = statistics.median(slower.samples), statistics.median(floor.samples)
    paired = statistics.median(s - f for s, f in zip(slower.samples, floor.samples, strict=True))
    cpu = statistics.median(slower.cpu) - statistics.median(floor.cpu)
    return (
        f"{a - b:7.2f} ms  {a / b:5.2f}x (medians)   "
        f"paired per round {paired:6.2f} ms   cpu {cpu:6.2f} ms"
    )


class UnguardedSchema(api.schema.LendGraphSchema):
    """The schema build_schema makes, converted from fields stripped of FieldAccess.

    Strawberry chains a field's extensions into its resolver while converting the field,
    so dropping them from a schema already built changes nothing. ``get_fields`` is what
    conversion reads every type's fields through (specialised connections included); the
    copies leave the shared type definitions, and so the normal app, untouched.
    """

    def get_fields(self, type_definition: StrawberryObjectDefinition) -> list[StrawberryField]:
        fields = []
        for guarded in super().get_fields(type_definition):
            kept = [e for e in guarded.extensions if not isinstance(e, FieldAccess)]
            if len(kept) == len(guarded.extensions):
                fields.append(guarded)
                continue
            stripped = copy.copy(guarded)
            stripped.extensions = kept
            fields.append(stripped)
        return fields


def guarded_fields(schema: api.schema.LendGraphSchema) -> int:
    """How many fields of the built schema carry FieldAccess."""
    count = 0
    for graphql_type in schema._schema.type_map.values():
        for graphql_field in getattr(graphql_type, "fields", {}).values():
            definition = (graphql_field.extensions or {}).get("strawberry-definition")
            extensions = getattr(definition, "extensions", None) or ()
            count += any(isinstance(e, FieldAccess) for e in extensions)
    return count


def unguarded_app(settings: Settings, engine: AsyncEngine) -> Starlette:
    app = create_app(settings, engine=engine)
    # build_schema itself, so extensions and config stay those of the normal app.
    with mock.patch.object(api.schema, "LendGraphSchema", UnguardedSchema):
        schema = api.schema.build_schema(settings)
    assert isinstance(schema, UnguardedSchema)
    assert guarded_fields(schema) == 0, "FieldAccess survived the rebuild"
    app.state.view.schema = schema
    view = app.state.view
    # The compiled read path was made for the guarded schema: this app is the reference
    # executor without field access, nothing else.
    view.compiled = None
    contextualise = view.get_context

    async def get_context(request: Any, response: Any) -> Any:
        # Without field access nothing is disclosed: skip the page's prefetch of
        # data keys and consents too, so "off" costs what serving stored values costs.
        context = await contextualise(request, response)

        async def nothing(subject_ids: Any, **_: Any) -> None:
            return None

        context.disclosure.prefetch = nothing
        return context

    view.get_context = get_context
    return app


YARDSTICK_ROWS = 10_000_000


async def yardstick(engine: AsyncEngine, *, repeat: int = 5) -> float | None:
    """Median milliseconds PostgreSQL takes to count 10,000,000 generated rows (JIT off,
    one process): how fast this machine's database is, so figures taken on different
    machines compare as multiples of it. None on SQLite."""
    if engine.dialect.name != "postgresql":
        return None
    query = text("SELECT count(*) FROM generate_series(1, :n)").bindparams(n=YARDSTICK_ROWS)
    samples = []
    async with engine.connect() as conn:
        await conn.execute(text("SET max_parallel_workers_per_gather = 0"))
        for _ in range(repeat):
            started = time.perf_counter()
            await conn.execute(query)
            samples.append((time.perf_counter() - started) * 1000)
        await conn.rollback()
    return statistics.median(samples)
