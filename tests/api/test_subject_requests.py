"""Data-subject requests end to end: identity check, deadline, status, completion by a
privacy officer, receipt; a person's own data exported, rectified and erased."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.identity import people
from domain.identity.models import OutboxMessage, User, UserStatus
from domain.identity.viewer import Viewer
from domain.lending.models import Loan, LoanStatus
from domain.models import Role
from domain.privacy import requests
from domain.privacy.models import SubjectRequest
from domain.settings import Settings
from kernel.base import utcnow
from kernel.db import session_factory
from privacy import keystore
from tests import factories as f
from tests.api.conftest import GraphQLClient

PASSWORD = "correct horse battery staple 42"
FIELDS = "id kind subjectId status dueAt receivedAt escalatedAt receipt refusalReason"
SUBMIT = f"""
mutation($input: SubmitSubjectRequestInput!) {{
  submitSubjectRequest(input: $input) {{
    __typename
    ... on SubjectRequest {{ {FIELDS} }}
    ... on InvalidInput {{ code message field }}
    ... on Conflict {{ code message }}
  }}
}}
"""
COMPLETE = f"""
mutation($input: CompleteSubjectRequestInput!) {{
  completeSubjectRequest(input: $input) {{
    __typename
    ... on SubjectRequest {{ {FIELDS} }}
    ... on InvalidInput {{ code message field }}
    ... on Conflict {{ code message }}
  }}
}}
"""
LIST = f"{{ subjectRequests {{ totalCount edges {{ node {{ {FIELDS} }} }} }} }}"


@dataclass
class World:
    person: GraphQLClient
    stranger: GraphQLClient
    officer: GraphQLClient
    person_id: uuid.UUID
    user: str
    enterprise: str
    enterprise_id: uuid.UUID


@pytest.fixture
async def world(gql: GraphQLClient, db: AsyncEngine, settings: Settings) -> World:
    async with session_factory(db)() as s, s.begin():
        person = await f.user(
            s, email="subject@example.test", password=PASSWORD, roles=[(Role.SME_OWNER, None)]
        )
        stranger = await f.user(s, password=PASSWORD, roles=[(Role.SME_OWNER, None)])
        enterprise = await f.enterprise(s, owner_id=person.id)
        officer = await f.user(s, roles=[(Role.PRIVACY_OFFICER, None)])
        tokens = [await f.access_token(s, settings, u) for u in (person, stranger, officer)]
    return World(
        person=gql.as_(tokens[0]),
        stranger=gql.as_(tokens[1]),
        officer=gql.as_(tokens[2]),
        person_id=person.id,
        user=f.global_id("User", person.id),
        enterprise=f.global_id("Enterprise", enterprise.id),
        enterprise_id=enterprise.id,
    )


async def _submit(client: GraphQLClient, **values: Any) -> dict[str, Any]:
    result: dict[str, Any] = (
        await client.data(SUBMIT, {"input": {"password": PASSWORD, **values}})
    )["submitSubjectRequest"]
    return result


async def _complete(client: GraphQLClient, request: str, **values: Any) -> dict[str, Any]:
    result: dict[str, Any] = (
        await client.data(COMPLETE, {"input": {"requestId": request, **values}})
    )["completeSubjectRequest"]
    return result


async def _mail(db: AsyncEngine, settings: Settings, user_id: uuid.UUID) -> list[str]:
    async with session_factory(db)() as s:
        rows = list(
            (
                await s.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.user_id == user_id)
                    .order_by(OutboxMessage.id)
                )
            ).all()
        )
        return [body for _, body in await people.read_mail(s, settings.keys(), rows)]


async def test_an_access_request_checks_identity_and_sends_a_copy_with_a_receipt(
    world: World, db: AsyncEngine, settings: Settings
) -> None:
    # when: a wrong password first, then the request; the officer completes it
    wrong = await _submit(world.person, kind="ACCESS", subjectId=world.user, password="nope")
    submitted = await _submit(world.person, kind="ACCESS", subjectId=world.user)
    mine = (await world.person.data(LIST))["subjectRequests"]
    theirs = (await world.stranger.data(LIST))["subjectRequests"]
    not_theirs = await world.stranger.post(
        SUBMIT, {"input": {"password": PASSWORD, "kind": "ACCESS", "subjectId": world.user}}
    )
    completed = await _complete(world.officer, submitted["id"])
    again = await _complete(world.officer, submitted["id"])

    # then
    assert (wrong["__typename"], wrong["field"]) == ("InvalidInput", "input.password")
    assert submitted["status"] == "OPEN"
    assert submitted["receipt"] is None
    assert mine["totalCount"] == 1
    assert theirs["totalCount"] == 0
    assert not_theirs["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert completed["status"] == "COMPLETED"
    receipt = completed["receipt"]
    assert receipt["kind"] == "access"
    assert len(receipt["sha256"]) == 64
    assert again["__typename"] == "Conflict"
    sent = json.loads("".join(await _mail(db, settings, world.person_id)))
    assert sent["receipt"] == receipt
    assert sent["export"]["account"]["email"] == "subject@example.test"
    async with session_factory(db)() as s:
        row = await s.get(SubjectRequest, uuid.UUID(receipt["request"]))
    assert row is not None
    assert row.details == {}  # the copy left with the mail, nothing kept in plaintext
    assert row.due_at - row.received_at == timedelta(days=30)


async def test_a_person_erased_by_request_is_gone_but_the_receipt_stays(
    world: World, db: AsyncEngine, settings: Settings
) -> None:
    # given: the person's enterprise has no loan
    submitted = await _submit(world.person, kind="ERASURE", subjectId=world.user)

    # when
    completed = await _complete(world.officer, submitted["id"])

    # then
    assert completed["status"] == "COMPLETED", completed
    assert "users.email" in completed["receipt"]["outcome"]["removed"]
    async with session_factory(db)() as s:
        user = await s.get(User, world.person_id)
        key = (await keystore.unwrap_many(s, settings.keys(), [world.person_id]))[world.person_id]
        found = await people.find_by_email(s, settings.keys(), "subject@example.test")
    assert user is not None
    assert (user.email, user.display_name, user.status) == ("", "", UserStatus.DISABLED)
    assert key is None
    assert found is None
    assert await _mail(db, settings, world.person_id) == []


async def test_a_written_off_loan_keeps_the_enterprise_and_the_request_stays_open(
    world: World, db: AsyncEngine
) -> None:
    # given: the enterprise's debt was written off
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        product = await f.product(s, institution_id=bank.id)
        application = await f.application(s, enterprise_id=world.enterprise_id, product_row=product)
        loan = await f.loan(s, application_row=application)
        (await s.get_one(Loan, loan.id)).status = LoanStatus.WRITTEN_OFF
    submitted = await _submit(world.person, kind="ERASURE", subjectId=world.enterprise)

    # when
    refused = await _complete(world.officer, submitted["id"])
    person_refused = await _submit(world.person, kind="ERASURE", subjectId=world.user)
    person = await _complete(world.officer, person_refused["id"])
    listed = (await world.person.data(LIST))["subjectRequests"]["edges"]

    # then
    assert (refused["__typename"], refused["code"]) == ("Conflict", "ERASURE_REFUSED")
    assert (person["__typename"], person["code"]) == ("Conflict", "ERASURE_REFUSED")
    assert {e["node"]["status"] for e in listed} == {"OPEN"}


async def test_rectification_and_objection_change_what_is_held_and_done(
    world: World, db: AsyncEngine, settings: Settings
) -> None:
    # when
    rectify = await _submit(
        world.person,
        kind="RECTIFICATION",
        subjectId=world.user,
        details={"displayName": "Corrected Name"},
    )
    bad = await _submit(
        world.person, kind="RECTIFICATION", subjectId=world.user, details={"email": "x@y.z"}
    )
    object_to = await _submit(
        world.person,
        kind="OBJECTION",
        subjectId=world.enterprise,
        details={"purpose": "product_recommendation"},
    )
    await _complete(world.officer, rectify["id"])
    await _complete(world.officer, object_to["id"])
    me = (await world.person.data("{ me { displayName } }"))["me"]
    prefs = await world.person.data("{ privacyPreferences { productRecommendations } }")

    # then
    assert (bad["__typename"], bad["field"]) == ("InvalidInput", "input.details")
    assert me["displayName"] == "Corrected Name"
    assert prefs["privacyPreferences"]["productRecommendations"] is False


async def test_an_open_request_past_30_days_is_escalated_once(
    world: World, db: AsyncEngine, settings: Settings
) -> None:
    # given: a request received 31 days ago, and one received today
    now = utcnow()
    async with session_factory(db)() as s, s.begin():
        viewer = Viewer(user_id=world.person_id)
        late = await requests.submit(
            s,
            settings.keys(),
            viewer=viewer,
            kind="access",
            subject_type="user",
            subject_id=world.person_id,
            password=PASSWORD,
            details={},
            now=now - timedelta(days=31),
        )
        await requests.submit(
            s,
            settings.keys(),
            viewer=viewer,
            kind="access",
            subject_type="user",
            subject_id=world.person_id,
            password=PASSWORD,
            details={},
            now=now,
        )

    # when
    async with session_factory(db)() as s, s.begin():
        first = await requests.escalate_overdue(s, now=now)
    async with session_factory(db)() as s, s.begin():
        second = await requests.escalate_overdue(s, now=now)
    listed = (await world.person.data(LIST))["subjectRequests"]["edges"]

    # then
    assert (first, second) == (1, 0)
    escalated = [e["node"] for e in listed if e["node"]["escalatedAt"] is not None]
    assert [e["id"] for e in escalated] == [f.global_id("SubjectRequest", late.id)]
