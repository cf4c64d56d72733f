"""Key management: providers that never export a master key, separate hash keys, an
online re-index under a new blind-index key, and data keys replaced online."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.contracts import termination
from domain.contracts.models import LoanTermination
from domain.enterprises import service as enterprise_service
from domain.identity import people
from domain.identity.models import SEALED_LENGTH, OutboxMessage, User
from domain.models import Base, Enterprise
from domain.privacy import rekey
from domain.workout.models import (
    CollectionContact,
    ContactChannel,
    ContactOutcome,
    WorkoutCase,
    WorkoutState,
    WorkoutStrategy,
)
from privacy import keystore, masking, vault
from privacy.keys import HashKeys, KeyConfigurationError, StaticKeys, load_file, parse_env
from privacy.models import DataKey
from tests import factories as f


def _with_new_index_version(keys: StaticKeys) -> StaticKeys:
    hashing = keys.hashing
    return keys.with_hash_keys(HashKeys(hashing.blind_index.with_new_current(), hashing.masking))


def test_a_provider_hands_out_no_master_key_and_binds_each_wrap_to_its_subject() -> None:
    # given
    subject, other = uuid.uuid4(), uuid.uuid4()
    data_key = vault.new_data_key()

    # when
    kid, wrapped = vault.wrap(f.KEYS, data_key, subject_id=subject)

    # then
    assert not hasattr(f.KEYS, "master_key")
    assert vault.unwrap(f.KEYS, kid, wrapped, subject_id=subject) == data_key
    with pytest.raises(vault.SealBroken):
        vault.unwrap(f.KEYS, kid, wrapped, subject_id=other)
    with pytest.raises(KeyConfigurationError):
        vault.unwrap(f.KEYS, "retired-1", wrapped, subject_id=subject)


def test_the_masking_hash_and_the_blind_index_use_separate_keys() -> None:
    # given: the same value, labelled alike, under each key
    value, label = "13812345678", "Enterprise.contactPhone"

    # when
    digest = masking.keyed_hash(f.KEYS, value, object=label)
    other_masking = f.KEYS.with_hash_keys(
        HashKeys(f.KEYS.hashing.blind_index, bytes(range(100, 132)))
    )

    # then
    assert f.KEYS.hashing.masking != f.KEYS.hashing.blind_index.key
    assert masking.keyed_hash(other_masking, value, object=label) != digest
    assert vault.blind_index(other_masking, value, column=label) == vault.blind_index(
        f.KEYS, value, column=label
    )


def test_environment_keys_take_versions_and_a_masking_key_of_their_own() -> None:
    # given
    values = _with_new_index_version(f.KEYS).env_values()

    # when
    keys = parse_env(values["master_keys"], values["blind_index_key"], values["masking_key"])

    # then
    assert keys.hashing.blind_index.current != f.KEYS.hashing.blind_index.current
    assert len(keys.hashing.blind_index.live()) == 2
    assert keys.hashing.masking == f.KEYS.hashing.masking


def test_every_column_sized_for_a_sealed_value_is_declared_for_data_key_replacement() -> None:
    # given
    declared = {(s.table, c) for s in rekey.SEALED for c in s.columns}

    # when
    sized = {
        (table.name, column.name)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, String) and column.type.length == SEALED_LENGTH
    }

    # then
    assert sized <= declared


async def test_a_reindex_moves_every_blind_index_online_and_lookups_never_miss(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given: a person and an enterprise indexed under the first key
    async with sessions() as session, session.begin():
        person = await f.user(session, email="reindex@example.test")
        firm = await f.enterprise(session)
    rotated = _with_new_index_version(f.KEYS)
    id_number = f.PERSONAL["legal_representative_id_number"]

    # when: found under both versions before and during the re-index
    async with sessions() as session:
        before = await people.find_by_email(session, rotated, "reindex@example.test")
    seen: list[tuple[int, int]] = []

    async def progress(done: int, total: int) -> None:
        seen.append((done, total))

    result = await rekey.reindex(sessions, rotated, progress=progress, batch=1)

    # then: every row under the new key; the old key alone finds nothing any more
    retired = rotated.with_hash_keys(
        HashKeys(rotated.hashing.blind_index.only_current(), rotated.hashing.masking)
    )
    async with sessions() as session:
        after = await people.find_by_email(session, retired, "reindex@example.test")
        stale = await people.find_by_email(session, f.KEYS, "reindex@example.test")
        indexed = await session.scalar(
            select(Enterprise.legal_representative_id_bidx).where(Enterprise.id == firm.id)
        )
    assert before is not None
    assert before.id == person.id
    assert after is not None
    assert after.id == person.id
    assert stale is None
    assert indexed in enterprise_service.id_number_indexes(retired, id_number)
    assert result["changed"] == 2
    assert seen[-1] == (2, 2)


async def test_replacing_data_keys_reseals_reasons_and_collection_notes_with_the_enterprise(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given: a loan's acceleration and a collection contact on its case, the reason and
    # the note sealed under the enterprise's key, each bound to its own row
    reason, note = "the owner Zhang Wei is in hospital", "his wife answered: call on Monday"
    async with sessions() as session, session.begin():
        bank = await f.institution(session)
        product = await f.product(session, institution_id=bank.id)
        firm = await f.enterprise(session)
        application = await f.application(session, enterprise_id=firm.id, product_row=product)
        loan = await f.loan(session, application_row=application)
        row_id = (await f.termination(session, loan, reason=reason)).id
        case = WorkoutCase(
            loan_id=loan.id,
            institution_id=bank.id,
            enterprise_id=firm.id,
            strategy=WorkoutStrategy.COLLECTION,
            state=WorkoutState.OPEN,
            due_on=f.FIXED_NOW.date(),
        )
        session.add(case)
        await session.flush()
        old_key = (await keystore.unwrap_many(session, f.KEYS, [firm.id]))[firm.id]
        assert old_key is not None
        contact_id = uuid.uuid4()
        session.add(
            CollectionContact(
                id=contact_id,
                case_id=case.id,
                institution_id=bank.id,
                enterprise_id=firm.id,
                channel=ContactChannel.PHONE,
                outcome=ContactOutcome.PROMISED,
                note=vault.seal(
                    old_key, note, table="collection_contacts", column="note", row_id=contact_id
                ),
            )
        )

    # when
    await rekey.replace_data_keys(sessions, f.KEYS, batch=1)

    # then: both open under the enterprise's new key
    async with sessions() as session:
        row = await session.get_one(LoanTermination, row_id)
        contact = await session.get_one(CollectionContact, contact_id)
        key = (await keystore.unwrap_many(session, f.KEYS, [firm.id]))[firm.id]
    assert key is not None
    assert row.reason is not None
    assert contact.note is not None
    assert termination.open_reason(key, row.reason, row_id=row_id) == reason
    opened = vault.unseal(
        key, contact.note, table="collection_contacts", column="note", row_id=contact_id
    )
    assert opened == note


async def test_replacing_data_keys_reseals_every_value_under_a_fresh_key(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given: an enterprise and a person with mail waiting, under their first data keys
    async with sessions() as session, session.begin():
        person = await f.user(session, email="rekey@example.test")
        await people.send_mail(
            session, f.KEYS, person, to="rekey@example.test", subject="Hello", body="token 123"
        )
        firm = await f.enterprise(session)
    async with sessions() as session:
        first = {
            row.subject_id: row.wrapped for row in (await session.scalars(select(DataKey))).all()
        }
        old_keys = await keystore.unwrap_many(session, f.KEYS, [person.id, firm.id])

    # when
    result = await rekey.replace_data_keys(sessions, f.KEYS, batch=1)

    # then: new wrapped keys, the same values, and the old keys open nothing any more
    async with sessions() as session:
        now = {
            row.subject_id: row.wrapped for row in (await session.scalars(select(DataKey))).all()
        }
        user_row = await session.get(User, person.id)
        firm_row = await session.get(Enterprise, firm.id)
        mail = (await session.scalars(select(OutboxMessage))).one()
        opened = await people.opened(session, f.KEYS, user_row) if user_row else {}
        new_keys = await keystore.unwrap_many(session, f.KEYS, [person.id, firm.id])
    assert result["replaced"] == 2
    assert all(now[s] != first[s] for s in first)
    assert opened["email"] == "rekey@example.test"
    assert firm_row is not None
    new_firm_key, old_firm_key = new_keys[firm.id], old_keys[firm.id]
    assert new_firm_key is not None
    assert old_firm_key is not None
    assert new_firm_key != old_firm_key
    sealed_phone = firm_row.contact_phone
    assert sealed_phone is not None
    phone = vault.unseal(
        new_firm_key, sealed_phone, table="enterprises", column="contact_phone", row_id=firm.id
    )
    assert phone == f.PERSONAL["contact_phone"]
    with pytest.raises(vault.SealBroken):
        vault.unseal(
            old_firm_key, sealed_phone, table="enterprises", column="contact_phone", row_id=firm.id
        )
    person_key = new_keys[person.id]
    assert person_key is not None
    assert (
        vault.unseal(person_key, mail.body, table="outbox", column="body", row_id=mail.id)
        == "token 123"
    )


def test_a_key_file_from_before_versions_still_loads(tmp_path: Path) -> None:
    # given: the layout of the key file before the hash keys were split
    legacy = tmp_path / "keys.json"
    legacy.write_text(
        json.dumps(
            {
                "current": "k1",
                "master_keys": {"k1": f.TEST_MASTER_KEYS.split(":")[1]},
                "blind_index_key": f.TEST_BLIND_INDEX_KEY,
            }
        )
    )

    # when
    keys = load_file(legacy)

    # then: the same blind indexes as before, and a masking key of its own
    assert keys.hashing.blind_index.key == f.KEYS.hashing.blind_index.key
    assert keys.hashing.masking == f.KEYS.hashing.masking
    assert keys.hashing.masking != keys.hashing.blind_index.key
