"""Every login the demo prints signs in over GraphQL and does its role's signature work.

The demo is how people first try the service: a printed login that cannot sign in, or
whose role cannot do what the role is for (a risk officer who cannot work alerts), is
a demo that teaches the wrong thing.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pyotp
from sqlalchemy.ext.asyncio import AsyncEngine

from kernel.db import session_factory
from seed import seed_population
from seed.demo import DemoLogin, demo_logins
from tests import factories as f
from tests.api.conftest import GraphQLClient

AS_OF = date(2026, 11, 1)
LOGIN = """
mutation($email: String!, $password: String!) {
  login(input: { email: $email, password: $password }) {
    __typename
    ... on LoginSuccess { accessToken }
    ... on MfaRequired { mfaToken enrollment { secret } }
  }
}
"""
VERIFY = """
mutation($token: String!, $code: String!) {
  verifyMfa(input: { mfaToken: $token, code: $code }) {
    __typename
    ... on LoginSuccess { accessToken }
  }
}
"""


async def signed_in(gql: GraphQLClient, login: DemoLogin) -> GraphQLClient:
    """Password, then (staff) the TOTP code from the printed secret, already enrolled."""
    first = (await gql.data(LOGIN, {"email": login.email, "password": login.password}))["login"]
    if login.totp_secret is None:
        assert first["__typename"] == "LoginSuccess", first
        return gql.as_(first["accessToken"])
    assert first["__typename"] == "MfaRequired", first
    assert first["enrollment"] is None  # the printed secret is the one enrolled
    code = pyotp.TOTP(login.totp_secret).now()
    second = (await gql.data(VERIFY, {"token": first["mfaToken"], "code": code}))["verifyMfa"]
    assert second["__typename"] == "LoginSuccess", second
    return gql.as_(second["accessToken"])


async def owns_an_enterprise(client: GraphQLClient) -> str:
    found = await client.data(
        "{ enterprises(first: 1) { totalCount edges { node { id legalRepresentativeName } } } }"
    )
    enterprises = found["enterprises"]
    assert enterprises["totalCount"] >= 1
    node = enterprises["edges"][0]["node"]
    assert "*" not in node["legalRepresentativeName"]  # an owner sees their own in full
    return str(node["id"])


async def reviews_an_application(client: GraphQLClient) -> None:
    found = await client.data(
        "{ applications(first: 1, filter: { statuses: [SUBMITTED] }) "
        "{ edges { node { id version } } } }"
    )
    node = found["applications"]["edges"][0]["node"]
    started = await client.data(
        """mutation($id: ID!, $v: Int) {
          startApplicationReview(input: { applicationId: $id, expectedVersion: $v }) {
            __typename ... on Application { status }
          }
        }""",
        {"id": node["id"], "v": node["version"]},
    )
    assert started["startApplicationReview"] == {
        "__typename": "Application",
        "status": "UNDER_REVIEW",
    }


async def works_an_alert(client: GraphQLClient) -> None:
    found = await client.data(
        "{ riskAlerts(first: 1, filter: { statuses: [OPEN] }) "
        "{ totalCount edges { node { id version } } } }"
    )
    assert found["riskAlerts"]["totalCount"] >= 1
    node = found["riskAlerts"]["edges"][0]["node"]
    acknowledged = await client.data(
        """mutation($input: UpdateRiskAlertInput!) {
          updateRiskAlert(input: $input) {
            __typename ... on RiskAlert { status } ... on UserError { code message }
          }
        }""",
        {
            "input": {
                "alertId": node["id"],
                "action": "ACKNOWLEDGE",
                "expectedVersion": node["version"],
            }
        },
    )
    assert acknowledged["updateRiskAlert"] == {"__typename": "RiskAlert", "status": "ACKNOWLEDGED"}


async def invites_staff(client: GraphQLClient) -> None:
    me = await client.data("{ me { roles { role institutionId } } }")
    institution = next(g["institutionId"] for g in me["me"]["roles"] if g["institutionId"])
    invited = await client.data(
        """mutation($id: ID!) {
          inviteStaff(input: { institutionId: $id, email: "new.officer@example.test",
                               role: LOAN_OFFICER }) {
            __typename ... on StaffInvited { email }
          }
        }""",
        {"id": institution},
    )
    assert invited["inviteStaff"]["__typename"] == "StaffInvited"


async def dry_runs_a_rule(client: GraphQLClient) -> None:
    ran = await client.data(
        """{ dryRunRiskRule(expression: "days_past_due > 30") {
          __typename ... on RiskRuleDryRun { loansScanned matched }
        } }"""
    )
    result = ran["dryRunRiskRule"]
    assert result["__typename"] == "RiskRuleDryRun"
    assert result["loansScanned"] > result["matched"] > 0


async def exports_a_subject(client: GraphQLClient, enterprise_id: str) -> None:
    exported = await client.data(
        """mutation($id: ID!) {
          exportSubjectData(input: { subjectId: $id }) {
            __typename ... on SubjectExport { data }
          }
        }""",
        {"id": enterprise_id},
    )
    document = exported["exportSubjectData"]["data"]  # a JSON value, not text
    assert "*" not in document["profile"]["legalRepresentativeIdNumber"]


async def reads_the_access_log(client: GraphQLClient) -> None:
    log = await client.data("{ accessLog(first: 5) { totalCount } }")
    assert log["accessLog"]["totalCount"] >= 1  # the reveals above were recorded


async def reads_the_policy(client: GraphQLClient) -> None:
    rules = await client.data("{ authorizationRules { kind subject } }")
    assert {"privacy_officer", "auditor"} <= {r["subject"] for r in rules["authorizationRules"]}


async def reads_the_verification_queue(client: GraphQLClient) -> None:
    queue = await client.data(
        "{ verificationCases(first: 5) { totalCount } enterprises(first: 1) { totalCount } }"
    )
    assert queue["verificationCases"]["totalCount"] == 0  # nobody has asked yet
    assert queue["enterprises"]["totalCount"] > 0  # every enterprise may ask


async def test_every_printed_login_signs_in_and_does_its_roles_work(
    gql: GraphQLClient, db: AsyncEngine
) -> None:
    # given: the demo's population, and the logins it prints
    sessions = session_factory(db)
    await seed_population(sessions, enterprises=150, seed=42, keys=f.KEYS, as_of=AS_OF)
    logins = await demo_logins(sessions, f.KEYS)
    clients: dict[str, GraphQLClient] = {}

    # when
    for login in logins:
        clients[login.role.split(" ")[0]] = await signed_in(gql, login)

    # then: every person's role is printed, and each one does its work
    assert set(clients) == {
        "sme_owner",
        "loan_officer",
        "risk_officer",
        "institution_admin",
        "platform_risk_officer",
        "privacy_officer",
        "auditor",
        "platform_admin",
        "verification_officer",
    }
    enterprise: Any = await owns_an_enterprise(clients["sme_owner"])
    await reviews_an_application(clients["loan_officer"])
    await works_an_alert(clients["risk_officer"])
    await invites_staff(clients["institution_admin"])
    await dry_runs_a_rule(clients["platform_risk_officer"])
    await exports_a_subject(clients["privacy_officer"], enterprise)
    await reads_the_access_log(clients["auditor"])
    await reads_the_policy(clients["platform_admin"])
    await reads_the_verification_queue(clients["verification_officer"])
