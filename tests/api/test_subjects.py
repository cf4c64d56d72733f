"""Data-subject export and erasure, and the access log, end to end through the live app."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.audit.models import AuditEntry
from domain.enterprises.models import SEALED_COLUMNS
from domain.lending.models import LoanStatus
from domain.models import Application, Enterprise, Loan, Role
from domain.privacy.models import AccessLogEntry, ConsentRecord
from domain.settings import Settings
from kernel.db import session_factory
from privacy import keystore
from privacy.models import DataKey
from tests import factories as f
from tests.api.conftest import GraphQLClient

REASON = "written request of the owner, ticket DSR-2026-118"

EXPORT = """
mutation($id: ID!) {
  exportSubjectData(input: { subjectId: $id }) {
    __typename
    ... on SubjectExport { subjectId exportedAt data }
    ... on InvalidInput { code message field }
  }
}
"""
ERASE = """
mutation($id: ID!, $reason: String!) {
  eraseSubject(input: { subjectId: $id, reason: $reason }) {
    __typename
    ... on ErasureReceipt { id subjectId erasedAt removed kept }
    ... on ErasureRefused { code message }
    ... on InvalidInput { code message field }
  }
}
"""
PERSONAL_FIELDS = (
    "legalRepresentativeName legalRepresentativeIdNumber contactPhone contactEmail "
    "bankAccountNumber"
)
ENTERPRISE = f"""
query($id: ID!) {{
  node(id: $id) {{ ... on Enterprise {{ name annualRevenue {PERSONAL_FIELDS} }} }}
}}
"""
PHONE = "query($id: ID!) { node(id: $id) { ... on Enterprise { contactPhone } } }"
ID_NUMBER = (
    "query($id: ID!) { node(id: $id) { ... on Enterprise { legalRepresentativeIdNumber } } }"
)
LOG = """
query($first: Int, $after: String, $filter: AccessLogFilter) {
  accessLog(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node {
      id at viewerId viewer { id roles { role } } viewerKind institutionCodes subjectId field
      purpose requestId
    } }
  }
}
"""
LOANS = "{ loans { edges { node { principal } } } applications { edges { node { amount } } } }"


@dataclass
class World:
    enterprise_id: uuid.UUID
    other_id: uuid.UUID
    owner_id: uuid.UUID
    officer_id: uuid.UUID
    bank_code: str
    name: str
    owner: GraphQLClient
    officer: GraphQLClient
    privacy: GraphQLClient


async def _world(
    gql: GraphQLClient,
    db: AsyncEngine,
    settings: Settings,
    *,
    loan_status: LoanStatus = LoanStatus.ACTIVE,
) -> World:
    """An owner's enterprise that applied to a bank and borrowed from it (the loan in
    ``loan_status``); a second enterprise that applied there too; the bank's loan
    officer; a privacy officer."""
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        product = await f.product(s, institution_id=bank.id)
        owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
        officer = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        privacy = await f.user(s, roles=[(Role.PRIVACY_OFFICER, None)])
        enterprise = await f.enterprise(s, owner_id=owner.id, name="Subject Works")
        other = await f.enterprise(s, name="Bystander Ltd")
        application = await f.application(s, enterprise_id=enterprise.id, product_row=product)
        other_application = await f.application(s, enterprise_id=other.id, product_row=product)
        for row in (application, other_application):
            loan = await f.loan(s, application_row=row)
            loan.status = loan_status if row is application else LoanStatus.ACTIVE
            loan.closed_on = date(2026, 10, 1) if loan.status is LoanStatus.CLOSED else None
        tokens = [await f.access_token(s, settings, u) for u in (owner, officer, privacy)]
    return World(
        enterprise_id=enterprise.id,
        other_id=other.id,
        owner_id=owner.id,
        officer_id=officer.id,
        bank_code=bank.code,
        name="Subject Works",
        owner=gql.as_(tokens[0]),
        officer=gql.as_(tokens[1]),
        privacy=gql.as_(tokens[2]),
    )


def _gid(pk: uuid.UUID, type_name: str = "Enterprise") -> str:
    return f.global_id(type_name, pk)


async def _erase(client: GraphQLClient, pk: uuid.UUID) -> dict[str, Any]:
    result: dict[str, Any] = (await client.data(ERASE, {"id": _gid(pk), "reason": REASON}))[
        "eraseSubject"
    ]
    return result


async def _sealed(db: AsyncEngine, pk: uuid.UUID) -> tuple[list[str | None], str | None]:
    async with session_factory(db)() as s:
        row = await s.get(Enterprise, pk)
    assert row is not None
    return [getattr(row, c) for c in SEALED_COLUMNS], row.legal_representative_id_bidx


async def _count(db: AsyncEngine, model: Any, *where: Any) -> int:
    async with session_factory(db)() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)) or 0)


# ------------------------------------------------------------------------- export


async def test_an_export_holds_the_decrypted_profile_loans_consents_and_who_saw_what(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: the bank's loan officer has seen the contact phone, and consent was given
    world = await _world(gql, db, settings)
    seen = await world.officer.data(PHONE, {"id": _gid(world.enterprise_id)})
    assert seen["node"]["contactPhone"] == f.PERSONAL["contact_phone"]
    async with session_factory(db)() as s, s.begin():
        s.add(
            ConsentRecord(
                subject_id=world.enterprise_id,
                purpose="product_recommendation",
                recipient_institution_id=None,
                action="grant",
                actor_id=world.owner_id,
                channel="web",
                text_version="2026-01",
                previous_hash=None,
                hash="e" * 64,
            )
        )

    # when
    result = (await world.privacy.data(EXPORT, {"id": _gid(world.enterprise_id)}))[
        "exportSubjectData"
    ]

    # then
    assert result["__typename"] == "SubjectExport"
    assert result["subjectId"] == _gid(world.enterprise_id)
    document = result["data"]  # a JSON value, not JSON in a string
    assert document["exportedAt"] == result["exportedAt"].replace("Z", "+00:00")
    profile = document["profile"]
    assert profile["legalRepresentativeName"] == f.PERSONAL["legal_representative_name"]
    assert profile["legalRepresentativeIdNumber"] == f.PERSONAL["legal_representative_id_number"]
    assert profile["contactPhone"] == f.PERSONAL["contact_phone"]
    assert profile["bankAccountNumber"] == f.PERSONAL["bank_account_number"]
    assert profile["contactEmail"] == f.contact_email(world.name)
    assert [a["amount"] for a in document["applications"]] == ["200000.00"]
    assert [(lo["principal"], lo["status"]) for lo in document["loans"]] == [
        ("200000.00", "active")
    ]
    assert [(c["purpose"], c["action"]) for c in document["consents"]] == [
        ("product_recommendation", "grant")
    ]
    assert [(e["object"], e["viewerId"], e["institutionCodes"]) for e in document["accessLog"]] == [
        ("Enterprise.contactPhone", str(world.officer_id), world.bank_code)
    ]


async def test_an_export_is_itself_logged_as_an_access_and_audited(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    world = await _world(gql, db, settings)

    # when
    await world.privacy.data(EXPORT, {"id": _gid(world.enterprise_id)})

    # then
    async with session_factory(db)() as s:
        entries = (await s.scalars(select(AccessLogEntry))).all()
        audited = (
            await s.scalars(select(AuditEntry).where(AuditEntry.action == "subject.exported"))
        ).all()
    assert [(e.subject_id, e.object, e.purpose) for e in entries] == [
        (world.enterprise_id, "Enterprise.*", "data_subject_request")
    ]
    assert [a.entity_id for a in audited] == [str(world.enterprise_id)]


async def test_exporting_an_unknown_subject_or_a_non_enterprise_is_invalid_input(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    world = await _world(gql, db, settings)

    # when
    unknown = await world.privacy.data(EXPORT, {"id": _gid(uuid.uuid4())})
    a_loan = await world.privacy.data(EXPORT, {"id": _gid(world.owner_id, "Loan")})

    # then
    assert unknown["exportSubjectData"]["code"] == "NOT_FOUND"
    assert a_loan["exportSubjectData"]["code"] == "BAD_USER_INPUT"
    assert await _count(db, AccessLogEntry) == 0


async def test_only_privacy_officers_export(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    world = await _world(gql, db, settings)

    # when
    body = await world.officer.post(EXPORT, {"id": _gid(world.enterprise_id)})

    # then
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


# ------------------------------------------------------------------------ erasure


async def test_erasure_shreds_the_key_and_every_reader_gets_null_but_the_records_stay(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: a closed loan; the owner still reads its own values
    world = await _world(gql, db, settings, loan_status=LoanStatus.CLOSED)
    variables = {"id": _gid(world.enterprise_id)}
    before = (await world.owner.data(ENTERPRISE, variables))["node"]
    assert before["contactPhone"] == f.PERSONAL["contact_phone"]

    # when
    receipt = await _erase(world.privacy, world.enterprise_id)

    # then: the receipt
    assert receipt["__typename"] == "ErasureReceipt"
    assert receipt["subjectId"] == _gid(world.enterprise_id)
    assert "enterprises.contact_phone" in receipt["removed"]
    assert "enterprises.legal_representative_id_bidx" in receipt["removed"]
    assert "loans: 1" in receipt["kept"]
    assert "applications: 1" in receipt["kept"]
    # and: the database holds neither the values nor the key
    sealed, bidx = await _sealed(db, world.enterprise_id)
    assert sealed == [None] * len(SEALED_COLUMNS)
    assert bidx is None
    async with session_factory(db)() as s:
        key_row = await s.get(DataKey, world.enterprise_id)
        keys = await keystore.unwrap_many(s, f.KEYS, [world.enterprise_id, world.other_id])
        loan = await s.scalar(select(Loan).where(Loan.enterprise_id == world.enterprise_id))
        amounts = (
            await s.scalars(
                select(Application.amount).where(Application.enterprise_id == world.enterprise_id)
            )
        ).all()
        audit = (
            await s.scalars(select(AuditEntry).where(AuditEntry.action == "subject.erased"))
        ).all()
    assert key_row is not None
    assert key_row.kid is None
    assert key_row.wrapped is None
    assert key_row.shredded_at is not None
    assert keys[world.enterprise_id] is None
    assert keys[world.other_id] is not None
    assert loan is not None
    assert str(loan.principal) == "200000.00"
    assert [str(a) for a in amounts] == ["200000.00"]
    (entry,) = audit
    assert str(entry.id) == receipt["id"]
    assert entry.detail["reason"] == REASON
    assert entry.actor_id is not None
    # and: nobody reads a personal value any more, the owner included
    for client in (world.owner, world.officer, world.privacy):
        node = (await client.data(ENTERPRISE, variables))["node"]
        assert {k: node[k] for k in PERSONAL_FIELDS.split()} == dict.fromkeys(
            PERSONAL_FIELDS.split()
        )
        assert node["name"] == world.name
    # and: the owner still sees its loan and application, amounts included
    lists = await world.owner.data(LOANS)
    assert [e["node"]["principal"] for e in lists["loans"]["edges"]] == ["200000.00"]
    assert [e["node"]["amount"] for e in lists["applications"]["edges"]] == ["200000.00"]


async def test_erasure_is_refused_while_a_loan_is_active_and_nothing_changes(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    world = await _world(gql, db, settings, loan_status=LoanStatus.ACTIVE)
    before = await _sealed(db, world.enterprise_id)

    # when
    result = await _erase(world.privacy, world.enterprise_id)

    # then
    assert result["__typename"] == "ErasureRefused"
    assert result["code"] == "ERASURE_REFUSED"
    assert "active loan" in result["message"]
    assert await _sealed(db, world.enterprise_id) == before
    assert await _count(db, DataKey, DataKey.shredded_at.is_not(None)) == 0
    assert await _count(db, AuditEntry, AuditEntry.action == "subject.erased") == 0
    node = (await world.owner.data(PHONE, {"id": _gid(world.enterprise_id)}))["node"]
    assert node["contactPhone"] == f.PERSONAL["contact_phone"]


async def test_erasing_twice_is_a_conflict(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    world = await _world(gql, db, settings, loan_status=LoanStatus.CLOSED)
    first = await _erase(world.privacy, world.enterprise_id)
    assert first["__typename"] == "ErasureReceipt"

    # when
    second = await _erase(world.privacy, world.enterprise_id)

    # then
    assert second["__typename"] == "ErasureRefused"
    assert second["code"] == "CONFLICT"
    assert "already erased" in second["message"]
    assert await _count(db, AuditEntry, AuditEntry.action == "subject.erased") == 1


async def test_a_short_reason_is_invalid_input(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    world = await _world(gql, db, settings, loan_status=LoanStatus.CLOSED)

    # when
    result = (
        await world.privacy.data(ERASE, {"id": _gid(world.enterprise_id), "reason": "asked"})
    )["eraseSubject"]

    # then
    assert (result["__typename"], result["code"], result["field"]) == (
        "InvalidInput",
        "BAD_USER_INPUT",
        "input.reason",
    )
    assert await _count(db, DataKey, DataKey.shredded_at.is_not(None)) == 0


async def test_a_loan_officer_may_not_erase(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    world = await _world(gql, db, settings, loan_status=LoanStatus.CLOSED)
    before = await _sealed(db, world.enterprise_id)

    # when
    body = await world.officer.post(ERASE, {"id": _gid(world.enterprise_id), "reason": REASON})

    # then
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await _sealed(db, world.enterprise_id) == before
    assert await _count(db, DataKey, DataKey.shredded_at.is_not(None)) == 0


# --------------------------------------------------------------------- access log


async def test_only_reveals_are_logged_not_masked_reads(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: the default policy masks identity numbers for loan officers
    world = await _world(gql, db, settings)
    masked = await world.officer.data(ID_NUMBER, {"id": _gid(world.enterprise_id)})
    assert (
        masked["node"]["legalRepresentativeIdNumber"]
        != (f.PERSONAL["legal_representative_id_number"])
    )
    assert (await world.privacy.data(LOG))["accessLog"]["totalCount"] == 0

    # when
    await world.officer.data(PHONE, {"id": _gid(world.enterprise_id)})

    # then
    log = (await world.privacy.data(LOG))["accessLog"]
    assert log["totalCount"] == 1
    (edge,) = log["edges"]
    node = edge["node"]
    assert node["field"] == "Enterprise.contactPhone"
    assert node["subjectId"] == _gid(world.enterprise_id)
    assert node["viewerId"] == _gid(world.officer_id, "User")
    # and: the viewer is a User the privacy officer follows (platform oversight sees anyone)
    assert node["viewer"] == {
        "id": _gid(world.officer_id, "User"),
        "roles": [{"role": "LOAN_OFFICER"}],
    }
    assert node["viewerKind"] == "user"
    assert node["institutionCodes"] == [world.bank_code]
    assert node["purpose"] == "credit_assessment"
    assert node["requestId"]


async def test_the_access_log_filters_by_subject_and_pages_newest_first(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: three values of each enterprise revealed, one request per enterprise, and
    # the owner's own email
    world = await _world(gql, db, settings)
    contact = (
        "query($id: ID!) { node(id: $id) { ... on Enterprise {"
        " legalRepresentativeName contactPhone contactEmail } } }"
    )
    await world.officer.data(contact, {"id": _gid(world.other_id)})
    await world.officer.data(contact, {"id": _gid(world.enterprise_id)})
    await world.owner.data("{ me { email } }")
    mine = {"subjectId": _gid(world.enterprise_id)}

    # when
    page_1 = (await world.privacy.data(LOG, {"first": 2, "filter": mine}))["accessLog"]
    page_2 = (
        await world.privacy.data(
            LOG, {"first": 2, "after": page_1["pageInfo"]["endCursor"], "filter": mine}
        )
    )["accessLog"]
    everything = (await world.privacy.data(LOG, {"first": 10}))["accessLog"]
    of_the_owner = (
        await world.privacy.data(LOG, {"filter": {"subjectId": _gid(world.owner_id, "User")}})
    )["accessLog"]
    by_the_officer = (
        await world.privacy.data(LOG, {"filter": {"viewerId": _gid(world.officer_id, "User")}})
    )["accessLog"]

    # then
    assert page_1["totalCount"] == 3
    assert page_1["pageInfo"]["hasNextPage"] is True
    assert len(page_1["edges"]) == 2
    assert page_2["pageInfo"]["hasNextPage"] is False
    assert len(page_2["edges"]) == 1
    paged = [e["node"] for e in page_1["edges"] + page_2["edges"]]
    assert {n["subjectId"] for n in paged} == {_gid(world.enterprise_id)}
    assert len({n["id"] for n in paged}) == 3
    assert {n["field"] for n in paged} == {
        "Enterprise.legalRepresentativeName",
        "Enterprise.contactPhone",
        "Enterprise.contactEmail",
    }
    assert everything["totalCount"] == 7
    subjects_newest_first = [e["node"]["subjectId"] for e in everything["edges"]]
    assert (
        subjects_newest_first
        == [_gid(world.owner_id, "User")]
        + [_gid(world.enterprise_id)] * 3
        + [_gid(world.other_id)] * 3
    )
    assert [e["node"]["field"] for e in of_the_owner["edges"]] == ["User.email"]
    assert by_the_officer["totalCount"] == 6


async def test_a_loan_officer_gets_an_empty_access_log(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: reveals are on record
    world = await _world(gql, db, settings)
    await world.officer.data(PHONE, {"id": _gid(world.enterprise_id)})
    assert await _count(db, AccessLogEntry) == 1

    # when
    log = (await world.officer.data(LOG))["accessLog"]

    # then
    assert log == {
        "totalCount": 0,
        "pageInfo": {"hasNextPage": False, "endCursor": None},
        "edges": [],
    }
