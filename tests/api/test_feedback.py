"""Service ratings and support tickets end to end through GraphQL, walked as the owner,
a loan officer, an institution admin, a loan officer of another bank and an auditor:
who may rate what (once), who sees which tickets, what of a comment or a message each
sees, and the figures by institution."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.applications.models import ApplicationStatus
from domain.identity.models import Role
from domain.models import AuditEntry, ServiceRating, SupportMessage, SupportTicket
from domain.risk.models import AlertSeverity, AlertStatus, RiskAlert
from domain.settings import Settings
from kernel.base import utcnow
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient

RATING = """
  __typename
  ... on ServiceRating { id eventKind eventId score comment institution { code } }
  ... on Conflict { code message }
  ... on InvalidInput { code message field }
"""
RATE = "mutation($input: RateServiceInput!) { rateService(input: $input) {" + RATING + "} }"
TICKET = """
  __typename
  ... on SupportTicket {
    id status version subject firstAnsweredAt closedAt
    loan { id } application { id } institution { code }
    messages { fromStaff body }
  }
  ... on Conflict { code message }
  ... on InvalidInput { code message field }
"""
OPEN = (
    "mutation($input: OpenSupportTicketInput!) { openSupportTicket(input: $input) {"
    + TICKET
    + "} }"
)
POST = (
    "mutation($input: PostSupportMessageInput!) { postSupportMessage(input: $input) {"
    + TICKET
    + "} }"
)
STATUS = (
    "mutation($input: SetSupportTicketStatusInput!) { setSupportTicketStatus(input: $input) {"
    + TICKET
    + "} }"
)
TICKETS = """
query { supportTickets(first: 20) { totalCount edges { node {
  id status subject messages { fromStaff body } } } } }
"""
RATINGS = """
query { serviceRatings(first: 20) { totalCount edges { node { id eventKind score comment } } } }
"""
NODE = """
query($id: ID!) { node(id: $id) {
  id ... on SupportTicket { subject } ... on ServiceRating { score comment } } }
"""
FIGURES = """
query { portfolioSummary { feedback {
  institutionCode ratings averageScore distribution ticketsOpened ticketsClosed
  medianHoursToFirstAnswer } } }
"""
GRANT = """
mutation($input: GrantConsentInput!) { grantConsent(input: $input) { __typename } }
"""
PREFERENCES = """
mutation($input: SetPrivacyPreferencesInput!) { setPrivacyPreferences(input: $input) {
  __typename } }
"""

COMMENT = "The officer called me back within the hour; very clear about the terms."
SUBJECT = "Question about my second instalment"
MESSAGE = "Can I move the due date of my second instalment to the 20th?"
ANSWER = "Yes, we moved it to the 20th; the new schedule is in your account."


@dataclass
class Bank:
    owner: GraphQLClient
    other_owner: GraphQLClient
    officer: GraphQLClient
    admin: GraphQLClient
    risk: GraphQLClient
    stranger: GraphQLClient  # a loan officer of another bank
    stranger_admin: GraphQLClient
    auditor: GraphQLClient
    privacy: GraphQLClient
    tokens: dict[str, str]
    code: str
    enterprise: str
    quiet_enterprise: str  # the owner's, with an application and no loan
    decided: str
    pending: str
    quiet_pending: str
    loan: str
    closed_alert: str
    open_alert: str
    others_decided: str  # another owner's


def gid(type_name: str, pk: uuid.UUID) -> str:
    return f.global_id(type_name, pk)


@pytest.fixture
async def bank(gql: GraphQLClient, db: AsyncEngine, settings: Settings) -> Bank:
    async with session_factory(db)() as s, s.begin():
        home = await f.institution(s)
        other = await f.institution(s)
        product = await f.product(s, institution_id=home.id)
        owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
        other_owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
        mine = await f.enterprise(s, owner_id=owner.id)
        quiet = await f.enterprise(s, owner_id=owner.id)
        theirs = await f.enterprise(s, owner_id=other_owner.id)
        decided = await f.application(
            s, enterprise_id=mine.id, product_row=product, status=ApplicationStatus.REJECTED
        )
        decided.first_decided_at = utcnow() - timedelta(days=1)
        pending = await f.application(s, enterprise_id=mine.id, product_row=product)
        quiet_pending = await f.application(s, enterprise_id=quiet.id, product_row=product)
        paid = await f.application(
            s, enterprise_id=mine.id, product_row=product, status=ApplicationStatus.DISBURSED
        )
        loan = await f.loan(s, application_row=paid)
        alerts = []
        for n, status in enumerate((AlertStatus.RESOLVED, AlertStatus.OPEN)):
            alert = RiskAlert(
                institution_id=home.id,
                loan_id=loan.id,
                enterprise_id=mine.id,
                rule_code=f"rule_{n}",
                severity=AlertSeverity.MEDIUM,
                status=status,
                title="days past due",
                resolved_at=utcnow() if status is AlertStatus.RESOLVED else None,
            )
            s.add(alert)
            alerts.append(alert)
        others = await f.application(
            s, enterprise_id=theirs.id, product_row=product, status=ApplicationStatus.REJECTED
        )
        others.first_decided_at = utcnow()
        people = {
            "owner": owner,
            "other_owner": other_owner,
            "officer": await f.user(s, roles=[(Role.LOAN_OFFICER, home.id)]),
            "admin": await f.user(s, roles=[(Role.INSTITUTION_ADMIN, home.id)]),
            "risk": await f.user(s, roles=[(Role.RISK_OFFICER, home.id)]),
            "stranger": await f.user(s, roles=[(Role.LOAN_OFFICER, other.id)]),
            "stranger_admin": await f.user(s, roles=[(Role.INSTITUTION_ADMIN, other.id)]),
            "auditor": await f.user(s, roles=[(Role.AUDITOR, None)]),
            "privacy": await f.user(s, roles=[(Role.PRIVACY_OFFICER, None)]),
        }
        await s.flush()
        tokens = {k: await f.access_token(s, settings, u) for k, u in people.items()}
    return Bank(
        **{k: gql.as_(t) for k, t in tokens.items()},
        tokens=tokens,
        code=home.code,
        enterprise=gid("Enterprise", mine.id),
        quiet_enterprise=gid("Enterprise", quiet.id),
        decided=gid("Application", decided.id),
        pending=gid("Application", pending.id),
        quiet_pending=gid("Application", quiet_pending.id),
        loan=gid("Loan", loan.id),
        closed_alert=gid("RiskAlert", alerts[0].id),
        open_alert=gid("RiskAlert", alerts[1].id),
        others_decided=gid("Application", others.id),
    )


async def act(client: GraphQLClient, document: str, **values: Any) -> dict[str, Any]:
    data = await client.data(document, {"input": values})
    result: dict[str, Any] = next(iter(data.values()))
    return result


def masked(value: str | None, plain: str) -> bool:
    return value is not None and value != plain and value.startswith(plain[0]) and "*" in value


async def test_an_owner_rates_each_event_once_and_each_role_sees_what_the_policy_says(
    bank: Bank, db: AsyncEngine
) -> None:
    # when: the owner rates a decision (with a comment), a disbursement and a closed alert
    decision = await act(
        bank.owner,
        RATE,
        eventKind="APPLICATION_DECISION",
        eventId=bank.decided,
        score=4,
        comment=COMMENT,
    )
    payout = await act(bank.owner, RATE, eventKind="DISBURSEMENT", eventId=bank.loan, score=5)
    alert = await act(
        bank.owner, RATE, eventKind="RISK_ALERT_CLOSED", eventId=bank.closed_alert, score=2
    )
    # then: each is a rating of the bank, the comment the owner's own to read
    assert decision["__typename"] == "ServiceRating", decision
    assert (decision["score"], decision["comment"]) == (4, COMMENT)
    assert decision["eventId"] == bank.decided
    assert decision["institution"]["code"] == bank.code
    assert payout["eventKind"] == "DISBURSEMENT"
    assert alert["eventKind"] == "RISK_ALERT_CLOSED"

    # when: the same event again, events that have not happened, and other refusals
    again = await act(
        bank.owner, RATE, eventKind="APPLICATION_DECISION", eventId=bank.decided, score=1
    )
    undecided = await act(
        bank.owner, RATE, eventKind="APPLICATION_DECISION", eventId=bank.pending, score=3
    )
    still_open = await act(
        bank.owner, RATE, eventKind="RISK_ALERT_CLOSED", eventId=bank.open_alert, score=3
    )
    too_high = await act(
        bank.owner, RATE, eventKind="APPLICATION_DECISION", eventId=bank.pending, score=6
    )
    wrong_type = await act(
        bank.owner, RATE, eventKind="DISBURSEMENT", eventId=bank.decided, score=3
    )
    not_theirs = await bank.owner.post(
        RATE,
        {
            "input": {
                "eventKind": "APPLICATION_DECISION",
                "eventId": bank.others_decided,
                "score": 1,
            }
        },
    )
    by_officer = await bank.officer.post(
        RATE, {"input": {"eventKind": "DISBURSEMENT", "eventId": bank.loan, "score": 1}}
    )
    # then: each refused with its stable code, and nothing written
    assert (again["__typename"], again["code"]) == ("Conflict", "ALREADY_RATED")
    assert (undecided["code"], undecided["field"]) == ("NOT_RATABLE", "input.eventId")
    assert (still_open["code"], still_open["field"]) == ("NOT_RATABLE", "input.eventId")
    assert (too_high["code"], too_high["field"]) == ("BAD_USER_INPUT", "input.score")
    assert (wrong_type["code"], wrong_type["field"]) == ("BAD_USER_INPUT", "input.eventId")
    assert not_theirs["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert by_officer["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    async with session_factory(db)() as s:
        rows = (await s.scalars(select(ServiceRating))).all()
        audited = (
            await s.scalars(select(AuditEntry).where(AuditEntry.action == "feedback.service_rated"))
        ).all()
    assert len(rows) == 3
    assert len(audited) == 3
    # the comment is sealed at rest
    assert all(r.comment is None or COMMENT not in r.comment for r in rows)
    assert sum(r.comment is not None for r in rows) == 1

    # then: what each role sees of the ratings
    def seen(data: dict[str, Any]) -> dict[int, str | None]:
        edges = data["serviceRatings"]["edges"]
        return {e["node"]["score"]: e["node"]["comment"] for e in edges}

    assert seen(await bank.owner.data(RATINGS)) == {4: COMMENT, 5: None, 2: None}
    officer = seen(await bank.officer.data(RATINGS))
    assert set(officer) == {4, 5, 2}
    assert masked(officer[4], COMMENT)  # loan officers read the comment masked
    assert seen(await bank.admin.data(RATINGS))[4] == COMMENT  # admins revealed
    auditor = seen(await bank.auditor.data(RATINGS))
    assert masked(auditor[4], COMMENT)  # oversight: every rating, no personal value
    assert (await bank.stranger.data(RATINGS))["serviceRatings"]["totalCount"] == 0
    assert (await bank.other_owner.data(RATINGS))["serviceRatings"]["totalCount"] == 0
    hidden = await bank.stranger.post(NODE, {"id": decision["id"]})
    assert hidden["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    found = await bank.admin.data(NODE, {"id": decision["id"]})
    assert found["node"]["comment"] == COMMENT


async def test_a_ticket_is_answered_closed_and_reopened_within_its_institution(
    bank: Bank, db: AsyncEngine, http: httpx.AsyncClient
) -> None:
    # when: the owner asks about the loan
    opened = await act(bank.owner, OPEN, loanId=bank.loan, subject=SUBJECT, message=MESSAGE)
    assert opened["__typename"] == "SupportTicket", opened
    assert opened["status"] == "OPEN"
    assert opened["subject"] == SUBJECT
    assert opened["loan"]["id"] == bank.loan
    assert opened["messages"] == [{"fromStaff": False, "body": MESSAGE}]
    ticket = opened["id"]

    # then: its institution's staff see it, revealed (an active loan is the lawful basis)
    listed = (await bank.officer.data(TICKETS))["supportTickets"]
    assert listed["totalCount"] == 1
    assert listed["edges"][0]["node"]["subject"] == SUBJECT
    assert listed["edges"][0]["node"]["messages"][0]["body"] == MESSAGE
    # ...but not for marketing, where no basis holds
    marketing = await http.post(
        "/graphql",
        json={"query": TICKETS},
        headers={"authorization": f"Bearer {bank.tokens['officer']}", "x-purpose": "marketing"},
    )
    node = marketing.json()["data"]["supportTickets"]["edges"][0]["node"]
    assert masked(node["subject"], SUBJECT)
    assert masked(node["messages"][0]["body"], MESSAGE)
    # another bank, another owner: nothing; the auditor: every ticket, masked
    assert (await bank.stranger.data(TICKETS))["supportTickets"]["totalCount"] == 0
    assert (await bank.other_owner.data(TICKETS))["supportTickets"]["totalCount"] == 0
    hidden = await bank.stranger.post(NODE, {"id": ticket})
    assert hidden["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    audit_view = (await bank.auditor.data(TICKETS))["supportTickets"]["edges"][0]["node"]
    assert masked(audit_view["subject"], SUBJECT)
    assert masked(audit_view["messages"][0]["body"], MESSAGE)

    # when: the officer answers, the owner writes again, the officer closes
    answered = await act(bank.officer, POST, ticketId=ticket, message=ANSWER)
    followed = await act(bank.owner, POST, ticketId=ticket, message="Thank you!")
    stale = await act(
        bank.officer,
        STATUS,
        ticketId=ticket,
        status="CLOSED",
        expectedVersion=answered["version"],
    )
    closed = await act(
        bank.admin, STATUS, ticketId=ticket, status="CLOSED", expectedVersion=followed["version"]
    )
    late = await act(bank.officer, POST, ticketId=ticket, message="one more thing")
    staff_reopen = await act(bank.officer, STATUS, ticketId=ticket, status="OPEN")
    reopened = await act(bank.owner, STATUS, ticketId=ticket, status="OPEN")
    stranger = await bank.stranger.post(POST, {"input": {"ticketId": ticket, "message": "hi"}})
    auditor = await bank.auditor.post(POST, {"input": {"ticketId": ticket, "message": "hi"}})

    # then: the thread and the states as the rules say
    assert answered["status"] == "ANSWERED"
    assert answered["firstAnsweredAt"] is not None
    assert [m["fromStaff"] for m in answered["messages"]] == [False, True]
    assert followed["status"] == "OPEN"
    assert followed["firstAnsweredAt"] == answered["firstAnsweredAt"]
    assert stale["code"] == "CONFLICT"
    assert closed["status"] == "CLOSED"
    assert closed["closedAt"] is not None
    assert late["code"] == "TICKET_CLOSED"
    assert (staff_reopen["code"], staff_reopen["field"]) == ("INVALID_TRANSITION", "input.status")
    assert reopened["status"] == "OPEN"
    assert reopened["closedAt"] is None
    assert stranger["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert auditor["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    async with session_factory(db)() as s:
        messages = (await s.scalars(select(SupportMessage))).all()
        subjects = (await s.scalars(select(SupportTicket.subject))).all()
        actions = (
            await s.scalars(
                select(AuditEntry.action).where(AuditEntry.entity_type == "support_ticket")
            )
        ).all()
    assert len(messages) == 3
    assert all(MESSAGE not in m.body and ANSWER not in m.body for m in messages)
    assert SUBJECT not in subjects[0]
    assert sorted(actions) == sorted(
        ["support.ticket_opened"]
        + ["support.message_posted"] * 2
        + ["support.ticket_status_changed"] * 2
    )


async def test_tickets_are_refused_about_what_is_not_the_owners(bank: Bank) -> None:
    both = await act(
        bank.owner, OPEN, loanId=bank.loan, applicationId=bank.pending, subject="s", message="m"
    )
    empty = await act(bank.owner, OPEN, loanId=bank.loan, subject="  ", message="m")
    theirs = await bank.owner.post(
        OPEN, {"input": {"applicationId": bank.others_decided, "subject": "s", "message": "m"}}
    )
    by_officer = await bank.officer.post(
        OPEN, {"input": {"loanId": bank.loan, "subject": "s", "message": "m"}}
    )
    assert (both["code"], both["field"]) == ("BAD_USER_INPUT", "input.applicationId")
    assert (empty["code"], empty["field"]) == ("BAD_USER_INPUT", "input.subject")
    assert theirs["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert by_officer["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_staff_see_messages_masked_once_the_owner_stops_sharing_with_institutions(
    bank: Bank,
) -> None:
    # given: the quiet enterprise consented to credit assessment by the bank, no loan
    granted = await act(
        bank.owner,
        GRANT,
        subjectId=bank.quiet_enterprise,
        purpose="credit_assessment",
        recipientInstitutionId=(await _institution_id(bank)),
        textVersion="credit-2026-01",
    )
    assert granted["__typename"] == "Consent"
    await act(bank.owner, OPEN, applicationId=bank.quiet_pending, subject=SUBJECT, message=MESSAGE)
    before = (await bank.officer.data(TICKETS))["supportTickets"]["edges"][0]["node"]
    # when: the owner switches sharing with institutions off (the preference centre)
    switched = await act(bank.owner, PREFERENCES, shareWithInstitutions=False)
    after = (await bank.officer.data(TICKETS))["supportTickets"]["edges"][0]["node"]
    # then: the consent no longer counts, and the staff see the ticket masked
    assert switched["__typename"] == "PrivacyPreferences"
    assert before["subject"] == SUBJECT
    assert masked(after["subject"], SUBJECT)
    assert masked(after["messages"][0]["body"], MESSAGE)


async def _institution_id(bank: Bank) -> str:
    rated = await bank.officer.data(
        "query($id: ID!) { node(id: $id) { ... on Loan { institution { id } } } }",
        {"id": bank.loan},
    )
    found: str = rated["node"]["institution"]["id"]
    return found


async def test_satisfaction_and_ticket_figures_by_institution(bank: Bank) -> None:
    for event, kind, score in (
        (bank.decided, "APPLICATION_DECISION", 4),
        (bank.loan, "DISBURSEMENT", 5),
        (bank.closed_alert, "RISK_ALERT_CLOSED", 2),
    ):
        assert (await act(bank.owner, RATE, eventKind=kind, eventId=event, score=score))[
            "__typename"
        ] == "ServiceRating"
    first = await act(bank.owner, OPEN, loanId=bank.loan, subject="a", message="b")
    await act(bank.owner, OPEN, applicationId=bank.pending, subject="c", message="d")
    await act(bank.officer, POST, ticketId=first["id"], message="answered")
    await act(bank.owner, STATUS, ticketId=first["id"], status="CLOSED")

    for reader in (bank.risk, bank.admin, bank.auditor):
        lines = (await reader.data(FIGURES))["portfolioSummary"]["feedback"]
        assert len(lines) == 1, lines
        line = lines[0]
        assert line["institutionCode"] == bank.code
        assert line["ratings"] == 3
        assert line["averageScore"] == pytest.approx(3.67)
        assert line["distribution"] == [0, 1, 0, 1, 1]
        assert (line["ticketsOpened"], line["ticketsClosed"]) == (2, 1)
        assert line["medianHoursToFirstAnswer"] is not None
        assert line["medianHoursToFirstAnswer"] >= 0
    # another bank's admin: its own (empty) figures only
    assert (await bank.stranger_admin.data(FIGURES))["portfolioSummary"]["feedback"] == []
    refused = await bank.officer.post(FIGURES)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


ERASE = """
mutation($id: ID!) { eraseSubject(input: { subjectId: $id, reason: "the owner asked us to" }) {
  __typename ... on ErasureReceipt { removed } } }
"""


async def test_erasing_the_enterprise_shreds_its_tickets_words(bank: Bank) -> None:
    # given: a ticket about the quiet enterprise's application (no loan keeps it)
    opened = await act(
        bank.owner, OPEN, applicationId=bank.quiet_pending, subject=SUBJECT, message=MESSAGE
    )
    # when: a privacy officer erases the enterprise
    receipt = (await bank.privacy.data(ERASE, {"id": bank.quiet_enterprise}))["eraseSubject"]
    after = await bank.owner.data(
        NODE.replace("subject", "subject messages { body }"), {"id": opened["id"]}
    )
    # then: the keys of the subject and the message are gone with the enterprise's
    assert receipt["__typename"] == "ErasureReceipt", receipt
    assert {"support_tickets.subject", "support_messages.body"} <= set(receipt["removed"])
    assert "service_ratings.comment" not in receipt["removed"]
    assert after["node"]["subject"] is None
    assert after["node"]["messages"] == [{"body": None}]
