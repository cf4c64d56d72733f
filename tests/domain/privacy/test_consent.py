"""The consent ledger: owner-only records, active consent, and a chain that shows tampering."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, event, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.identity.models import Role
from domain.identity.viewer import Viewer
from domain.models import AuditEntry, Enterprise, Institution
from domain.privacy import consent
from domain.privacy.models import ConsentRecord
from kernel.errors import Conflict, Forbidden, NotFound
from tests import factories as f
from tests.tampering import bypass_append_only

NOW = f.FIXED_NOW
DAY = timedelta(days=1)


async def _owned(
    sessions: async_sessionmaker[AsyncSession],
) -> tuple[Viewer, Enterprise, Institution, Institution]:
    """An owner (as a viewer), its enterprise, and two banks."""
    async with sessions() as s, s.begin():
        owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
        enterprise = await f.enterprise(s, owner_id=owner.id)
        bank = await f.institution(s)
        other_bank = await f.institution(s)
    return Viewer(user_id=owner.id), enterprise, bank, other_bank


async def _grant(
    session: AsyncSession,
    viewer: Viewer,
    subject_id: uuid.UUID,
    purpose: str = "credit_assessment",
    recipient: uuid.UUID | None = None,
    *,
    expires_at: datetime | None = None,
    now: datetime = NOW,
) -> ConsentRecord:
    return await consent.grant(
        session,
        viewer=viewer,
        subject_id=subject_id,
        purpose=purpose,
        recipient_institution_id=recipient,
        expires_at=expires_at,
        text_version="v1",
        channel="web",
        now=now,
    )


async def _withdraw(
    session: AsyncSession,
    viewer: Viewer,
    subject_id: uuid.UUID,
    purpose: str = "credit_assessment",
    recipient: uuid.UUID | None = None,
    *,
    now: datetime = NOW,
) -> ConsentRecord:
    return await consent.withdraw(
        session,
        viewer=viewer,
        subject_id=subject_id,
        purpose=purpose,
        recipient_institution_id=recipient,
        channel="web",
        now=now,
    )


async def test_a_grant_then_a_withdrawal_are_chained_records_and_audited(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given
    owner, enterprise, bank, _ = await _owned(sessions)

    # when
    async with sessions() as s, s.begin():
        granted = await _grant(s, owner, enterprise.id, recipient=bank.id, expires_at=NOW + DAY)
        withdrawn = await _withdraw(s, owner, enterprise.id, recipient=bank.id, now=NOW + DAY / 2)

    # then
    async with sessions() as s:
        rows = (await s.scalars(select(ConsentRecord).order_by(ConsentRecord.id))).all()
        audit = (
            await s.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.entity_type == "consent")
                .order_by(AuditEntry.id)
            )
        ).all()
    assert [(r.id, r.action) for r in rows] == [(granted.id, "grant"), (withdrawn.id, "withdraw")]
    first, second = rows
    assert (first.recipient_institution_id, first.expires_at) == (bank.id, NOW + DAY)
    assert (first.actor_id, first.channel, first.text_version) == (owner.user_id, "web", "v1")
    assert first.previous_hash is None
    assert second.previous_hash == first.hash
    assert second.text_version == "v1"  # the text the withdrawal answers
    assert first.hash == consent.hash_of(first)
    assert second.hash == consent.hash_of(second)
    assert audit == ["consent.granted", "consent.withdrawn"]


def test_the_hash_covers_every_content_field_and_the_predecessor() -> None:
    # given
    fields: dict[str, Any] = {
        "subject_id": uuid.UUID(int=1),
        "purpose": "marketing",
        "recipient_institution_id": None,
        "action": "grant",
        "expires_at": None,
        "actor_id": uuid.UUID(int=2),
        "channel": "web",
        "text_version": "v1",
        "recorded_at": NOW,
        "previous_hash": None,
    }
    changed: dict[str, Any] = {
        "subject_id": uuid.UUID(int=3),
        "purpose": "loan_servicing",
        "recipient_institution_id": uuid.UUID(int=4),
        "action": "withdraw",
        "expires_at": NOW + DAY,
        "actor_id": None,
        "channel": "branch",
        "text_version": "v2",
        "recorded_at": NOW + timedelta(microseconds=1),
        "previous_hash": "0" * 64,
    }

    # when
    base = consent.record_hash(**fields)
    variants = {
        name: consent.record_hash(**{**fields, name: value}) for name, value in changed.items()
    }

    # then
    assert len(base) == 64
    assert base == consent.record_hash(**fields)
    assert [name for name, h in variants.items() if h == base] == []
    assert len(set(variants.values())) == len(variants)


async def test_only_the_owner_records_consent(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given: another owner, and a loan officer of a bank the enterprise applied to
    owner, enterprise, bank, _ = await _owned(sessions)
    async with sessions() as s, s.begin():
        product = await f.product(s, institution_id=bank.id)
        await f.application(s, enterprise_id=enterprise.id, product_row=product)
        stranger = await f.user(s, roles=[(Role.SME_OWNER, None)])
        officer = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
    stranger_viewer = Viewer(user_id=stranger.id)
    officer_viewer = Viewer(
        user_id=officer.id, institution_roles={bank.id: frozenset({Role.LOAN_OFFICER})}
    )

    # when / then
    async with sessions() as s, s.begin():
        with pytest.raises(NotFound):
            await _grant(s, stranger_viewer, enterprise.id)
        with pytest.raises(NotFound):
            await _grant(s, owner, uuid.uuid4())
        with pytest.raises(Forbidden):
            await _grant(s, officer_viewer, enterprise.id)
        await _grant(s, owner, enterprise.id)
        with pytest.raises(NotFound):
            await _withdraw(s, stranger_viewer, enterprise.id)
        with pytest.raises(Forbidden):
            await _withdraw(s, officer_viewer, enterprise.id)
    async with sessions() as s:
        actors = (await s.scalars(select(ConsentRecord.actor_id))).all()
    assert actors == [owner.user_id]


@pytest.mark.parametrize(
    ("case", "field"),
    [
        ("unknown purpose", "purpose"),
        ("purpose not consentable", "purpose"),
        ("unknown institution", "recipientInstitutionId"),
        ("expired already", "expiresAt"),
        ("expires now", "expiresAt"),
        ("naive expiry", "expiresAt"),
        ("empty text version", "textVersion"),
        ("long channel", "channel"),
    ],
)
async def test_bad_grants_are_refused_naming_the_field(
    sessions: async_sessionmaker[AsyncSession], case: str, field: str
) -> None:
    # given
    owner, enterprise, _, _ = await _owned(sessions)
    kwargs: dict[str, Any] = {
        "viewer": owner,
        "subject_id": enterprise.id,
        "purpose": "marketing",
        "recipient_institution_id": None,
        "expires_at": None,
        "text_version": "v1",
        "channel": "web",
        "now": NOW,
    }
    kwargs.update(
        {
            "unknown purpose": {"purpose": "gossip"},
            "purpose not consentable": {"purpose": "oversight"},
            "unknown institution": {"recipient_institution_id": uuid.uuid4()},
            "expired already": {"expires_at": NOW - DAY},
            "expires now": {"expires_at": NOW},
            "naive expiry": {"expires_at": (NOW + DAY).replace(tzinfo=None)},
            "empty text version": {"text_version": " "},
            "long channel": {"channel": "x" * 17},
        }[case]
    )

    # when
    async with sessions() as s, s.begin():
        with pytest.raises(consent.InvalidConsent) as raised:
            await consent.grant(s, **kwargs)

    # then
    assert raised.value.field == field
    assert raised.value.code == "BAD_USER_INPUT"
    async with sessions() as s:
        assert (await s.scalars(select(ConsentRecord))).all() == []


async def test_withdrawing_needs_an_active_grant_for_that_purpose_and_recipient(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given: marketing to any institution (until tomorrow), credit assessment by one bank
    owner, enterprise, bank, other_bank = await _owned(sessions)
    async with sessions() as s, s.begin():
        await _grant(s, owner, enterprise.id, "marketing", expires_at=NOW + DAY)
        await _grant(s, owner, enterprise.id, "credit_assessment", bank.id)

    # when / then
    refused = []
    for purpose, recipient, now in [
        ("credit_assessment", other_bank.id, NOW),  # another recipient
        ("credit_assessment", None, NOW),  # "any" is its own recipient
        ("loan_servicing", bank.id, NOW),  # another purpose
        ("marketing", None, NOW + 2 * DAY),  # expired
    ]:
        async with sessions() as s, s.begin():
            with pytest.raises(consent.InvalidConsent) as raised:
                await _withdraw(s, owner, enterprise.id, purpose, recipient, now=now)
            refused.append(raised.value.field)
    async with sessions() as s, s.begin():
        await _withdraw(s, owner, enterprise.id, "credit_assessment", bank.id)
    async with sessions() as s, s.begin():
        with pytest.raises(consent.InvalidConsent):  # withdrawn already
            await _withdraw(s, owner, enterprise.id, "credit_assessment", bank.id)
    assert refused == ["purpose"] * 4
    async with sessions() as s:
        actions = (await s.scalars(select(ConsentRecord.action).order_by(ConsentRecord.id))).all()
    assert actions == ["grant", "grant", "withdraw"]


async def test_consented_is_the_latest_unexpired_grant_per_purpose_and_recipient(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given
    owner, enterprise, bank, other_bank = await _owned(sessions)
    async with sessions() as s, s.begin():
        quiet = await f.enterprise(s, owner_id=owner.user_id)
        # credit assessment: bank (withdrawn, then granted again), other bank until day 10
        await _grant(s, owner, enterprise.id, "credit_assessment", bank.id)
        await _withdraw(s, owner, enterprise.id, "credit_assessment", bank.id, now=NOW + DAY)
        # marketing: any institution, until day 5
        await _grant(s, owner, enterprise.id, "marketing", expires_at=NOW + 5 * DAY)
        await _grant(
            s, owner, enterprise.id, "credit_assessment", other_bank.id, expires_at=NOW + 10 * DAY
        )

    async def at(
        now: datetime, purpose: str = "credit_assessment"
    ) -> dict[uuid.UUID, frozenset[uuid.UUID | None]]:
        async with sessions() as s:
            return await consent.consented(
                s, subject_ids=[enterprise.id, quiet.id], purpose=purpose, now=now
            )

    # when
    after_withdrawal = await at(NOW + 2 * DAY)
    marketing_before_expiry = await at(NOW + 5 * DAY - timedelta(seconds=1), "marketing")
    marketing_at_expiry = await at(NOW + 5 * DAY, "marketing")
    async with sessions() as s, s.begin():
        await _grant(s, owner, enterprise.id, "credit_assessment", bank.id, now=NOW + 3 * DAY)
    regranted = await at(NOW + 3 * DAY)
    other_expired = await at(NOW + 10 * DAY)
    nothing_asked = await at(NOW, "loan_servicing")

    # then
    assert after_withdrawal == {enterprise.id: {other_bank.id}, quiet.id: frozenset()}
    assert marketing_before_expiry == {enterprise.id: {None}, quiet.id: frozenset()}
    assert marketing_at_expiry == {enterprise.id: frozenset(), quiet.id: frozenset()}
    assert regranted == {enterprise.id: {bank.id, other_bank.id}, quiet.id: frozenset()}
    assert other_expired == {enterprise.id: {bank.id}, quiet.id: frozenset()}
    assert nothing_asked == {enterprise.id: frozenset(), quiet.id: frozenset()}


async def test_consented_answers_many_subjects_in_one_statement(
    sessions: async_sessionmaker[AsyncSession], db: AsyncEngine
) -> None:
    # given: ten enterprises, the even ones consenting for any institution
    owner, _, _, _ = await _owned(sessions)
    async with sessions() as s, s.begin():
        subjects = [(await f.enterprise(s, owner_id=owner.user_id)).id for _ in range(10)]
        for subject in subjects[::2]:
            await _grant(s, owner, subject, "product_recommendation")
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(db.sync_engine, "before_cursor_execute", count)
    try:
        async with sessions() as s:
            found = await consent.consented(
                s, subject_ids=subjects, purpose="product_recommendation", now=NOW
            )
    finally:
        event.remove(db.sync_engine, "before_cursor_execute", count)

    # then
    assert len(statements) == 1
    assert {k for k, v in found.items() if v == {None}} == set(subjects[::2])
    assert {k for k, v in found.items() if v == frozenset()} == set(subjects[1::2])


async def test_history_shows_staff_only_their_institutions_records(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given
    owner, enterprise, bank, other_bank = await _owned(sessions)
    async with sessions() as s, s.begin():
        officer = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        stranger = await f.user(s, roles=[(Role.SME_OWNER, None)])
        mine = await _grant(s, owner, enterprise.id, "credit_assessment", bank.id)
        await _grant(s, owner, enterprise.id, "credit_assessment", other_bank.id)
        anyone = await _grant(s, owner, enterprise.id, "marketing")
    officer_viewer = Viewer(
        user_id=officer.id, institution_roles={bank.id: frozenset({Role.LOAN_OFFICER})}
    )
    auditor = Viewer(user_id=uuid.uuid4(), platform_roles=frozenset({Role.AUDITOR}))

    # when
    async with sessions() as s:
        seen = {
            name: [r.id for r in await consent.history(s, viewer=v, subject_id=enterprise.id)]
            for name, v in [
                ("owner", owner),
                ("officer", officer_viewer),
                ("stranger", Viewer(user_id=stranger.id)),
                ("anonymous", Viewer.anonymous()),
                ("auditor", auditor),
            ]
        }

    # then
    assert len(seen["owner"]) == 3
    assert seen["owner"] == sorted(seen["owner"])
    assert seen["officer"] == [mine.id, anyone.id]
    assert seen["stranger"] == []
    assert seen["anonymous"] == []
    assert seen["auditor"] == seen["owner"]


async def _ledger(
    sessions: async_sessionmaker[AsyncSession],
) -> tuple[list[ConsentRecord], list[ConsentRecord]]:
    """Two subjects' chains: four records for one, two for the other."""
    owner, enterprise, bank, _ = await _owned(sessions)
    async with sessions() as s, s.begin():
        other = await f.enterprise(s, owner_id=owner.user_id)
        first = [
            await _grant(s, owner, enterprise.id, "credit_assessment", bank.id),
            await _grant(s, owner, enterprise.id, "marketing"),
            await _withdraw(s, owner, enterprise.id, "credit_assessment", bank.id),
            await _grant(s, owner, enterprise.id, "loan_servicing", bank.id),
        ]
        second = [
            await _grant(s, owner, other.id, "marketing"),
            await _withdraw(s, owner, other.id, "marketing"),
        ]
    return first, second


async def test_an_intact_ledger_verifies(sessions: async_sessionmaker[AsyncSession]) -> None:
    # given
    first, second = await _ledger(sessions)

    # when
    async with sessions() as s:
        breaks = await consent.verify_chains(s)

    # then
    assert breaks == []
    assert [r.previous_hash for r in first[1:]] == [r.hash for r in first[:-1]]
    assert second[0].previous_hash is None
    assert second[1].previous_hash == second[0].hash


async def test_verification_reads_in_batches_across_subjects(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: batches of two, so chains straddle batch boundaries
    first, second = await _ledger(sessions)
    monkeypatch.setattr(consent, "VERIFY_BATCH", 2)
    async with sessions() as s, s.begin():
        await bypass_append_only(s)
        await s.execute(
            update(ConsentRecord).where(ConsentRecord.id == first[3].id).values(channel="forged")
        )

    # when
    async with sessions() as s:
        breaks = await consent.verify_chains(s)

    # then
    assert breaks == [break_at(first[3], consent.ALTERED)]
    assert second  # the other chain, read in the same batches, is intact


def break_at(row: ConsentRecord, reason: str) -> consent.ChainBreak:
    return consent.ChainBreak(subject_id=row.subject_id, record_id=row.id, reason=reason)


async def test_an_altered_record_is_named(
    sessions: async_sessionmaker[AsyncSession], db: AsyncEngine
) -> None:
    # given: someone with database access changes what was agreed to
    first, _ = await _ledger(sessions)
    async with db.begin() as conn:
        await bypass_append_only(conn)
        await conn.execute(
            update(ConsentRecord.__table__)
            .where(ConsentRecord.__table__.c.id == first[1].id)
            .values(purpose="credit_assessment")
        )

    # when
    async with sessions() as s:
        breaks = await consent.verify_chains(s)

    # then
    assert breaks == [break_at(first[1], consent.ALTERED)]


async def test_a_rehashed_alteration_breaks_the_link_to_the_next_record(
    sessions: async_sessionmaker[AsyncSession], db: AsyncEngine
) -> None:
    # given: the forger also recomputes the altered record's own hash
    first, _ = await _ledger(sessions)
    forged = consent.record_hash(
        subject_id=first[1].subject_id,
        purpose="credit_assessment",
        recipient_institution_id=first[1].recipient_institution_id,
        action=first[1].action,
        expires_at=first[1].expires_at,
        actor_id=first[1].actor_id,
        channel=first[1].channel,
        text_version=first[1].text_version,
        recorded_at=first[1].recorded_at,
        previous_hash=first[1].previous_hash,
    )
    async with db.begin() as conn:
        await bypass_append_only(conn)
        await conn.execute(
            update(ConsentRecord.__table__)
            .where(ConsentRecord.__table__.c.id == first[1].id)
            .values(purpose="credit_assessment", hash=forged)
        )

    # when
    async with sessions() as s:
        breaks = await consent.verify_chains(s)

    # then
    assert breaks == [break_at(first[2], consent.UNLINKED)]


@pytest.mark.parametrize(("removed", "named", "reason"), [(1, 2, "UNLINKED"), (0, 1, "ORPHANED")])
async def test_a_deleted_record_is_named_by_the_record_after_it(
    sessions: async_sessionmaker[AsyncSession],
    db: AsyncEngine,
    removed: int,
    named: int,
    reason: str,
) -> None:
    # given
    first, _ = await _ledger(sessions)
    async with db.begin() as conn:
        await bypass_append_only(conn)
        await conn.execute(
            delete(ConsentRecord.__table__).where(ConsentRecord.__table__.c.id == first[removed].id)
        )

    # when
    async with sessions() as s:
        breaks = await consent.verify_chains(s)

    # then
    assert breaks == [break_at(first[named], getattr(consent, reason))]


async def test_a_writer_that_read_a_stale_chain_head_gets_a_conflict(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a grant whose predecessor another writer has claimed meanwhile
    owner, enterprise, bank, _ = await _owned(sessions)
    async with sessions() as s, s.begin():
        claimed = await _grant(s, owner, enterprise.id, "marketing")
        await _grant(s, owner, enterprise.id, "credit_assessment", bank.id)

    async def stale_head(session: AsyncSession, subject_id: uuid.UUID) -> str | None:
        return claimed.hash

    # when
    async with sessions() as s, s.begin():
        with monkeypatch.context() as patched:
            patched.setattr(consent, "_chain_head", stale_head)
            with pytest.raises(Conflict) as raised:
                await _grant(s, owner, enterprise.id, "loan_servicing", bank.id)
        # the savepoint rolled back alone: the transaction carries on
        retried = await _grant(s, owner, enterprise.id, "loan_servicing", bank.id)

    # then
    assert raised.value.message == "the consent ledger moved; try again"
    async with sessions() as s:
        rows = (await s.scalars(select(ConsentRecord).order_by(ConsentRecord.id))).all()
        audited = (
            await s.scalars(select(AuditEntry.action).where(AuditEntry.entity_type == "consent"))
        ).all()
        breaks = await consent.verify_chains(s)
    assert [r.purpose for r in rows] == ["marketing", "credit_assessment", "loan_servicing"]
    assert rows[-1].id == retried.id
    assert len(audited) == 3
    assert breaks == []


@pytest.mark.postgres_only
async def test_concurrent_writers_of_one_subject_queue_and_the_chain_stays_whole(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given: a first writer holding its transaction open
    owner, enterprise, bank, _ = await _owned(sessions)
    first = sessions()
    await first.begin()
    await _grant(first, owner, enterprise.id, "marketing")

    async def second_writer() -> ConsentRecord:
        async with sessions() as s, s.begin():
            return await _grant(s, owner, enterprise.id, "credit_assessment", bank.id)

    # when: the second writer starts, waits on the first, which then commits
    second = asyncio.create_task(second_writer())
    await asyncio.sleep(0.3)
    waited = not second.done()
    await first.commit()
    await first.close()
    await second

    # then
    assert waited
    async with sessions() as s:
        rows = (await s.scalars(select(ConsentRecord).order_by(ConsentRecord.id))).all()
        breaks = await consent.verify_chains(s)
    assert [r.purpose for r in rows] == ["marketing", "credit_assessment"]
    assert rows[1].previous_hash == rows[0].hash
    assert breaks == []
