"""Rule codes: each owner's own, and never one code for a platform rule and a bank's."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.identity.models import Role
from domain.identity.viewer import Viewer
from domain.risk import service
from domain.risk.models import AlertSeverity, DisposalAction
from domain.risk.queries import RULE_CODE_LOCKS
from domain.risk.service import RuleDraft
from kernel.errors import InvalidInput
from tests import factories

PLATFORM = Viewer(platform_roles=frozenset({Role.PLATFORM_RISK_OFFICER}))


def draft(code: str, institution_id: uuid.UUID | None = None) -> RuleDraft:
    return RuleDraft(
        code,
        "Watch closely",
        "days_past_due > 10",
        AlertSeverity.MEDIUM,
        DisposalAction.MONITOR,
        institution_id=institution_id,
    )


async def try_lock(session: AsyncSession, code: str) -> bool:
    taken = await session.scalar(
        text("SELECT pg_try_advisory_xact_lock(:space, hashtext(:code))"),
        {"space": RULE_CODE_LOCKS, "code": code},
    )
    return bool(taken)


@pytest.mark.postgres_only
async def test_saving_a_rule_holds_its_code_until_the_transaction_ends(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given: a bank, and its risk officer
    async with sessions() as s, s.begin():
        bank = await factories.institution(s)
    officer = Viewer(institution_roles={bank.id: frozenset({Role.RISK_OFFICER})})

    # when: the platform saves "watch" and has not committed yet
    async with sessions() as first, first.begin():
        await service.upsert_rule(first, PLATFORM, draft("watch"))
        async with sessions() as second, second.begin():
            watch_free = await try_lock(second, "watch")
            other_free = await try_lock(second, "other")

    # then: nobody else could check "watch" meanwhile; once committed, the bank is refused
    assert (watch_free, other_free) == (False, True)
    async with sessions() as s, s.begin():
        with pytest.raises(InvalidInput, match="platform rule"):
            await service.upsert_rule(s, officer, draft("watch", bank.id))
