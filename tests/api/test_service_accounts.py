"""Partner systems: client credentials, scoped tokens, the same API within the scopes."""

from __future__ import annotations

import base64
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.models import Role
from domain.settings import Settings
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient

CREATE = """
mutation($input: CreateServiceAccountInput!) {
  createServiceAccount(input: $input) {
    __typename
    ... on ServiceAccountCreated { clientId clientSecret scopes }
    ... on InvalidInput { code message }
  }
}
"""


async def _bank_with_admin(db: AsyncEngine, settings: Settings) -> tuple[dict[str, Any], str]:
    async with session_factory(db)() as s, s.begin():
        bank, other = await f.institution(s), await f.institution(s)
        admin = await f.user(s, roles=[(Role.INSTITUTION_ADMIN, bank.id)])
        token = await f.access_token(s, settings, admin)
        for institution in (bank, other):
            product = await f.product(s, institution_id=institution.id)
            application = await f.application(
                s, enterprise_id=(await f.enterprise(s)).id, product_row=product
            )
            await f.loan(s, application_row=application)
    return {"bank": bank, "other": other}, token


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


async def _token(
    http: httpx.AsyncClient, client_id: str, secret: str, **form: str
) -> httpx.Response:
    return await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", **form},
        headers={"authorization": _basic(client_id, secret)},
    )


async def test_a_partner_system_reads_its_institutions_applications_within_its_scopes(
    gql: GraphQLClient, http: httpx.AsyncClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: an admin creates credentials with the applications:read scope only
    banks, admin_token = await _bank_with_admin(db, settings)
    created = (
        await gql.as_(admin_token).data(
            CREATE,
            {
                "input": {
                    "institutionId": f.global_id("Institution", banks["bank"].id),
                    "name": "Core banking",
                    "scopes": ["applications:read"],
                }
            },
        )
    )["createServiceAccount"]

    # when
    issued = await _token(http, created["clientId"], created["clientSecret"])
    system = gql.as_(issued.json()["access_token"])
    applications = await system.data("{ applications { edges { node { institution { code } } } } }")
    loans = await system.post("{ loans { totalCount } }")
    me = await system.post("{ me { email } }")

    # then
    assert created["__typename"] == "ServiceAccountCreated"
    assert created["scopes"] == ["applications:read"]
    assert issued.status_code == 200
    assert issued.headers["cache-control"] == "no-store"
    assert issued.json()["token_type"] == "Bearer"
    assert issued.json()["scope"] == "applications:read"
    assert [e["node"]["institution"]["code"] for e in applications["applications"]["edges"]] == [
        banks["bank"].code
    ]
    assert loans["errors"][0]["extensions"]["code"] == "FORBIDDEN"  # outside its scopes
    assert me["errors"][0]["extensions"]["code"] == "FORBIDDEN"  # no scope covers `me`


async def test_a_token_may_ask_for_fewer_scopes_never_more(
    gql: GraphQLClient, http: httpx.AsyncClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    banks, admin_token = await _bank_with_admin(db, settings)
    created = (
        await gql.as_(admin_token).data(
            CREATE,
            {
                "input": {
                    "institutionId": f.global_id("Institution", banks["bank"].id),
                    "name": "Collections",
                    "scopes": ["applications:read", "loans:read"],
                }
            },
        )
    )["createServiceAccount"]

    # when
    narrower = await _token(http, created["clientId"], created["clientSecret"], scope="loans:read")
    wider = await _token(
        http, created["clientId"], created["clientSecret"], scope="loans:read applications:decide"
    )
    loans_only = gql.as_(narrower.json()["access_token"])
    loans = await loans_only.data("{ loans { totalCount } }")
    applications = await loans_only.post("{ applications { totalCount } }")

    # then
    assert narrower.json()["scope"] == "loans:read"
    assert loans == {"loans": {"totalCount": 1}}
    assert applications["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert wider.status_code == 400
    assert wider.json()["error"] == "invalid_scope"


async def test_wrong_credentials_and_grants_are_refused_per_rfc_6749(
    gql: GraphQLClient, http: httpx.AsyncClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    banks, admin_token = await _bank_with_admin(db, settings)
    created = (
        await gql.as_(admin_token).data(
            CREATE,
            {
                "input": {
                    "institutionId": f.global_id("Institution", banks["bank"].id),
                    "name": "Reporting",
                    "scopes": ["loans:read"],
                }
            },
        )
    )["createServiceAccount"]

    # when
    wrong_secret = await _token(http, created["clientId"], "not-the-secret")
    unknown = await _token(http, "nobody", "nothing")
    password_grant = await http.post(
        "/oauth/token",
        data={"grant_type": "password", "username": "a", "password": "b"},
        headers={"authorization": _basic(created["clientId"], created["clientSecret"])},
    )
    in_body = await http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": created["clientId"],
            "client_secret": created["clientSecret"],
        },
    )
    json_body = await http.post("/oauth/token", json={"grant_type": "client_credentials"})

    # then
    assert wrong_secret.status_code == unknown.status_code == 401
    assert wrong_secret.json() == unknown.json()
    assert wrong_secret.headers["www-authenticate"].startswith("Basic")
    assert password_grant.json()["error"] == "unsupported_grant_type"
    assert in_body.status_code == 200
    assert json_body.status_code == 400


async def test_scopes_are_checked_and_only_an_institutions_admin_creates_credentials(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    banks, admin_token = await _bank_with_admin(db, settings)

    # when
    bad_scope = (
        await gql.as_(admin_token).data(
            CREATE,
            {
                "input": {
                    "institutionId": f.global_id("Institution", banks["bank"].id),
                    "name": "X",
                    "scopes": ["everything"],
                }
            },
        )
    )["createServiceAccount"]
    other_bank = await gql.as_(admin_token).post(
        CREATE,
        {
            "input": {
                "institutionId": f.global_id("Institution", banks["other"].id),
                "name": "X",
                "scopes": ["loans:read"],
            }
        },
    )

    # then
    assert bad_scope["__typename"] == "InvalidInput"
    assert "scopes must be among" in bad_scope["message"]
    assert other_bank["errors"][0]["extensions"]["code"] == "FORBIDDEN"
