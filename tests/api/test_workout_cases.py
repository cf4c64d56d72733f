"""Workout cases through GraphQL: opened by an alert's disposal and linked to it, promises
kept and broken against repayments, restructuring through a forborne amendment, the
write-off, legal action (costs charged, judgment) and the sale of the claim (booked,
later payments refused), the SLA, tenant isolation, and collection notes sealed and
masked."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.relay import decode_global_id
from domain.audit.models import AuditEntry
from domain.identity.models import Role
from domain.ledger import loans as books
from domain.ledger import service as ledger
from domain.ledger.chart import AccountCode
from domain.ledger.models import EntryKind, JournalEntry, JournalLine, LedgerAccount
from domain.ledger.service import Leg
from domain.lending import charges
from domain.lending.models import Installment, Loan
from domain.lending.schedule import add_months
from domain.products.models import Product
from domain.risk.models import AlertSeverity, AlertStatus, RiskAlert
from domain.settings import Settings
from domain.workout import claims
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


async def on_the_books(s: AsyncSession, loan: Loan) -> None:
    """The loan's disbursement posted, as disbursing posts it (the world books none)."""
    await books.disbursed(
        s,
        institution_id=loan.institution_id,
        loan_id=loan.id,
        principal=loan.principal,
        on=loan.disbursed_on,
        actor_id=None,
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


# --------------------------------------------------------------------- legal and sale

CLAIM_FIELDS = """
  id strategy state outcome version filedOn court courtReference legalCostAmount
  judgmentAmount buyer saleAmount saleProfit loan { id status }
"""
LEGAL = f"""
mutation($input: RecordLegalActionInput!) {{
  recordLegalAction(input: $input) {{
    __typename
    ... on WorkoutCase {{ {CLAIM_FIELDS} }}
    ... on InvalidInput {{ code message field }}
    ... on UserError {{ code message }}
  }}
}}
"""
RESOLVE = f"""
mutation($input: UpdateWorkoutCaseInput!) {{
  updateWorkoutCase(input: $input) {{
    __typename
    ... on WorkoutCase {{ {CLAIM_FIELDS} }}
    ... on InvalidInput {{ code message field }}
    ... on UserError {{ code message }}
  }}
}}
"""
REPAY_FIELD = """
mutation($input: RecordRepaymentInput!) {
  recordRepayment(input: $input) {
    __typename
    ... on RepaymentRecorded { repayment { feePart } }
    ... on InvalidInput { code message field }
    ... on UserError { code message }
  }
}
"""


async def test_legal_and_sale_disposals_open_cases_of_their_kind(world: World) -> None:
    officer = world.people["officer"]
    # given: alerts on loan 0 and loan 1; when: disposed of as LEGAL_ACTION and SALE
    for alert, disposal in ((world.alerts[0], "LEGAL_ACTION"), (world.alerts[2], "SALE")):
        done = await act(
            officer, DISPOSE, alertId=alert, action="DISPOSE", disposal=disposal, note="x" * 12
        )
        assert done["disposal"] == disposal
    legal = (await officer.data(ALERT, {"id": world.alerts[0]}))["node"]["workoutCase"]
    sale = (await officer.data(ALERT, {"id": world.alerts[2]}))["node"]["workoutCase"]
    # then: each opened a case of its strategy for its loan, linked to the alert
    assert (legal["strategy"], legal["loan"]["id"]) == ("LEGAL_ACTION", world.loans[0])
    assert (sale["strategy"], sale["loan"]["id"]) == ("SALE", world.loans[1])
    assert [a["id"] for a in legal["alerts"]] == [world.alerts[0]]
    assert [a["id"] for a in sale["alerts"]] == [world.alerts[2]]


async def test_legal_action_charges_its_costs_to_the_loan_and_resolves_by_judgment(
    world: World, db: AsyncEngine
) -> None:
    officer, risk = world.people["officer"], world.people["risk"]
    today = utcnow().date()
    loan_pk = decode_global_id(world.loans[1])[1]
    async with session_factory(db)() as s:
        fees_before = await s.scalar(
            select(func.sum(Installment.fee_due)).where(Installment.loan_id == loan_pk)
        )
    case = await act(officer, OPEN, loanId=world.loans[1], strategy="LEGAL_ACTION")
    other = await act(officer, OPEN, loanId=world.loans[2], strategy="COLLECTION")
    filing = {
        "caseId": case["id"],
        "filedOn": today.isoformat(),
        "court": "Pudong New Area People's Court",
        "reference": "(2026) Hu 0115 Min Chu 1234",
        "costAmount": "350.00",
        "expectedVersion": case["version"],
    }
    # when: costs that are not cents, a filing in the future, legal action on a
    # COLLECTION case, then the filing, then the same call again (a retry)
    bad_costs = await act(officer, LEGAL, **{**filing, "costAmount": "-1"})
    future = await act(
        officer, LEGAL, **{**filing, "filedOn": (today + timedelta(days=1)).isoformat()}
    )
    not_legal = await act(
        officer, LEGAL, **{**filing, "caseId": other["id"], "expectedVersion": other["version"]}
    )
    early_judgment = await act(
        risk, RESOLVE, caseId=case["id"], action="START"
    )  # started, but nothing filed yet
    unfiled = await act(
        risk,
        RESOLVE,
        caseId=case["id"],
        action="RESOLVE",
        outcome="JUDGMENT",
        judgmentAmount="1000",
    )
    filed = await act(officer, LEGAL, **{**filing, "expectedVersion": early_judgment["version"]})
    retried = await act(officer, LEGAL, **{**filing, "expectedVersion": early_judgment["version"]})
    no_amount = await act(risk, RESOLVE, caseId=case["id"], action="RESOLVE", outcome="JUDGMENT")
    judged = await act(
        risk,
        RESOLVE,
        caseId=case["id"],
        action="RESOLVE",
        outcome="JUDGMENT",
        judgmentAmount="52000.00",
    )
    # and the borrower's next payment settles the costs first (fees before interest)
    paid = await act(officer, REPAY_FIELD, loanId=world.loans[1], idempotencyKey="k", amount="350")

    # then
    assert (bad_costs["code"], bad_costs["field"]) == ("BAD_USER_INPUT", "input.costAmount")
    assert future["field"] == "input.filedOn"
    assert not_legal["field"] == "input.caseId"
    assert unfiled["field"] == "input.outcome"
    assert filed["__typename"] == "WorkoutCase"
    assert (
        filed["filedOn"],
        filed["court"],
        filed["courtReference"],
        filed["legalCostAmount"],
    ) == (
        today.isoformat(),
        "Pudong New Area People's Court",
        "(2026) Hu 0115 Min Chu 1234",
        "350.00",
    )
    assert retried["code"] == "CONFLICT"
    assert no_amount["field"] == "input.judgmentAmount"
    assert (judged["state"], judged["outcome"], judged["judgmentAmount"]) == (
        "RESOLVED",
        "JUDGMENT",
        "52000.00",
    )
    assert judged["loan"]["status"] == "ACTIVE"
    assert paid["repayment"]["feePart"] == "350.00"
    async with session_factory(db)() as s:
        fees_after = await s.scalar(
            select(func.sum(Installment.fee_due)).where(Installment.loan_id == loan_pk)
        )
        actions = (
            await s.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.entity_id == str(decode_global_id(case["id"])[1]))
                .order_by(AuditEntry.at, AuditEntry.id)
            )
        ).all()
    assert fees_after - fees_before == Decimal("350.00")  # charged once, not twice
    assert list(actions) == [
        "workout_case.open",
        "workout_case.start",
        "workout_case.legal_action",
        "workout_case.resolve",
    ]


@pytest.mark.parametrize("gain", [False, True], ids=["loss", "gain"])
async def test_a_sold_claim_closes_the_loan_books_the_difference_and_refuses_payments(
    world: World, db: AsyncEngine, gain: bool
) -> None:
    officer, risk = world.people["officer"], world.people["risk"]
    loan_pk = decode_global_id(world.loans[2])[1]
    # given: the loan on the books (its principal, 40.00 of interest accrued through
    # today, so the sale has nothing left to accrue) and a loss allowance of 120.00
    async with session_factory(db)() as s, s.begin():
        loan = await s.get_one(Loan, loan_pk)
        await on_the_books(s, loan)
        loan.accrued_through = utcnow().date()
        await ledger.post(
            s,
            institution_id=loan.institution_id,
            loan_id=loan.id,
            kind=EntryKind.ACCRUAL,
            effective_on=utcnow().date(),
            source=f"test-accrual:{loan.id}",
            legs=[
                Leg.debit(AccountCode.INTEREST_RECEIVABLE, Decimal("40.00")),
                Leg.credit(AccountCode.INTEREST_INCOME, Decimal("40.00")),
            ],
        )
        await ledger.post(
            s,
            institution_id=loan.institution_id,
            loan_id=loan.id,
            kind=EntryKind.PROVISION,
            effective_on=utcnow().date(),
            source=f"test-provision:{loan.id}",
            legs=[
                Leg.debit(AccountCode.PROVISION_EXPENSE, Decimal("120.00")),
                Leg.credit(AccountCode.LOSS_ALLOWANCE, Decimal("120.00")),
            ],
        )
    async with session_factory(db)() as s:
        held = (await ledger.loan_balances(s, [loan_pk]))[loan_pk]
    carried = sum((held.get(code, Decimal(0)) for code in claims.RECEIVABLES), Decimal(0))
    net = carried - Decimal("120.00")
    assert held[AccountCode.INTEREST_RECEIVABLE] == Decimal("40.00")
    price = net + Decimal("25.00") if gain else (net * Decimal("0.4")).quantize(Decimal("0.01"))
    case = await act(risk, OPEN, loanId=world.loans[2], strategy="SALE")
    await act(risk, RESOLVE, caseId=case["id"], action="START")
    sale = {"caseId": case["id"], "action": "RESOLVE", "outcome": "CLAIM_SOLD"}
    # when: an officer (not a risk officer or admin) sells; a sale with no buyer; then
    # the risk officer sells it; then the borrower pays
    by_officer = await officer.post(
        RESOLVE, {"input": {**sale, "buyer": "Eastern AMC", "saleAmount": str(price)}}
    )
    no_buyer = await act(risk, RESOLVE, **sale, saleAmount=str(price))
    sold = await act(risk, RESOLVE, **sale, buyer="Eastern AMC", saleAmount=str(price))
    paid = await act(officer, REPAY_FIELD, loanId=world.loans[2], idempotencyKey="k", amount="10")

    # then
    assert by_officer["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert no_buyer["field"] == "input.buyer"
    assert (sold["state"], sold["outcome"], sold["buyer"]) == (
        "RESOLVED",
        "CLAIM_SOLD",
        "Eastern AMC",
    )
    assert Decimal(sold["saleAmount"]) == price
    assert Decimal(sold["saleProfit"]) == price - net
    assert (Decimal(sold["saleProfit"]) > 0) is gain
    assert sold["loan"]["status"] == "CLOSED"
    assert (paid["code"], paid["field"]) == ("LOAN_SOLD", "input.loanId")
    async with session_factory(db)() as s:
        after = (await ledger.loan_balances(s, [loan_pk]))[loan_pk]
        loan = await s.get_one(Loan, loan_pk)
        entry = (
            await s.scalars(
                select(JournalEntry).where(
                    JournalEntry.loan_id == loan_pk, JournalEntry.kind == EntryKind.SALE
                )
            )
        ).one()
        lines = (await s.scalars(select(JournalLine).where(JournalLine.entry_id == entry.id))).all()
    # the loan left the books whole: no receivable, no allowance; the price is cash and
    # the difference is a loss or a gain, in one balanced entry
    assert {
        c: v for c, v in after.items() if c in (*claims.RECEIVABLES, AccountCode.LOSS_ALLOWANCE)
    } == {}
    assert sum(line.debit for line in lines) == sum(line.credit for line in lines)
    assert loan.sold_on == utcnow().date()
    assert loan.closed_on == utcnow().date()
    difference = AccountCode.RECOVERIES if gain else AccountCode.WRITE_OFF_EXPENSE
    assert after[difference] == (-(price - net) if gain else net - price)


async def test_a_sale_accrues_the_loan_up_to_the_sale_date_and_takes_all_of_it_off(
    world: World, db: AsyncEngine
) -> None:
    risk = world.people["risk"]
    loan_pk = decode_global_id(world.loans[2])[1]
    today = utcnow().date()
    last_run = today - timedelta(days=21)
    # given: the loan on the books, its interest accrued by the nightly run three weeks ago
    async with session_factory(db)() as s, s.begin():
        loan = await s.get_one(Loan, loan_pk)
        await on_the_books(s, loan)
        await charges.accrue(s, as_of=last_run, loan_ids=[loan_pk])
    async with session_factory(db)() as s:
        loan = await s.get_one(Loan, loan_pk)
        rows = (await s.scalars(select(Installment).where(Installment.loan_id == loan_pk))).all()
        product = await s.get_one(Product, loan.product_id)
        held = (await ledger.loan_balances(s, [loan_pk]))[loan_pk]
    assert loan.accrued_through == last_run
    earned_by_sale = charges.interest_receivable(
        [charges.row_of(r) for r in rows],
        disbursed_on=loan.disbursed_on,
        through=today,
        day_count=product.day_count,
    )
    assert earned_by_sale > held.get(AccountCode.INTEREST_RECEIVABLE, Decimal(0))
    case = await act(risk, OPEN, loanId=world.loans[2], strategy="SALE")
    await act(risk, RESOLVE, caseId=case["id"], action="START")

    # when: the claim is sold today
    sold = await act(
        risk,
        RESOLVE,
        caseId=case["id"],
        action="RESOLVE",
        outcome="CLAIM_SOLD",
        buyer="Eastern AMC",
        saleAmount="1000.00",
    )

    # then: the interest earned up to the sale date was booked before the sale, and the
    # sale took it off with every other receivable; the books balance
    assert sold["loan"]["status"] == "CLOSED"
    async with session_factory(db)() as s:
        loan = await s.get_one(Loan, loan_pk)
        after = (await ledger.loan_balances(s, [loan_pk]))[loan_pk]
        sale = (
            await s.scalars(
                select(JournalEntry).where(
                    JournalEntry.loan_id == loan_pk, JournalEntry.kind == EntryKind.SALE
                )
            )
        ).one()
        taken_off = await s.scalar(
            select(func.sum(JournalLine.credit))
            .join(LedgerAccount, LedgerAccount.id == JournalLine.account_id)
            .where(
                JournalLine.entry_id == sale.id,
                LedgerAccount.code == AccountCode.INTEREST_RECEIVABLE,
            )
        )
        debits, credits = (
            await s.execute(select(func.sum(JournalLine.debit), func.sum(JournalLine.credit)))
        ).one()
    assert loan.accrued_through == today
    assert taken_off == earned_by_sale
    assert {code: v for code, v in after.items() if code in claims.RECEIVABLES} == {}
    assert debits == credits


async def test_legal_action_stays_in_its_institution(world: World) -> None:
    officer = world.people["officer"]
    case = await act(officer, OPEN, loanId=world.loans[0], strategy="LEGAL_ACTION")
    filing = {
        "caseId": case["id"],
        "filedOn": utcnow().date().isoformat(),
        "court": "court",
        "reference": "ref",
        "costAmount": "0",
        "expectedVersion": case["version"],
    }
    # when: another institution's officer and risk officer, the borrower, and a
    # partner's auditor try to record the filing
    for name, code in (
        ("stranger", "NOT_FOUND"),
        ("other_risk", "NOT_FOUND"),
        ("owner", "FORBIDDEN"),
        ("auditor", "FORBIDDEN"),
    ):
        body = await world.people[name].post(LEGAL, {"input": filing})
        assert body["errors"][0]["extensions"]["code"] == code, name
    # then: nothing was filed, and the auditor reads the (empty) legal fields
    seen = await world.people["auditor"].data(
        "query($id: ID!) { node(id: $id) { ... on WorkoutCase { filedOn legalCostAmount } } }",
        {"id": case["id"]},
    )
    assert seen["node"] == {"filedOn": None, "legalCostAmount": None}


REVERSE = """
mutation($input: ReverseRepaymentInput!) {
  reverseRepayment(input: $input) {
    __typename
    ... on InvalidInput { code message field }
    ... on UserError { code message }
  }
}
"""


async def test_a_payment_stands_once_legal_costs_or_a_sale_were_built_on_it(
    world: World, db: AsyncEngine
) -> None:
    officer, risk = world.people["officer"], world.people["risk"]
    today = utcnow().date()
    async with session_factory(db)() as s, s.begin():
        for global_id in (world.loans[1], world.loans[2]):
            loan = await s.get_one(Loan, decode_global_id(global_id)[1])
            await on_the_books(s, loan)
            principal = loan.principal
    # given: a payment on each loan; then legal costs charged to loan 1 (and costs above
    # what was lent refused), and loan 2's claim sold
    for global_id in (world.loans[1], world.loans[2]):
        paid = await act(officer, REPAY_FIELD, loanId=global_id, idempotencyKey="k1", amount="10")
        assert "repayment" in paid
    legal = await act(officer, OPEN, loanId=world.loans[1], strategy="LEGAL_ACTION")
    filing = {
        "caseId": legal["id"],
        "filedOn": today.isoformat(),
        "court": "Pudong New Area People's Court",
        "reference": "(2026) Hu 0115 Min Chu 77",
        "expectedVersion": legal["version"],
    }
    too_much = await act(officer, LEGAL, **filing, costAmount=str(principal + Decimal("0.01")))
    filed = await act(officer, LEGAL, **filing, costAmount="350.00")
    sale = await act(risk, OPEN, loanId=world.loans[2], strategy="SALE")
    await act(risk, RESOLVE, caseId=sale["id"], action="START")
    sold = await act(
        risk,
        RESOLVE,
        caseId=sale["id"],
        action="RESOLVE",
        outcome="CLAIM_SOLD",
        buyer="Eastern AMC",
        saleAmount="100.00",
    )
    # when: the payments before them are reversed
    reason = "the transfer bounced"
    after_costs = await act(
        officer, REVERSE, loanId=world.loans[1], idempotencyKey="k1", reason=reason
    )
    after_sale = await act(
        officer, REVERSE, loanId=world.loans[2], idempotencyKey="k1", reason=reason
    )

    # then: costs above the principal are refused at their field; the costs and the sale
    # stand, and so do the payments they were built on
    assert (too_much["code"], too_much["field"]) == ("BAD_USER_INPUT", "input.costAmount")
    assert filed["legalCostAmount"] == "350.00"
    assert sold["loan"]["status"] == "CLOSED"
    assert (after_costs["code"], after_costs["field"]) == (
        "BAD_USER_INPUT",
        "input.idempotencyKey",
    )
    assert "legal costs were charged" in after_costs["message"]
    assert (after_sale["code"], after_sale["field"]) == ("LOAN_SOLD", "input.loanId")
    async with session_factory(db)() as s:
        costs = await s.scalar(
            select(func.sum(Installment.fee_due)).where(
                Installment.loan_id == decode_global_id(world.loans[1])[1]
            )
        )
        loan = await s.get_one(Loan, decode_global_id(world.loans[2])[1])
    assert costs is not None
    assert costs >= Decimal("350.00")
    assert loan.sold_on == today
