"""Early warning through the API: rules, dry runs, the warning system, alerts and their work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.audit.models import AuditEntry
from domain.identity.models import Role
from domain.lending.models import DelinquencyBucket, Loan
from domain.risk.alerts import escalate_overdue
from domain.risk.models import RiskAlert
from domain.risk.scan import run_scan
from domain.settings import Settings
from kernel.base import utcnow
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient

UPSERT = """
mutation($input: UpsertRiskRuleInput!) {
  upsertRiskRule(input: $input) {
    __typename
    ... on RiskRule { id code version expression indicators severity action enabled }
    ... on InvalidRule { code message position }
    ... on UserError { code message }
  }
}
"""
RULES = "{ riskRules { code version institutionId } }"
DRY_RUN = """
query($expression: String!) {
  dryRunRiskRule(expression: $expression) {
    __typename
    ... on RiskRuleDryRun { loansScanned matched unknown sample }
    ... on InvalidRule { code position }
  }
}
"""
SET_SYSTEM = """
mutation($input: SetWarningSystemInput!) {
  setWarningSystem(input: $input) {
    __typename
    ... on WarningSystem { version consistencyRatio indicators { name weight } }
    ... on InconsistentComparisons {
      code message consistencyRatio offending { row column given implied }
    }
    ... on UserError { code message }
  }
}
"""
ALERTS = """
query($filter: RiskAlertFilter) {
  riskAlerts(first: 10, filter: $filter) {
    totalCount
    edges { node { id ruleCode status severity version assignee { id } disposal overdue
                   loan { id } history { kind fromStatus toStatus note } } }
  }
}
"""
UPDATE = """
mutation($input: UpdateRiskAlertInput!) {
  updateRiskAlert(input: $input) {
    __typename
    ... on RiskAlert { status version assignee { id } disposal acknowledgedAt resolvedAt }
    ... on UserError { code message }
  }
}
"""
WARNING = """
query($id: ID!) { node(id: $id) { ... on Loan { warning { score level levels indicators } } } }
"""
LATE_RULE = {
    "code": "late",
    "name": "More than a month late",
    "expression": "days_past_due>30",
    "severity": "HIGH",
    "action": "COLLECTION",
}


@dataclass
class Book:
    loans: dict[str, Loan]
    tokens: dict[str, str]
    ids: dict[str, Any]


@pytest.fixture
async def book(db: AsyncEngine, settings: Settings) -> Book:
    """Banks A and B with a loan 45 days late each, and their staff."""
    async with session_factory(db)() as s, s.begin():
        loans: dict[str, Loan] = {}
        people: dict[str, Any] = {}
        for name in ("a", "b"):
            bank = await f.institution(s)
            product = await f.product(s, institution_id=bank.id)
            firm = await f.enterprise(s)
            app = await f.application(s, enterprise_id=firm.id, product_row=product)
            loan = await f.booked_loan(
                s, application_row=app, disbursed_on=utcnow().date() - timedelta(days=120)
            )
            loan.days_past_due, loan.delinquency_bucket = 45, DelinquencyBucket.DPD_31_60
            loans[name] = loan
            people[f"risk_{name}"] = await f.user(s, roles=[(Role.RISK_OFFICER, bank.id)])
            people[f"officer_{name}"] = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        people["officer_a2"] = await f.user(
            s, roles=[(Role.LOAN_OFFICER, loans["a"].institution_id)]
        )
        people["platform"] = await f.user(s, roles=[(Role.PLATFORM_RISK_OFFICER, None)])
        tokens = {k: await f.access_token(s, settings, u) for k, u in people.items()}
    return Book(loans, tokens, {k: u.id for k, u in people.items()})


async def test_rules_are_checked_versioned_and_scoped_to_their_owner(
    gql: GraphQLClient, book: Book
) -> None:
    platform = gql.as_(book.tokens["platform"])

    # a rule naming an unknown indicator: refused, with where and what it meant
    bad = await platform.data(UPSERT, {"input": {**LATE_RULE, "expression": "days_past_dew > 30"}})
    assert bad["upsertRiskRule"]["__typename"] == "InvalidRule"
    assert bad["upsertRiskRule"]["position"] == 0
    assert "days_past_due" in bad["upsertRiskRule"]["message"]  # did you mean

    first = (await platform.data(UPSERT, {"input": LATE_RULE}))["upsertRiskRule"]
    assert first["version"] == 1
    assert first["expression"] == "days_past_due > 30"  # normalised
    same = (await platform.data(UPSERT, {"input": LATE_RULE}))["upsertRiskRule"]
    assert same["version"] == 1  # nothing changed, no new version
    changed = (
        await platform.data(UPSERT, {"input": {**LATE_RULE, "expression": "days_past_due > 60"}})
    )["upsertRiskRule"]
    assert changed["version"] == 2

    # an institution's risk officer may not write platform rules, but may write their own
    as_b = gql.as_(book.tokens["risk_b"])
    refused = await as_b.post(UPSERT, {"input": {**LATE_RULE, "code": "b-late"}})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    b_bank = f.global_id("Institution", book.loans["b"].institution_id)
    own = await as_b.data(
        UPSERT, {"input": {**LATE_RULE, "code": "b-late", "institutionId": b_bank}}
    )
    assert own["upsertRiskRule"]["__typename"] == "RiskRule"

    seen_by_a = (await gql.as_(book.tokens["risk_a"]).data(RULES))["riskRules"]
    assert [(r["code"], r["version"]) for r in seen_by_a] == [("late", 2)]
    seen_by_b = (await as_b.data(RULES))["riskRules"]
    assert {r["code"] for r in seen_by_b} == {"late", "b-late"}

    # a loan officer cannot write rules at all
    officer = await gql.as_(book.tokens["officer_a"]).post(UPSERT, {"input": LATE_RULE})
    assert officer["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_each_institution_names_its_rules_apart_but_never_as_a_platform_rule(
    gql: GraphQLClient, book: Book
) -> None:
    # given: a platform rule "late"
    platform = gql.as_(book.tokens["platform"])
    assert (await platform.data(UPSERT, {"input": LATE_RULE}))["upsertRiskRule"]["version"] == 1
    as_a, as_b = gql.as_(book.tokens["risk_a"]), gql.as_(book.tokens["risk_b"])
    bank = {
        name: f.global_id("Institution", book.loans[name].institution_id) for name in ("a", "b")
    }
    watch = {**LATE_RULE, "code": "watch", "expression": "days_past_due > 10"}

    # when: both banks keep a rule of their own called "watch", and B changes its own
    a_first = await as_a.data(UPSERT, {"input": {**watch, "institutionId": bank["a"]}})
    b_first = await as_b.data(UPSERT, {"input": {**watch, "institutionId": bank["b"]}})
    b_again = await as_b.data(
        UPSERT,
        {"input": {**watch, "institutionId": bank["b"], "expression": "days_past_due > 20"}},
    )

    # then: two rules, each versioned on its own
    assert [r["upsertRiskRule"]["version"] for r in (a_first, b_first, b_again)] == [1, 1, 2]
    assert ("watch", 1) in {
        (r["code"], r["version"]) for r in (await as_a.data(RULES))["riskRules"]
    }
    assert ("watch", 2) in {
        (r["code"], r["version"]) for r in (await as_b.data(RULES))["riskRules"]
    }

    # and a code that would stand for two rules on the same loans is refused either way
    clash = await as_a.data(UPSERT, {"input": {**LATE_RULE, "institutionId": bank["a"]}})
    assert clash["upsertRiskRule"]["__typename"] == "InvalidInput"
    assert "platform rule" in clash["upsertRiskRule"]["message"]
    taken = await platform.data(UPSERT, {"input": watch})
    assert taken["upsertRiskRule"]["__typename"] == "InvalidInput"
    assert "institution's rule" in taken["upsertRiskRule"]["message"]


async def test_a_rule_is_fetched_again_by_its_id_by_who_may_see_it(
    gql: GraphQLClient, book: Book
) -> None:
    # given: a platform rule, and a rule of bank A's own
    platform = gql.as_(book.tokens["platform"])
    shared = (await platform.data(UPSERT, {"input": LATE_RULE}))["upsertRiskRule"]["id"]
    bank_a = f.global_id("Institution", book.loans["a"].institution_id)
    own = await gql.as_(book.tokens["risk_a"]).data(
        UPSERT, {"input": {**LATE_RULE, "code": "a-late", "institutionId": bank_a}}
    )
    a_only = own["upsertRiskRule"]["id"]
    query = "query($id: ID!) { node(id: $id) { ... on RiskRule { code version } } }"

    async def fetch(who: str, rule_id: str) -> Any:
        body = await gql.as_(book.tokens[who]).post(query, {"id": rule_id})
        return body["data"]["node"] or body["errors"][0]["extensions"]["code"]

    # when / then: bank A's risk officer sees both; bank B's, the platform's only; a loan
    # officer, whose role reads no rules, neither
    assert await fetch("risk_a", shared) == {"code": "late", "version": 1}
    assert await fetch("risk_a", a_only) == {"code": "a-late", "version": 1}
    assert await fetch("risk_b", shared) == {"code": "late", "version": 1}
    assert await fetch("risk_b", a_only) == "NOT_FOUND"
    assert await fetch("officer_a", shared) == "NOT_FOUND"


async def test_a_dry_run_counts_only_the_viewer_loans_and_writes_nothing(
    gql: GraphQLClient, book: Book, db: AsyncEngine
) -> None:
    query = {"expression": 'days_past_due > 30 and delinquency_bucket == "dpd_31_60"'}
    mine = (await gql.as_(book.tokens["risk_a"]).data(DRY_RUN, query))["dryRunRiskRule"]
    everyone = (await gql.as_(book.tokens["platform"]).data(DRY_RUN, query))["dryRunRiskRule"]
    bad = (await gql.as_(book.tokens["risk_a"]).data(DRY_RUN, {"expression": "pd >"}))[
        "dryRunRiskRule"
    ]

    officer = await gql.as_(book.tokens["officer_a"]).post(DRY_RUN, query)
    assert officer["errors"][0]["extensions"]["code"] == "FORBIDDEN"  # before any work
    assert (mine["loansScanned"], mine["matched"]) == (1, 1)
    assert mine["sample"] == [f.global_id("Loan", book.loans["a"].id)]
    assert (everyone["loansScanned"], everyone["matched"]) == (2, 2)
    assert bad == {"__typename": "InvalidRule", "code": "INVALID_RULE", "position": 4}
    async with session_factory(db)() as s:
        assert await s.scalar(select(func.count()).select_from(RiskAlert)) == 0


async def test_the_warning_system_takes_consistent_comparisons_only(
    gql: GraphQLClient, book: Book
) -> None:
    platform = gql.as_(book.tokens["platform"])
    indicators = [
        {"name": "days_past_due", "direction": 1, "yellow": 1, "orange": 31, "red": 91},
        {"name": "pd", "direction": 1, "yellow": 0.03, "orange": 0.08, "red": 0.2},
        {"name": "debt_to_asset", "direction": 1, "yellow": 0.7, "orange": 0.85, "red": 1.0},
    ]
    # dpd > pd (3), pd > leverage (3), yet leverage > dpd (5): a circle
    circular = [[1, 3, 1 / 5], [1 / 3, 1, 3], [5, 1 / 3, 1]]
    refused = (
        await platform.data(
            SET_SYSTEM, {"input": {"indicators": indicators, "comparisons": circular}}
        )
    )["setWarningSystem"]
    assert refused["__typename"] == "InconsistentComparisons"
    assert refused["code"] == "INCONSISTENT_COMPARISONS"
    assert refused["consistencyRatio"] >= 0.1
    assert refused["offending"]

    sound = [[1, 3, 5], [1 / 3, 1, 2], [1 / 5, 1 / 2, 1]]
    saved = (
        await platform.data(SET_SYSTEM, {"input": {"indicators": indicators, "comparisons": sound}})
    )["setWarningSystem"]
    assert saved["version"] == 1
    assert saved["consistencyRatio"] < 0.1
    weights = {i["name"]: i["weight"] for i in saved["indicators"]}
    assert weights["days_past_due"] > weights["pd"] > weights["debt_to_asset"]
    assert sum(weights.values()) == pytest.approx(1.0)

    # the loans are then scored with it
    await run_scan(session_factory_of(gql), as_of=utcnow().date())
    loan_id = f.global_id("Loan", book.loans["a"].id)
    warning = (await gql.as_(book.tokens["officer_a"]).data(WARNING, {"id": loan_id}))["node"][
        "warning"
    ]
    assert set(warning["levels"]) == {"days_past_due", "pd", "debt_to_asset"}
    assert warning["levels"]["days_past_due"] == "orange"
    assert warning["score"] == pytest.approx(weights["days_past_due"] * 2 / 3 * 100, abs=1e-3)

    # an institution's risk officer cannot change it
    denied = await gql.as_(book.tokens["risk_a"]).post(
        SET_SYSTEM, {"input": {"indicators": indicators, "comparisons": sound}}
    )
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def session_factory_of(gql: GraphQLClient) -> Any:
    app = gql.http._transport.app  # type: ignore[attr-defined]
    return session_factory(app.state.engine)


async def test_staff_work_their_own_alerts_step_by_step(
    gql: GraphQLClient, book: Book, db: AsyncEngine
) -> None:
    await gql.as_(book.tokens["platform"]).data(UPSERT, {"input": LATE_RULE})
    report = await run_scan(session_factory(db), as_of=utcnow().date())
    assert report.alerts_raised == 2
    officer = gql.as_(book.tokens["officer_a"])

    listed = (await officer.data(ALERTS))["riskAlerts"]
    assert listed["totalCount"] == 1  # bank B's alert is not there
    alert = listed["edges"][0]["node"]
    assert alert["loan"]["id"] == f.global_id("Loan", book.loans["a"].id)
    assert alert["history"] == [
        {
            "kind": "RAISE",
            "fromStatus": None,
            "toStatus": "OPEN",
            "note": alert["history"][0]["note"],
        }
    ]

    async def act(client: GraphQLClient, **fields: Any) -> dict[str, Any]:
        result = await client.data(UPDATE, {"input": {"alertId": alert["id"], **fields}})
        return result["updateRiskAlert"]  # type: ignore[no-any-return]

    acked = await act(officer, action="ACKNOWLEDGE")
    assert acked["status"] == "ACKNOWLEDGED"
    assert acked["acknowledgedAt"]
    colleague = f.global_id("User", book.ids["officer_a2"])
    outsider = f.global_id("User", book.ids["officer_b"])
    assert (await act(officer, action="ASSIGN", assigneeId=outsider))["code"] == "BAD_USER_INPUT"
    assigned = await act(officer, action="ASSIGN", assigneeId=colleague)
    assert assigned["assignee"] == {"id": colleague}
    assert (await act(officer, action="DISPOSE", disposal="RESTRUCTURE"))["code"] == (
        "BAD_USER_INPUT"
    )
    disposed = await act(
        gql.as_(book.tokens["officer_a2"]),
        action="DISPOSE",
        disposal="RESTRUCTURE",
        note="term extended by six months, instalment halved",
    )
    assert disposed["status"] == "IN_PROGRESS"
    assert disposed["disposal"] == "RESTRUCTURE"
    stale = await act(officer, action="RESOLVE", note="paid up in full", expectedVersion=1)
    assert stale["__typename"] == "Conflict"
    resolved = await act(
        officer,
        action="RESOLVE",
        note="borrower back on schedule",
        expectedVersion=disposed["version"],
    )
    assert resolved["status"] == "RESOLVED"
    again = await act(officer, action="ACKNOWLEDGE")
    assert again["code"] == "INVALID_TRANSITION"

    # bank B's officer cannot even see it
    outside = await gql.as_(book.tokens["officer_b"]).post(
        UPDATE, {"input": {"alertId": alert["id"], "action": "ACKNOWLEDGE"}}
    )
    assert outside["errors"][0]["extensions"]["code"] == "NOT_FOUND"

    history = (await officer.data(ALERTS))["riskAlerts"]["edges"][0]["node"]["history"]
    assert [h["kind"] for h in history] == ["RAISE", "ACKNOWLEDGE", "ASSIGN", "DISPOSE", "RESOLVE"]
    async with session_factory(db)() as s:
        audited = (
            await s.scalars(select(AuditEntry.action).where(AuditEntry.entity_type == "RiskAlert"))
        ).all()
    assert sorted(audited) == sorted(
        [
            "risk_alert.raise",  # bank A's alert
            "risk_alert.raise",  # bank B's
            "risk_alert.acknowledge",
            "risk_alert.assign",
            "risk_alert.dispose",
            "risk_alert.resolve",
        ]
    )


async def test_overdue_alerts_escalate_by_themselves(
    gql: GraphQLClient, book: Book, db: AsyncEngine
) -> None:
    await gql.as_(book.tokens["platform"]).data(UPSERT, {"input": LATE_RULE})
    await run_scan(session_factory(db), as_of=utcnow().date())
    async with session_factory(db)() as s, s.begin():
        await s.execute(
            update(RiskAlert)
            .where(RiskAlert.loan_id == book.loans["a"].id)
            .values(due_at=utcnow() - timedelta(minutes=1))
        )
    officer = gql.as_(book.tokens["officer_a"])
    overdue = (await officer.data(ALERTS, {"filter": {"overdue": True}}))["riskAlerts"]
    assert overdue["totalCount"] == 1

    async with session_factory(db)() as s, s.begin():
        escalated = await escalate_overdue(s)
    async with session_factory(db)() as s, s.begin():
        assert await escalate_overdue(s) == 0  # its new due time lies ahead

    assert escalated == 1
    node = (await officer.data(ALERTS))["riskAlerts"]["edges"][0]["node"]
    assert node["status"] == "ESCALATED"
    assert node["overdue"] is False
    assert node["history"][-1]["kind"] == "ESCALATE"
    assert node["history"][-1]["note"] == "past its SLA"
