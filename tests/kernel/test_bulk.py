"""Bulk writes (COPY on PostgreSQL) read back exactly as ORM writes do."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.audit.models import AuditEntry
from domain.risk.models import (
    AlertActionKind,
    AlertSeverity,
    AlertStatus,
    RiskAlert,
    RiskAlertAction,
)
from kernel import bulk
from kernel.base import new_id

AT = datetime(2026, 11, 26, 9, 30, 15, 123456, tzinfo=UTC)


async def test_rows_written_in_bulk_read_back_through_the_orm(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ids = [new_id() for _ in range(3)]
    rows = [
        {
            "id": entry_id,
            "at": AT,
            "actor_id": None,
            "action": "bulk.test",
            "entity_type": "Thing",
            "entity_id": f"thing-{k}",
            "detail": {"k": k, "nested": {"ok": True}, "text": "naïve ✓"},
            "request_id": None,
        }
        for k, entry_id in enumerate(ids)
    ]
    async with sessions() as session, session.begin():
        await bulk.insert_rows(session, AuditEntry, rows)
    async with sessions() as session:
        got = (await session.scalars(select(AuditEntry).where(AuditEntry.id.in_(ids)))).all()
    assert sorted((e.entity_id, e.detail["k"]) for e in got) == [
        ("thing-0", 0),
        ("thing-1", 1),
        ("thing-2", 2),
    ]
    assert all(e.at == AT for e in got)
    assert got[0].detail["nested"] == {"ok": True}
    assert got[0].detail["text"] == "naïve ✓"


async def test_enum_and_json_columns_are_stored_as_the_orm_stores_them(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    alert_id = new_id()
    alert = {
        "id": alert_id,
        "rule_code": "bulk-test",
        "severity": AlertSeverity.HIGH,
        "status": AlertStatus.OPEN,
        "title": "A bulk alert",
        "detail": "written by COPY on PostgreSQL",
        "indicators": {"pd": 0.25, "grade": None},
        "opened_at": AT,
        "escalations": 0,
        "version": 1,
    }
    action = {
        "id": new_id(),
        "alert_id": alert_id,
        "kind": AlertActionKind.RAISE,
        "to_status": AlertStatus.OPEN,
        "note": "bulk",
        "at": AT,
    }
    async with sessions() as session, session.begin():
        await bulk.insert_rows(session, RiskAlert, [alert])
        await bulk.insert_rows(session, RiskAlertAction, [action])
    async with sessions() as session:
        stored = await session.get(RiskAlert, alert_id)
        step = await session.scalar(
            select(RiskAlertAction).where(RiskAlertAction.alert_id == alert_id)
        )
    assert stored is not None
    assert (stored.severity, stored.status) == (AlertSeverity.HIGH, AlertStatus.OPEN)
    assert stored.indicators == {"pd": 0.25, "grade": None}
    assert stored.opened_at == AT
    assert step is not None
    assert step.kind is AlertActionKind.RAISE


async def test_rows_missing_a_required_column_are_refused_before_writing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        with pytest.raises(ValueError, match="lack"):
            await bulk.insert_rows(
                session,
                AuditEntry,
                [{"action": "x", "entity_type": "T", "entity_id": "1"}],
            )
