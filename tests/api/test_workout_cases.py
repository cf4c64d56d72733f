"""Workout cases through GraphQL: opened by an alert's disposal and linked to it, promises
kept and broken against repayments, restructuring through a forborne amendment, the
write-off, the SLA, tenant isolation, and collection notes sealed and masked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from api.relay import decode_global_id
from domain.audit.models import AuditEntry
from domain.identity.models import Role
from domain.lending.models import Loan
from domain.lending.schedule import add_months
from domain.risk.models import AlertSeverity, AlertStatus, RiskAlert
from domain.settings import Settings
from domain.workout.models import CollectionContact, PromiseToPay, WorkoutCase
from kernel.base import utcnow
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient

CASE_FIELDS = """
  id strategy state ownerId dueOn overdue outcome version
  loan { id forborne status }
  alerts { id disposal }
"""
OPEN = f"""
mutation($input: OpenWorkoutCaseInput!) {{
  openWorkoutCase(input: $input) {{
    __typename
    ... on WorkoutCase {{ {CASE_FIELDS} }}
    ... on InvalidInput {{ code message field }}
    ... on UserError {{ code message }}
  }}
}}
"""
UPDATE = f"""
mutation($input: UpdateWorkoutCaseInput!) {{
  updateWorkoutCase(input: $input) {{
    __typename
    ... on WorkoutCase {{ {CASE_FIELDS} }}
    ... on InvalidInput {{ code message field }}
    ... on UserError {{ code message }}
  }}
}}
"""
DISPOSE = """
mutation($input: UpdateRiskAlertInput!) {
  updateRiskAlert(input: $input) { __typename ... on RiskAlert { status disposal } }
}
"""
ALERT = f"""
query($id: ID!) {{
  node(id: $id) {{ ... on RiskAlert {{ id workoutCase {{ {CASE_FIELDS} }} }} }}
}}
"""
CASE = """
query($id: ID!) {
  node(id: $id) {
    ... on WorkoutCase {
      id state
      contacts { id channel outcome note }
      promises { id amount amountPaid status promisedOn }
    }
  }
}
"""
CASES = """
query($filter: WorkoutCaseFilter) {
  workoutCases(first: 50, filter: $filter) { totalCount edges { node { id overdue state } } }
}
"""
CONTACT = """
mutation($input: RecordCollectionContactInput!) {
  recordCollectionContact(input: $input) {
    __typename
    ... on CollectionContact { id channel outcome note }
    ... on UserError { code message }
  }
}
"""
PROMISE = """
mutation($input: RecordPromiseToPayInput!) {
  recordPromiseToPay(input: $input) {
    __typename
    ... on PromiseToPay { id amount status }
    ... on UserError { code message }
  }
}
"""
REPAY = """
mutation($input: RecordRepaymentInput!) {
  recordRepayment(input: $input) { __typename ... on UserError { code message } }
}
"""
PROPOSE = """
mutation($input: ProposeLoanAmendmentInput!) {
  proposeLoanAmendment(input: $input) {
    __typename ... on LoanAmendment { id termsHash forborne } ... on UserError { code message }
  }
}
"""
ACCEPT = """
mutation($input: AcceptLoanAmendmentInput!) {
  acceptLoanAmendment(input: $input) {
    __typename ... on LoanAmendmentAccepted { loan { forborne } } ... on UserError { code message }
  }
}
"""
NOTE = "Spoke to Mr Zhang Wei on 138-0000-1111; he will pay on Friday"


@dataclass
class World:
    loans: list[str]
    alerts: list[str]
    people: dict[str, GraphQLClient]
    ids: dict[str, str]  # people's global ids


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
        for _ in range(3):
            application = await f.application(s, enterprise_id=enterprise.id, product_row=product)
            loans.append(
                await f.booked_loan(
                    s,
                    application_row=application,
                    disbursed_on=add_months(today, -1) - timedelta(days=3),
                )
            )
        alerts = []
        for n, loan in enumerate([loans[0], loans[0], loans[1]]):
            alert = RiskAlert(
                institution_id=bank.id,
                loan_id=loan.id,
                enterprise_id=enterprise.id,
                rule_code=f"rule{n}",
                severity=AlertSeverity.HIGH,
                status=AlertStatus.OPEN,
                title="two instalments behind",
                due_at=utcnow() + timedelta(days=3),
            )
            s.add(alert)
            alerts.append(alert)
        users = {
            "owner": owner,
            "officer": await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)]),
            "collector": await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)]),
            "risk": await f.user(s, roles=[(Role.RISK_OFFICER, bank.id)]),
            "auditor": await f.user(s, roles=[(Role.AUDITOR, None)]),
            "stranger": await f.user(s, roles=[(Role.LOAN_OFFICER, other.id)]),
            "other_risk": await f.user(s, roles=[(Role.RISK_OFFICER, other.id)]),
        }
        await s.flush()
        people = {k: gql.as_(await f.access_token(s, settings, u)) for k, u in users.items()}
    return World(
        loans=[f.global_id("Loan", loan.id) for loan in loans],
        alerts=[f.global_id("RiskAlert", a.id) for a in alerts],
        people=people,
        ids={k: f.global_id("User", u.id) for k, u in users.items()},
    )


async def act(client: GraphQLClient, document: str, **values: Any) -> dict[str, Any]:
    data = await client.data(document, {"input": values})
    result: dict[str, Any] = next(iter(data.values()))
    return result


async def test_disposing_of_an_alert_opens_a_case_and_links_it(
    world: World, db: AsyncEngine
) -> None:
    officer = world.people["officer"]
    today = utcnow().date()
    # given: two alerts on loan 0, one on loan 1
    # when: the first is disposed of with COLLECTION, the second (same loan) with
    # RESTRUCTURE, the third with MONITOR
    note = "called the borrower, no payment yet"
    for alert, disposal in zip(world.alerts, ["COLLECTION", "RESTRUCTURE", "MONITOR"], strict=True):
        done = await act(
            officer, DISPOSE, alertId=alert, action="DISPOSE", disposal=disposal, note=note
        )
        assert done["status"] == "IN_PROGRESS"
    first = (await officer.data(ALERT, {"id": world.alerts[0]}))["node"]["workoutCase"]
    second = (await officer.data(ALERT, {"id": world.alerts[1]}))["node"]["workoutCase"]
    third = (await officer.data(ALERT, {"id": world.alerts[2]}))["node"]["workoutCase"]

    # then: one COLLECTION case for loan 0, due in the strategy's 14 days, owned by the
    # officer, both of its alerts linked; MONITOR opens nothing
    assert first["strategy"] == "COLLECTION"
    assert first["state"] == "OPEN"
    assert first["dueOn"] == (today + timedelta(days=14)).isoformat()
    assert first["ownerId"] == world.ids["officer"]
    assert first["loan"]["id"] == world.loans[0]
    assert second["id"] == first["id"]
    assert sorted(a["id"] for a in second["alerts"]) == sorted(world.alerts[:2])
    assert third is None
    async with session_factory(db)() as s:
        actions = (
            await s.scalars(
                select(AuditEntry.action).where(AuditEntry.entity_type == "WorkoutCase")
            )
        ).all()
    assert list(actions) == ["workout_case.open"]

    # and the SLA: past its due day the live case is overdue, in the list and the filter
    assert (await officer.data(CASES, {"filter": {"overdue": True}}))["workoutCases"][
        "totalCount"
    ] == 0
    async with session_factory(db)() as s, s.begin():
        await s.execute(update(WorkoutCase).values(due_on=today - timedelta(days=1)))
    overdue = (await officer.data(CASES, {"filter": {"overdue": True, "strategy": "COLLECTION"}}))[
        "workoutCases"
    ]
    not_overdue = (await officer.data(CASES, {"filter": {"overdue": False}}))["workoutCases"]
    assert [e["node"]["id"] for e in overdue["edges"]] == [first["id"]]
    assert overdue["edges"][0]["node"]["overdue"] is True
    assert not_overdue["totalCount"] == 0
    by_owner = await officer.data(CASES, {"filter": {"ownerId": world.ids["collector"]}})
    assert by_owner["workoutCases"]["totalCount"] == 0


async def test_a_case_moves_through_its_states_and_refuses_the_rest(world: World) -> None:
    officer, risk = world.people["officer"], world.people["risk"]
    opened = await act(officer, OPEN, loanId=world.loans[1], strategy="COLLECTION")
    case = opened["id"]
    again = await act(officer, OPEN, loanId=world.loans[1], strategy="SALE")
    closed_early = await act(officer, UPDATE, caseId=case, action="CLOSE")
    to_partner = await act(
        officer, UPDATE, caseId=case, action="ASSIGN", ownerId=world.ids["stranger"]
    )
    assigned = await act(
        officer, UPDATE, caseId=case, action="ASSIGN", ownerId=world.ids["collector"]
    )
    stale = await act(officer, UPDATE, caseId=case, action="START", expectedVersion=1)
    started = await act(officer, UPDATE, caseId=case, action="START")
    wrong_outcome = await act(officer, UPDATE, caseId=case, action="RESOLVE", outcome="JUDGMENT")
    resolved = await act(
        risk, UPDATE, caseId=case, action="RESOLVE", outcome="CURED", recoveredAmount="120.50"
    )
    cancelled = await act(officer, UPDATE, caseId=case, action="CANCEL")
    closed = await act(officer, UPDATE, caseId=case, action="CLOSE")

    assert opened["state"] == "OPEN"
    assert again["code"] == "CONFLICT"
    assert closed_early["code"] == "INVALID_TRANSITION"
    assert to_partner["field"] == "input.ownerId"
    assert assigned["ownerId"] == world.ids["collector"]
    assert stale["code"] == "CONFLICT"
    assert started["state"] == "IN_PROGRESS"
    assert wrong_outcome["field"] == "input.outcome"
    assert (resolved["state"], resolved["outcome"]) == ("RESOLVED", "CURED")
    assert cancelled["code"] == "INVALID_TRANSITION"
    assert closed["state"] == "CLOSED"


async def test_promises_are_kept_or_broken_by_the_repayments(world: World, db: AsyncEngine) -> None:
    officer = world.people["officer"]
    today = utcnow().date()
    case = (await act(officer, OPEN, loanId=world.loans[0], strategy="COLLECTION"))["id"]
    # given: three promises made today: 100.00 today, 500.00 next week, 50.00 today
    kept = await act(officer, PROMISE, caseId=case, promisedOn=today.isoformat(), amount="100")
    pending = await act(
        officer,
        PROMISE,
        caseId=case,
        promisedOn=(today + timedelta(days=7)).isoformat(),
        amount="500",
    )
    broken = await act(officer, PROMISE, caseId=case, promisedOn=today.isoformat(), amount="50")
    past = await act(
        officer,
        PROMISE,
        caseId=case,
        promisedOn=(today - timedelta(days=1)).isoformat(),
        amount="5",
    )
    # the last one was made ten days ago for yesterday, and nothing came in that window
    async with session_factory(db)() as s, s.begin():
        await s.execute(
            update(PromiseToPay)
            .where(PromiseToPay.id == decode_global_id(broken["id"])[1])
            .values(made_on=today - timedelta(days=10), promised_on=today - timedelta(days=1))
        )
    # when: the borrower pays 100.00 today
    paid = await act(officer, REPAY, loanId=world.loans[0], idempotencyKey="p1", amount="100")
    promises = (await officer.data(CASE, {"id": case}))["node"]["promises"]

    # then
    assert paid["__typename"] == "RepaymentRecorded"
    assert past["code"] == "BAD_USER_INPUT"
    assert kept["status"] == "PENDING"  # nothing paid yet when it was made
    shown = {p["id"]: (p["status"], p["amountPaid"]) for p in promises}
    assert shown[kept["id"]] == ("KEPT", "100.00")
    assert shown[pending["id"]] == ("PENDING", "100.00")
    assert shown[broken["id"]] == ("BROKEN", "0.00")


async def test_a_restructuring_resolves_by_a_signed_forborne_amendment(
    world: World, db: AsyncEngine
) -> None:
    officer, owner = world.people["officer"], world.people["owner"]
    case = await act(officer, OPEN, loanId=world.loans[2], strategy="RESTRUCTURING")
    await act(officer, UPDATE, caseId=case["id"], action="START")
    by_hand = await act(officer, UPDATE, caseId=case["id"], action="RESOLVE", outcome="CURED")
    proposed = await act(
        officer,
        PROPOSE,
        loanId=world.loans[2],
        effectiveOn=(utcnow().date() + timedelta(days=1)).isoformat(),
        reason="cash flow hit by a lost customer; six months' holiday",
        paymentHoliday={"months": 3, "interest": "CAPITALISED"},
        forborne=True,
    )
    accepted = await act(owner, ACCEPT, amendmentId=proposed["id"], termsHash=proposed["termsHash"])
    seen = (await officer.data(CASES, {"filter": {"state": "RESOLVED"}}))["workoutCases"]
    node = (
        await officer.data(
            "query($id: ID!) { node(id: $id) { ... on WorkoutCase { state outcome "
            "loan { forborne } } } }",
            {"id": case["id"]},
        )
    )["node"]

    assert case["loan"]["forborne"] is False
    assert by_hand["field"] == "input.outcome"
    assert accepted["loan"]["forborne"] is True
    assert seen["totalCount"] == 1
    assert node == {"state": "RESOLVED", "outcome": "RESTRUCTURED", "loan": {"forborne": True}}
    async with session_factory(db)() as s:
        loan = await s.get_one(Loan, decode_global_id(world.loans[2])[1])
        actions = (
            await s.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.entity_type == "WorkoutCase")
                .order_by(AuditEntry.at, AuditEntry.id)
            )
        ).all()
    assert loan.forborne is True
    assert list(actions) == ["workout_case.open", "workout_case.start", "workout_case.resolve"]


async def test_a_write_off_case_resolves_through_the_write_off(world: World) -> None:
    officer, risk = world.people["officer"], world.people["risk"]
    case = (await act(risk, OPEN, loanId=world.loans[1], strategy="WRITE_OFF"))["id"]
    await act(risk, UPDATE, caseId=case, action="START")
    no_reason = await act(risk, UPDATE, caseId=case, action="RESOLVE", outcome="WRITTEN_OFF")
    by_officer = await officer.post(
        UPDATE,
        {
            "input": {
                "caseId": case,
                "action": "RESOLVE",
                "outcome": "WRITTEN_OFF",
                "reason": "the business closed in March",
            }
        },
    )
    done = await act(
        risk,
        UPDATE,
        caseId=case,
        action="RESOLVE",
        outcome="WRITTEN_OFF",
        reason="the business closed in March",
    )
    assert no_reason["field"] == "input.reason"
    assert (
        by_officer["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    )  # write-offs are risk officers' and admins'
    assert (done["state"], done["outcome"]) == ("RESOLVED", "WRITTEN_OFF")
    assert done["loan"]["status"] == "WRITTEN_OFF"


async def test_cases_stay_in_their_institution_and_away_from_borrowers(world: World) -> None:
    officer = world.people["officer"]
    case = await act(officer, OPEN, loanId=world.loans[0], strategy="LEGAL_ACTION")
    contact = await act(officer, CONTACT, caseId=case["id"], channel="LETTER", outcome="REACHED")
    promise = await act(
        officer, PROMISE, caseId=case["id"], promisedOn=utcnow().date().isoformat(), amount="1"
    )
    for name in ("stranger", "other_risk", "owner"):
        client = world.people[name]
        listed = await client.data(CASES)
        assert listed["workoutCases"]["totalCount"] == 0, name
        for node_id in (case["id"], contact["id"], promise["id"]):
            body = await client.post(CASE, {"id": node_id})
            assert body["data"]["node"] is None, name
            assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND", name
    # another institution's staff cannot open, work or add to the case
    foreign_open = await world.people["stranger"].post(
        OPEN, {"input": {"loanId": world.loans[0], "strategy": "SALE"}}
    )
    foreign_update = await world.people["other_risk"].post(
        UPDATE, {"input": {"caseId": case["id"], "action": "CANCEL"}}
    )
    by_owner = await world.people["owner"].post(
        OPEN, {"input": {"loanId": world.loans[0], "strategy": "SALE"}}
    )
    assert foreign_open["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert foreign_update["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert by_owner["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_collection_notes_are_sealed_and_masked_for_those_who_must_not_read_them(
    world: World, db: AsyncEngine, gql: GraphQLClient
) -> None:
    officer = world.people["officer"]
    case = await act(officer, OPEN, loanId=world.loans[0], strategy="COLLECTION")
    recorded = await act(
        officer, CONTACT, caseId=case["id"], channel="PHONE", outcome="PROMISED", note=NOTE
    )
    by_officer = (await officer.data(CASE, {"id": case["id"]}))["node"]["contacts"]
    by_risk = (await world.people["risk"].data(CASE, {"id": case["id"]}))["node"]["contacts"]
    by_auditor = (await world.people["auditor"].data(CASE, {"id": case["id"]}))["node"]["contacts"]
    as_marketing = (
        await gql.http.post(
            "/graphql",
            json={"query": CASE, "variables": {"id": case["id"]}},
            headers={
                "authorization": f"Bearer {officer.token}",
                "x-purpose": "marketing",
            },
        )
    ).json()["data"]["node"]["contacts"]
    direct = await officer.data(CASE, {"id": recorded["id"]})

    assert recorded["note"] == NOTE
    assert by_officer[0]["note"] == NOTE
    assert by_risk[0]["note"] == NOTE
    for masked in (by_auditor[0]["note"], as_marketing[0]["note"]):
        assert masked is not None
        assert masked != NOTE
        assert "Zhang" not in masked
        assert "1111" not in masked
    assert by_auditor[0]["outcome"] == "PROMISED"
    assert direct["node"] == {}  # a CollectionContact is not a WorkoutCase
    async with session_factory(db)() as s:
        stored = await s.scalar(select(CollectionContact.note))
    assert stored is not None
    assert "Zhang" not in stored
