"""Money with two decimals and rates with six, whatever was sent and whichever executor
answers: a mutation's answer, a read through the compiled path and one through the
reference executor say the same thing the same way (kernel.formats, api.scalars,
api.compiled.json_sql)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import Integer, Numeric, cast, literal, select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.app import create_app
from api.compiled.json_sql import json_dialect
from domain.identity import people
from domain.identity.models import OutboxMessage, Role
from domain.settings import Settings
from kernel import formats
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import make_settings

SUBMIT = """
mutation($input: SubmitApplicationInput!) {
  submitApplication(input: $input) {
    __typename ... on Application { id amount } ... on InvalidInput { field message }
  }
}
"""
GRANT = "mutation($input: GrantConsentInput!) { grantConsent(input: $input) { __typename } }"
START = """
mutation($id: ID!) { startApplicationReview(input: { applicationId: $id }) { __typename } }
"""
DECIDE = """
mutation($id: ID!) {
  decideApplication(input: {
    applicationId: $id, decision: APPROVE, reasons: "cash flow covers it", annualRate: "0.05"
  }) {
    __typename ... on Application { approvedRate contract { terms termsHash } }
  }
}
"""
SIGN = """
mutation($id: ID!, $hash: String!) {
  signContract(input: { applicationId: $id, termsHash: $hash }) { __typename }
}
"""
DISBURSE = """
mutation($id: ID!) {
  disburseLoan(input: { applicationId: $id }) {
    __typename ... on LoanDisbursed { loan { id principal annualRate } }
  }
}
"""
READ = """
query($application: ID!, $loan: ID!) {
  application: node(id: $application) {
    ... on Application { amount approvedRate decisions { annualRate } }
  }
  loan: node(id: $loan) { ... on Loan { principal annualRate } }
  loans(first: 5) { edges { node { principal annualRate outstandingPrincipal } } }
}
"""


@pytest.fixture
async def clients(
    database_url: str, db: AsyncEngine
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    compiled = create_app(make_settings(database_url), engine=db)
    reference = create_app(make_settings(database_url, compiled_reads=False), engine=db)
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=compiled), base_url="http://t") as a,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=reference), base_url="http://t") as b,
    ):
        yield a, b


async def _post(
    client: httpx.AsyncClient, token: str, query: str, variables: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
    )
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body


async def test_what_was_sent_as_500000_and_0_05_answers_as_500000_00_and_0_050000(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], db: AsyncEngine, settings: Settings
) -> None:
    # given: an owner whose enterprise consented, and an officer of the lender
    compiled, reference = clients
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        product = await f.product(s, institution_id=bank.id)
        owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
        enterprise = await f.enterprise(s, owner_id=owner.id)
        officer = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        as_owner = await f.access_token(s, settings, owner)
        as_officer = await f.access_token(s, settings, officer)
    enterprise_id = f.global_id("Enterprise", enterprise.id)
    grant = {
        "subjectId": enterprise_id,
        "purpose": "credit_assessment",
        "recipientInstitutionId": f.global_id("Institution", bank.id),
        "textVersion": "credit-2026-01",
    }
    await _post(reference, as_owner, GRANT, {"input": grant})

    # when: the amount sent without decimals, the rate with two
    asked = {
        "enterpriseId": enterprise_id,
        "productId": f.global_id("Product", product.id),
        "amount": "500000",
        "termMonths": 12,
        "repaymentMethod": "ANNUITY",
        "purpose": "stock for the spring season",
    }
    submitted = (await _post(reference, as_owner, SUBMIT, {"input": asked}))["data"]
    app_id = submitted["submitApplication"]["id"]
    await _post(reference, as_officer, START, {"id": app_id})
    decided = (await _post(reference, as_officer, DECIDE, {"id": app_id}))["data"]
    terms_hash = decided["decideApplication"]["contract"]["termsHash"]
    await _post(reference, as_owner, SIGN, {"id": app_id, "hash": terms_hash})
    paid = (await _post(reference, as_officer, DISBURSE, {"id": app_id}))["data"]
    loan_id = paid["disburseLoan"]["loan"]["id"]
    read = {"application": app_id, "loan": loan_id}
    fast = await _post(compiled, as_officer, READ, read)
    slow = await _post(reference, as_officer, READ, read)
    async with session_factory(db)() as s:
        mails = (
            await s.scalars(select(OutboxMessage).where(OutboxMessage.user_id == owner.id))
        ).all()
        opened = await people.read_mail(s, settings.keys(), list(mails))

    # then: every answer in the one format
    assert submitted["submitApplication"]["amount"] == "500000.00"
    assert decided["decideApplication"]["approvedRate"] == "0.050000"
    assert paid["disburseLoan"]["loan"]["principal"] == "500000.00"
    assert paid["disburseLoan"]["loan"]["annualRate"] == "0.050000"
    # and the compiled path rendered them in SQL exactly as the reference executor
    assert fast["extensions"]["debug"]["executor"] == "compiled"
    assert slow["extensions"]["debug"]["executor"] == "reference"
    assert fast["data"] == slow["data"]
    assert fast["data"]["application"] == {
        "amount": "500000.00",
        "approvedRate": "0.050000",
        "decisions": [{"annualRate": "0.050000"}],
    }
    assert fast["data"]["loan"] == {"principal": "500000.00", "annualRate": "0.050000"}
    # and the contract names its records by global id, in the same formats
    terms = decided["decideApplication"]["contract"]["terms"]
    assert (terms["application"], terms["enterprise"]) == (app_id, enterprise_id)
    assert terms["product"]["id"] == f.global_id("Product", product.id)
    assert terms["lender"]["id"] == f.global_id("Institution", bank.id)
    assert (terms["principal"], terms["annual_rate"]) == ("500000.00", "0.050000")
    assert all(len(line["interest"].split(".")[1]) == 2 for line in terms["instalments"])
    # and the applicant's mail names the application as node(id:) takes it
    assert any(f"Reference: {app_id}." in body for _, body in opened)


@pytest.mark.parametrize(
    ("stored", "scale", "places"),
    [
        ("0.05", 6, 6),
        ("-0.000004", 6, 2),  # rounds to zero: no sign
        ("0.125", 6, 2),  # half up
        ("-1.25", 2, 2),
        ("99999999999999.99", 2, 2),  # beyond a float's exact integers once scaled
        ("12.345678", 6, 2),
        ("-12.345", 6, 2),
        ("3", 2, 6),
        ("0", 2, 2),
    ],
)
async def test_sql_renders_decimals_as_the_scalars_do(
    db: AsyncEngine, stored: str, scale: int, places: int
) -> None:
    # given: a value as the column keeps it (SQLite: an integer scaled by its scale)
    dialect = json_dialect(db.dialect.name)
    value = Decimal(stored)
    column: Any = (
        literal(int(value.scaleb(scale)), Integer)
        if dialect.name == "sqlite"
        else cast(literal(str(value)), Numeric(18, scale))
    )

    # when
    async with db.connect() as connection:
        text = await connection.scalar(select(dialect.decimal(column, scale, places)))

    # then
    assert text == formats.fixed(value, places)


def test_a_global_id_is_relays() -> None:
    # given
    key = uuid.uuid4()

    # then: what node(id:) decodes
    assert base64.b64decode(formats.global_id("Loan", key)).decode() == f"Loan:{key}"
    assert formats.global_id("Loan", key) == f.global_id("Loan", key)
