"""Records of processing activities, generated from the classification, policy and bases."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from domain.identity.models import Role
from domain.settings import Settings
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient

RECORDS = """
{ recordsOfProcessing {
    field classification purpose lawfulBases revealedTo maskedFor retention
} }
"""
ADD = """
mutation($input: AddPolicyRuleInput!) { addPolicyRule(input: $input) { __typename } }
"""


def _record(data: dict[str, Any], field: str, purpose: str) -> dict[str, Any]:
    found: dict[str, Any]
    [found] = [
        r for r in data["recordsOfProcessing"] if (r["field"], r["purpose"]) == (field, purpose)
    ]
    return found


async def test_records_say_what_why_on_what_basis_and_who_sees_it(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        privacy = await f.access_token(
            s, settings, await f.user(s, roles=[(Role.PRIVACY_OFFICER, None)])
        )
        admin = await f.access_token(
            s, settings, await f.user(s, roles=[(Role.PLATFORM_ADMIN, None)])
        )
        officer = await f.access_token(
            s, settings, await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        )

    # when
    before = await gql.as_(privacy).data(RECORDS)
    # a deny narrows the policy at once: the records follow it
    await gql.as_(admin).data(
        ADD,
        {
            "input": {
                "role": "loan_officer",
                "object": "Enterprise.contactPhone",
                "action": "REVEAL",
                "effect": "DENY",
            }
        },
    )
    after = await gql.as_(privacy).data(RECORDS)
    staff = await gql.as_(officer).data(RECORDS)

    # then
    marketing = _record(before, "Enterprise.contactPhone", "marketing")
    assert marketing["classification"] == "personal"
    assert marketing["lawfulBases"] == ["consent"]
    assert set(marketing["revealedTo"]) == {"LOAN_OFFICER", "INSTITUTION_ADMIN", "PARTNER_SERVICE"}
    assert {"RISK_OFFICER", "PRIVACY_OFFICER", "AUDITOR"} <= set(marketing["maskedFor"])
    assert marketing["retention"] == "no retention schedule on record"
    oversight = _record(before, "Enterprise.contactPhone", "oversight")
    assert (oversight["lawfulBases"], oversight["revealedTo"]) == (
        ["platform_oversight"],
        ["PRIVACY_OFFICER"],
    )
    account = _record(before, "Enterprise.bankAccountNumber", "loan_servicing")
    assert account["classification"] == "sensitive"
    assert "RISK_OFFICER" not in account["revealedTo"] + account["maskedFor"]  # denied read
    narrowed = _record(after, "Enterprise.contactPhone", "marketing")
    assert "LOAN_OFFICER" in narrowed["maskedFor"]
    assert staff == {"recordsOfProcessing": []}
