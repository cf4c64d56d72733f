"""Collateral and guarantees through GraphQL: credit staff pledge, revalue and release;
owners read their own loans' security with guarantors masked; another institution
neither sees nor pledges; guarantors sealed at rest; the close's ECL falls when
collateral is pledged and rises when it is released; a recovery realises an item or
calls a guarantee."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.audit.models import AuditEntry
from domain.collateral.models import Guarantee
from domain.identity.models import Role
from domain.lending.models import Loan, LoanStatus
from domain.lending.schedule import add_months
from domain.provisioning import service as provisioning
from domain.settings import Settings
from kernel.base import utcnow
from kernel.db import session_factory
from privacy import keystore, vault
from tests import factories as f
from tests.api.conftest import GraphQLClient

ITEM_FIELDS = """
  id kind description marketValue valuedOn valuationSource status haircutRate coveredValue
  version valuations { marketValue valuedOn source }
"""
GUARANTEE_FIELDS = "id kind guarantorName guarantorIdentity amount coveredAmount status version"
PLEDGE = f"""
mutation($input: PledgeCollateralInput!) {{
  pledgeCollateral(input: $input) {{
    __typename
    ... on CollateralItem {{ {ITEM_FIELDS} }}
    ... on InvalidInput {{ code message field }}
    ... on UserError {{ code message }}
  }}
}}
"""
REVALUE = f"""
mutation($input: RevalueCollateralInput!) {{
  revalueCollateral(input: $input) {{
    __typename
    ... on CollateralItem {{ {ITEM_FIELDS} }}
    ... on InvalidInput {{ code message field }}
    ... on UserError {{ code message }}
  }}
}}
"""
RELEASE = f"""
mutation($input: ReleaseCollateralInput!) {{
  releaseCollateral(input: $input) {{
    __typename
    ... on CollateralItem {{ {ITEM_FIELDS} }}
    ... on InvalidInput {{ code message field }}
    ... on UserError {{ code message }}
  }}
}}
"""
GUARANTEE = f"""
mutation($input: AddGuaranteeInput!) {{
  addGuarantee(input: $input) {{
    __typename
    ... on Guarantee {{ {GUARANTEE_FIELDS} }}
    ... on InvalidInput {{ code message field }}
    ... on UserError {{ code message }}
  }}
}}
"""
LET_GO = f"""
mutation($input: ReleaseGuaranteeInput!) {{
  releaseGuarantee(input: $input) {{
    __typename
    ... on Guarantee {{ {GUARANTEE_FIELDS} }}
    ... on InvalidInput {{ code message field }}
    ... on UserError {{ code message }}
  }}
}}
"""
LOAN = f"""
query($id: ID!) {{
  node(id: $id) {{
    ... on Loan {{
      id status
      collateral {{ {ITEM_FIELDS} }}
      guarantees {{ {GUARANTEE_FIELDS} }}
    }}
  }}
}}
"""
CREDIT_LOSS = """
query($id: ID!) {
  node(id: $id) {
    ... on Loan { creditLoss { asOf stage lossGivenDefault exposure expectedLoss } }
  }
}
"""
NODE = """query($id: ID!) { node(id: $id) { id __typename } }"""
WRITE_OFF = """
mutation($input: WriteOffLoanInput!) { writeOffLoan(input: $input) { __typename } }
"""
RECOVER = """
mutation($input: RecordRecoveryInput!) {
  recordRecovery(input: $input) {
    __typename
    ... on InvalidInput { code message field }
    ... on UserError { code message }
  }
}
"""
NAME = "Zhang Wei"
IDENTITY = "110101199003077777"


@dataclass
class World:
    loans: list[str]
    loan_pks: list[Any]
    people: dict[str, GraphQLClient]


@pytest.fixture
async def world(gql: GraphQLClient, db: AsyncEngine, settings: Settings) -> World:
    today = utcnow().date()
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        other = await f.institution(s)
        product = await f.product(s, institution_id=bank.id)
        owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
        enterprise = await f.enterprise(s, owner_id=owner.id)
        loans = []
        for _ in range(2):
            application = await f.application(s, enterprise_id=enterprise.id, product_row=product)
            loans.append(
                await f.booked_loan(
                    s,
                    application_row=application,
                    disbursed_on=add_months(today, -2) - timedelta(days=3),
                )
            )
        users = {
            "owner": owner,
            "officer": await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)]),
            "risk": await f.user(s, roles=[(Role.RISK_OFFICER, bank.id)]),
            "admin": await f.user(s, roles=[(Role.INSTITUTION_ADMIN, bank.id)]),
            "auditor": await f.user(s, roles=[(Role.AUDITOR, None)]),
            "stranger": await f.user(s, roles=[(Role.LOAN_OFFICER, other.id)]),
            "other_owner": await f.user(s, roles=[(Role.SME_OWNER, None)]),
        }
        await s.flush()
        people = {k: gql.as_(await f.access_token(s, settings, u)) for k, u in users.items()}
    return World(
        loans=[f.global_id("Loan", loan.id) for loan in loans],
        loan_pks=[loan.id for loan in loans],
        people=people,
    )


async def act(client: GraphQLClient, document: str, **values: Any) -> dict[str, Any]:
    data = await client.data(document, {"input": values})
    result: dict[str, Any] = next(iter(data.values()))
    return result


def _building(loan_id: str, value: str = "80000.00", **more: Any) -> dict[str, Any]:
    day = (utcnow().date() - timedelta(days=30)).isoformat()
    return {
        "loanId": loan_id,
        "kind": "REAL_ESTATE",
        "description": "Warehouse, 2 Dock Road",
        "marketValue": value,
        "valuedOn": day,
        "valuationSource": "Chartered surveyor",
        **more,
    }


async def test_staff_pledge_revalue_and_release_and_the_owner_reads_it(
    world: World, db: AsyncEngine
) -> None:
    officer, risk, owner = (world.people[k] for k in ("officer", "risk", "owner"))
    today = utcnow().date().isoformat()
    # given: the officer pledges a building, the risk officer revalues it
    pledged = await act(officer, PLEDGE, **_building(world.loans[0]))
    revalued = await act(
        risk,
        REVALUE,
        collateralItemId=pledged["id"],
        marketValue="70000.00",
        valuedOn=today,
        valuationSource="Desk review",
        expectedVersion=pledged["version"],
    )
    # when: the owner reads the loan, then the admin releases the item
    seen = (await owner.data(LOAN, {"id": world.loans[0]}))["node"]
    released = await act(
        world.people["admin"], RELEASE, collateralItemId=pledged["id"], expectedVersion=2
    )
    again = await act(officer, RELEASE, collateralItemId=pledged["id"])

    # then: every valuation is kept, the latest is the value, the haircut is the kind's
    assert pledged["__typename"] == "CollateralItem", pledged
    assert (pledged["status"], pledged["haircutRate"], pledged["coveredValue"]) == (
        "PLEDGED",
        "0.400000",
        "48000.00",
    )
    assert revalued["marketValue"] == "70000.00"
    assert [v["marketValue"] for v in revalued["valuations"]] == ["80000.00", "70000.00"]
    assert seen["collateral"][0]["valuations"] == revalued["valuations"]
    assert seen["collateral"][0]["coveredValue"] == "42000.00"
    assert (released["status"], released["coveredValue"]) == ("RELEASED", "0.00")
    assert (again["__typename"], again["code"]) == ("InvalidInput", "INVALID_TRANSITION")
    # every change audited, in order
    async with session_factory(db)() as s:
        actions = (
            await s.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.action.like("collateral.%"))
                .order_by(AuditEntry.at)
            )
        ).all()
    assert list(actions) == ["collateral.pledge", "collateral.revalue", "collateral.release"]


async def test_bad_values_stale_versions_and_closed_loans_are_refused(
    world: World, db: AsyncEngine
) -> None:
    officer = world.people["officer"]
    tomorrow = (utcnow().date() + timedelta(days=1)).isoformat()
    pledged = await act(officer, PLEDGE, **_building(world.loans[0]))
    refused = {
        "negative": await act(officer, PLEDGE, **_building(world.loans[0], "-1.00")),
        "fraction": await act(officer, PLEDGE, **_building(world.loans[0], "10.001")),
        "future": await act(officer, PLEDGE, **_building(world.loans[0], valuedOn=tomorrow)),
        "blank": await act(officer, PLEDGE, **_building(world.loans[0], description="  ")),
        "older": await act(
            officer,
            REVALUE,
            collateralItemId=pledged["id"],
            marketValue="1.00",
            valuedOn="2020-01-01",
            valuationSource="old",
        ),
        "guarantee": await act(
            officer,
            GUARANTEE,
            loanId=world.loans[0],
            kind="PERSONAL",
            guarantorName=NAME,
            amount="0.00",
        ),
    }
    stale = await act(officer, RELEASE, collateralItemId=pledged["id"], expectedVersion=7)
    async with session_factory(db)() as s, s.begin():
        await s.execute(
            update(Loan).where(Loan.id == world.loan_pks[1]).values(status=LoanStatus.CLOSED)
        )
    closed = await act(officer, PLEDGE, **_building(world.loans[1]))
    closed_guarantee = await act(
        officer,
        GUARANTEE,
        loanId=world.loans[1],
        kind="CORPORATE",
        guarantorName="Acme",
        amount="10.00",
    )

    fields = {k: (v["__typename"], v["field"]) for k, v in refused.items()}
    assert fields == {
        "negative": ("InvalidInput", "input.marketValue"),
        "fraction": ("InvalidInput", "input.marketValue"),
        "future": ("InvalidInput", "input.valuedOn"),
        "blank": ("InvalidInput", "input.description"),
        "older": ("InvalidInput", "input.valuedOn"),
        "guarantee": ("InvalidInput", "input.amount"),
    }
    assert (stale["__typename"], stale["code"]) == ("Conflict", "CONFLICT")
    assert (closed["__typename"], closed["field"]) == ("InvalidInput", "input.loanId")
    assert (closed_guarantee["__typename"], closed_guarantee["field"]) == (
        "InvalidInput",
        "input.loanId",
    )


async def test_another_institution_neither_sees_nor_pledges_and_owners_only_read(
    world: World,
) -> None:
    officer, stranger = world.people["officer"], world.people["stranger"]
    pledged = await act(officer, PLEDGE, **_building(world.loans[0]))
    given = await act(
        officer,
        GUARANTEE,
        loanId=world.loans[0],
        kind="PERSONAL",
        guarantorName=NAME,
        amount="5000.00",
    )
    # when: another bank's officer and another owner try, and the borrower's owner tries
    foreign = await stranger.post(PLEDGE, {"input": _building(world.loans[0])})
    foreign_release = await stranger.post(RELEASE, {"input": {"collateralItemId": pledged["id"]}})
    foreign_let_go = await stranger.post(LET_GO, {"input": {"guaranteeId": given["id"]}})
    foreign_reads = [
        await client.post(NODE, {"id": node_id})
        for client in (stranger, world.people["other_owner"])
        for node_id in (pledged["id"], given["id"], world.loans[0])
    ]
    by_owner = await world.people["owner"].post(PLEDGE, {"input": _building(world.loans[0])})
    owner_lets_go = await world.people["owner"].post(
        LET_GO, {"input": {"guaranteeId": given["id"]}}
    )

    assert foreign["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert foreign_release["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert foreign_let_go["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert [r["data"]["node"] for r in foreign_reads] == [None] * 6
    assert {r["errors"][0]["extensions"]["code"] for r in foreign_reads} == {"NOT_FOUND"}
    assert by_owner["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert owner_lets_go["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    seen = (await world.people["owner"].data(LOAN, {"id": world.loans[0]}))["node"]
    assert [i["status"] for i in seen["collateral"]] == ["PLEDGED"]
    assert [g["status"] for g in seen["guarantees"]] == ["ACTIVE"]


async def test_guarantors_are_sealed_at_rest_and_masked_for_those_who_must_not_read_them(
    world: World, db: AsyncEngine, settings: Settings
) -> None:
    officer = world.people["officer"]
    given = await act(
        officer,
        GUARANTEE,
        loanId=world.loans[0],
        kind="PERSONAL",
        guarantorName=NAME,
        guarantorIdentity=IDENTITY,
        amount="20000.00",
    )
    by = {
        k: (await world.people[k].data(LOAN, {"id": world.loans[0]}))["node"]["guarantees"][0]
        for k in ("officer", "risk", "owner", "auditor")
    }

    assert (given["guarantorName"], given["guarantorIdentity"]) == (NAME, IDENTITY)
    assert (given["coveredAmount"], given["status"]) == ("8000.00", "ACTIVE")
    for revealed in (by["officer"], by["risk"]):
        assert (revealed["guarantorName"], revealed["guarantorIdentity"]) == (NAME, IDENTITY)
    for masked in (by["owner"], by["auditor"]):
        assert masked["guarantorName"] not in (None, NAME)
        assert "Zhang" not in masked["guarantorName"]
        assert masked["guarantorIdentity"] not in (None, IDENTITY)
        assert "19900307" not in masked["guarantorIdentity"]
        assert masked["amount"] == "20000.00"
    # at rest: ciphertext bound to its row and column, which opens under the borrower's key
    async with session_factory(db)() as s:
        row = (await s.scalars(select(Guarantee))).one()
        key = (await keystore.unwrap_many(s, settings.keys(), [row.enterprise_id]))[
            row.enterprise_id
        ]
    assert row.guarantor_name is not None
    assert row.guarantor_identity is not None
    assert NAME not in row.guarantor_name
    assert "Zhang" not in row.guarantor_name
    assert IDENTITY not in row.guarantor_identity
    assert key is not None
    opened = vault.unseal(
        key, row.guarantor_name, table="loan_guarantees", column="guarantor_name", row_id=row.id
    )
    assert opened == NAME
    # nor does the audit trail keep the guarantor's name
    async with session_factory(db)() as s:
        details = (
            await s.scalars(select(AuditEntry.detail).where(AuditEntry.action == "guarantee.add"))
        ).all()
    assert details
    assert NAME not in str(details)
    assert IDENTITY not in str(details)


async def test_the_close_lowers_the_ecl_for_pledged_collateral_and_raises_it_on_release(
    world: World, db: AsyncEngine
) -> None:
    risk, officer = world.people["risk"], world.people["officer"]
    today = utcnow().date()
    sessions = session_factory(db)

    async def closed() -> dict[str, Any]:
        await provisioning.stage_book(sessions, as_of=today)
        found: dict[str, Any] = (await risk.data(CREDIT_LOSS, {"id": world.loans[0]}))["node"][
            "creditLoss"
        ]
        return found

    # given: a close before any security
    before = await closed()
    # when: the loan is secured by a building and a guarantee scheme, closed again, then
    # the building is released and the guarantor let go, and closed once more
    item = await act(officer, PLEDGE, **_building(world.loans[0], "5000.00"))
    given = await act(
        officer,
        GUARANTEE,
        loanId=world.loans[0],
        kind="GUARANTEE_SCHEME",
        guarantorName="National SME Fund",
        amount="2000.00",
    )
    secured = await closed()
    await act(officer, RELEASE, collateralItemId=item["id"])
    await act(officer, LET_GO, guaranteeId=given["id"])
    unsecured = await closed()
    by_owner = await world.people["owner"].post(CREDIT_LOSS, {"id": world.loans[0]})

    # then: the covered part (3,000 + 1,800) takes 25% instead of 45%
    ead = Decimal(secured["exposure"])
    expected = (Decimal("4800") * Decimal("0.25") + (ead - 4800) * Decimal("0.45")) / ead
    assert Decimal(before["lossGivenDefault"]) == Decimal("0.45")
    assert Decimal(secured["lossGivenDefault"]) == expected.quantize(Decimal("0.000001"))
    assert Decimal(secured["expectedLoss"]) < Decimal(before["expectedLoss"])
    assert Decimal(unsecured["expectedLoss"]) > Decimal(secured["expectedLoss"])
    assert unsecured["lossGivenDefault"] == before["lossGivenDefault"]
    # the ECL is the institution's estimate: not its borrower's to read
    assert by_owner["data"]["node"]["creditLoss"] is None
    assert by_owner["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_recovery_realises_an_item_or_calls_a_guarantee(world: World) -> None:
    officer, risk = world.people["officer"], world.people["risk"]
    item = await act(officer, PLEDGE, **_building(world.loans[0], "5000.00"))
    given = await act(
        officer,
        GUARANTEE,
        loanId=world.loans[0],
        kind="PERSONAL",
        guarantorName=NAME,
        amount="900.00",
    )
    other = await act(officer, PLEDGE, **_building(world.loans[1], "100.00"))
    await act(risk, WRITE_OFF, loanId=world.loans[0], reason="the business closed")
    # when: the building is sold, the guarantor pays; a recovery names another loan's item;
    # a recovery names both
    sold = await act(
        officer,
        RECOVER,
        loanId=world.loans[0],
        idempotencyKey="a",
        amount="4000.00",
        collateralItemId=item["id"],
    )
    paid = await act(
        officer,
        RECOVER,
        loanId=world.loans[0],
        idempotencyKey="b",
        amount="900.00",
        guaranteeId=given["id"],
    )
    foreign = await act(
        officer,
        RECOVER,
        loanId=world.loans[0],
        idempotencyKey="c",
        amount="1.00",
        collateralItemId=other["id"],
    )
    twice = await act(
        officer,
        RECOVER,
        loanId=world.loans[0],
        idempotencyKey="d",
        amount="1.00",
        collateralItemId=item["id"],
    )
    seen = (await risk.data(LOAN, {"id": world.loans[0]}))["node"]

    assert (sold["__typename"], paid["__typename"]) == ("RecoveryRecorded", "RecoveryRecorded")
    assert (seen["collateral"][0]["status"], seen["guarantees"][0]["status"]) == (
        "REALISED",
        "CALLED",
    )
    assert (foreign["__typename"], foreign["field"]) == ("InvalidInput", "input.collateralItemId")
    assert (twice["__typename"], twice["code"]) == ("InvalidInput", "INVALID_TRANSITION")
