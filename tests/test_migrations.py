"""Alembic is the one way the schema changes: the migrations must build the models."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import make_url, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from domain.audit.models import AuditEntry
from domain.contracts.models import LoanTermination
from domain.contracts.termination import open_reason
from domain.enterprises.service import id_number_index
from domain.identity import people
from domain.identity.models import UserStatus
from domain.models import Base, Enterprise, OutboxMessage, User
from domain.workout.models import WorkoutCase, WorkoutState, WorkoutStrategy
from kernel.db import create_engine, session_factory
from migrations.runner import current_revision, downgrade, head_revision, upgrade
from privacy import keystore, vault
from tests import factories as f

ACTIVE = UserStatus.ACTIVE
REASON = "Two instalments missed; the owner Zhang Wei is in hospital"


@asynccontextmanager
async def throwaway_database(database_url: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An empty database beside the suite's: a SQLite file, or a PostgreSQL database."""
    if not database_url.startswith("postgresql"):
        engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
        try:
            yield engine
        finally:
            await engine.dispose()
        return
    server = make_url(database_url)
    name = f"{server.database}_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(server, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(server.set(database=name).render_as_string(hide_password=False))
    try:
        yield engine
    finally:
        await engine.dispose()
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE "{name}"'))
        await admin.dispose()


def _differences(connection: Connection) -> list[Any]:
    dialect = connection.dialect.name

    def built_here(obj: Any, name: str | None, *_: Any) -> bool:
        # procrastinate's tables are its schema's (migration 0018), not our models'.
        if name is not None and name.startswith("procrastinate_"):
            return False
        # A model's object made only on another database (``ddl_if``) is not missing here.
        condition = getattr(obj, "_ddl_if", None)
        return condition is None or condition.dialect in (None, dialect)

    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "compare_server_default": True,
            "include_object": built_here,
        },
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


async def test_revisions_0003_and_0005_seal_personal_values_written_before_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a database at 0002 holding plaintext personal values
    for name, value in f.KEYS.env_values().items():
        monkeypatch.setenv(f"LENDGRAPH_{name.upper()}", value)
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    await upgrade(engine, "0002")
    user_id, enterprise_id = uuid.uuid4(), uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO users (id, email, display_name, status, created_at) "
                "VALUES (:id, 'old@example.test', 'Old Timer', 'active', '2026-01-01 00:00:00')"
            ),
            {"id": user_id.hex},
        )
        await conn.execute(
            text(
                "INSERT INTO enterprises (id, unified_social_credit_code, name, industry, region,"
                " founded_on, employee_count, contact_phone, legal_representative_id_number,"
                " created_at, updated_at) VALUES (:id, '91330100000000001X', 'Old Co', 'retail',"
                " 'Zhejiang', '2010-01-01', 3, '13900001111', '110101199003071234',"
                " '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            ),
            {"id": enterprise_id.hex},
        )
        await conn.execute(
            text(
                "INSERT INTO outbox (id, recipient, subject, body, created_at) VALUES (:id,"
                " 'old@example.test', 'Confirm', 'Your token: abc123', '2026-01-01 00:00:00')"
            ),
            {"id": uuid.uuid4().hex},
        )

    # when
    await upgrade(engine)

    # then
    async with session_factory(engine)() as session:
        user = await people.find_by_email(session, f.KEYS, "old@example.test")
        assert user is not None
        assert await people.opened(session, f.KEYS, user) == {
            "email": "old@example.test",
            "display_name": "Old Timer",
        }
        found = (
            await session.scalars(
                select(Enterprise).where(
                    Enterprise.legal_representative_id_bidx
                    == id_number_index(f.KEYS, "110101199003071234")
                )
            )
        ).one()
        key = (await keystore.unwrap_many(session, f.KEYS, [found.id]))[found.id]
        mail = (await session.scalars(select(OutboxMessage))).all()
        opened_mail = await people.read_mail(session, f.KEYS, list(mail))
    assert opened_mail == [("old@example.test", "Your token: abc123")]
    assert mail[0].recipient.startswith("v1.")
    assert key is not None
    assert found.contact_phone is not None
    assert found.contact_phone.startswith("v1.")
    assert (
        vault.unseal(
            key, found.contact_phone, table="enterprises", column="contact_phone", row_id=found.id
        )
        == "13900001111"
    )
    await engine.dispose()


async def test_revision_0016_seals_the_totp_secrets_written_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    # given: a database at 0015 (a throwaway one of the same kind as the suite's) with a
    # plaintext secret, and one of a person erased since
    for name, value in f.KEYS.env_values().items():
        monkeypatch.setenv(f"LENDGRAPH_{name.upper()}", value)
    async with throwaway_database(database_url, tmp_path) as engine:
        await upgrade(engine, "0015")
        async with session_factory(engine)() as session, session.begin():
            kept = await people.new_user(
                session, f.KEYS, email="totp@example.test", display_name="T", status=ACTIVE
            )
            erased = await people.new_user(
                session, f.KEYS, email="gone@example.test", display_name="G", status=ACTIVE
            )
            kept.mfa_secret, erased.mfa_secret = "JBSWY3DPEHPK3PXP", "KRSXG5CTMVRXEZLU"
            kept.mfa_enrolled_at = erased.mfa_enrolled_at = f.FIXED_NOW
            await session.flush()
            await keystore.shred(session, erased.id, now=f.FIXED_NOW)

        # when
        await upgrade(engine)

        # then
        async with session_factory(engine)() as session:
            kept = await session.get_one(User, kept.id)
            erased = await session.get_one(User, erased.id)
            assert kept.mfa_secret is not None
            assert kept.mfa_secret.startswith("v1.")
            assert await people.mfa_secret(session, f.KEYS, kept) == "JBSWY3DPEHPK3PXP"
            assert (erased.mfa_secret, erased.mfa_enrolled_at) == (None, None)

        # and back: the previous revision reads plaintext again
        await downgrade(engine, "0015")
        async with engine.connect() as conn:
            plain = await conn.scalar(
                text("SELECT mfa_secret FROM users WHERE mfa_secret IS NOT NULL")
            )
        assert plain == "JBSWY3DPEHPK3PXP"


async def test_the_lending_and_scoring_revisions_downgrade_and_upgrade_again(
    tmp_path: Path,
) -> None:
    # given: a fresh database at head
    eng = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'roundtrip.db'}")
    try:
        await upgrade(eng)

        async def rules() -> int:
            async with eng.connect() as conn:
                return int(await conn.scalar(text("SELECT count(*) FROM authz_rules")) or 0)

        at_head = await rules()

        # when: back to before the lending lifecycle, then forward again
        await downgrade(eng, "0005")
        before = await rules()
        await upgrade(eng)

        # then: the rules those revisions added left and came back; the schema is whole
        assert before < at_head
        assert await rules() == at_head
        assert await current_revision(eng) == head_revision()
        async with eng.connect() as conn:
            assert await conn.run_sync(_differences) == []
    finally:
        await eng.dispose()


async def test_migrating_a_live_sqlite_database_keeps_the_rows_that_reference_rebuilt_tables(
    tmp_path: Path,
) -> None:
    # given: a booked loan, its schedule and a repayment, at head
    eng = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'live.db'}")
    try:
        await upgrade(eng)
        async with session_factory(eng)() as s, s.begin():
            bank = await f.institution(s)
            product = await f.product(s, institution_id=bank.id)
            firm = await f.enterprise(s)
            app = await f.application(s, enterprise_id=firm.id, product_row=product)
            await f.booked_loan(s, application_row=app, disbursed_on=date(2026, 1, 15))

        async def counts() -> tuple[int, int]:
            async with eng.connect() as conn:
                loans = await conn.scalar(text("SELECT count(*) FROM loans"))
                lines = await conn.scalar(text("SELECT count(*) FROM schedule_installments"))
                return int(loans or 0), int(lines or 0)

        booked = await counts()

        # when: down past the revisions that rebuild the loans table, and up again
        await downgrade(eng, "0006")
        down = await counts()
        await upgrade(eng)

        # then: SQLite's copy-and-drop took no referencing row with it
        assert booked == (1, 12)
        assert down == booked
        assert await counts() == booked
    finally:
        await eng.dispose()


async def test_revision_0037_seals_termination_reasons_and_dates_legal_costs_from_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    # given: a database at head with a loan's acceleration and a legal case whose costs
    # were charged once (and filed again without costs, later), taken down to 0035: the
    # reason in plaintext there, the charge's time in the audit log only
    for name, value in f.KEYS.env_values().items():
        monkeypatch.setenv(f"LENDGRAPH_{name.upper()}", value)
    charged_at = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
    async with throwaway_database(database_url, tmp_path) as engine:
        await upgrade(engine)
        async with session_factory(engine)() as s, s.begin():
            bank = await f.institution(s)
            product = await f.product(s, institution_id=bank.id)
            enterprise = await f.enterprise(s)
            application = await f.application(s, enterprise_id=enterprise.id, product_row=product)
            loan = await f.loan(s, application_row=application)
            termination_id = (await f.termination(s, loan, reason=REASON)).id
            key = (await keystore.unwrap_many(s, f.KEYS, [enterprise.id]))[enterprise.id]
            assert key is not None
            case = WorkoutCase(
                loan_id=loan.id,
                institution_id=bank.id,
                enterprise_id=enterprise.id,
                strategy=WorkoutStrategy.LEGAL_ACTION,
                state=WorkoutState.IN_PROGRESS,
                due_on=date(2026, 12, 31),
                legal_costs=Decimal("350.00"),
            )
            s.add(case)
            await s.flush()
            for at, costs in ((charged_at, "350.00"), (charged_at + timedelta(days=2), "0.00")):
                s.add(
                    AuditEntry(
                        at=at,
                        action="workout_case.legal_action",
                        entity_type="WorkoutCase",
                        entity_id=str(case.id),
                        detail={"costs": costs},
                    )
                )
        await downgrade(engine, "0035")
        async with engine.connect() as conn:
            plain = await conn.scalar(text("SELECT reason FROM loan_terminations"))
        assert plain == REASON

        # when
        await upgrade(engine)

        # then: the reason is sealed under the enterprise's key again, bound to its row,
        # and the case's costs were charged when the log says they were
        async with session_factory(engine)() as s:
            row = await s.get_one(LoanTermination, termination_id)
            kept = await s.get_one(WorkoutCase, case.id)
        assert row.reason is not None
        assert row.reason.startswith("v1.")
        assert row.enterprise_id == enterprise.id
        assert open_reason(key, row.reason, row_id=termination_id) == REASON
        assert kept.legal_costs_charged_at == charged_at
