"""Every refusal of a mutation's input is its InvalidInput member naming the input path,
wherever in the mutation it was found (api.access.InputRefusals, kernel.errors)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncEngine

from domain.identity.models import Role
from domain.settings import Settings
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient

DISBURSE = """
mutation($input: DisburseLoanInput!) {
  disburseLoan(input: $input) { __typename ... on InvalidInput { code field message } }
}
"""
THRESHOLD = """
mutation($input: SetFourEyesThresholdInput!) {
  setFourEyesThreshold(input: $input) {
    __typename ... on InvalidInput { code field message }
  }
}
"""


async def test_an_id_that_is_not_one_is_refused_at_its_field(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: an officer; ids decoded before the service runs
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        officer = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        token = await f.access_token(s, settings, officer)
    loan = f.global_id("Loan", uuid.uuid4())

    # when
    garbled = await gql.as_(token).data(DISBURSE, {"input": {"applicationId": "not-an-id"}})
    wrong_type = await gql.as_(token).data(DISBURSE, {"input": {"applicationId": loan}})

    # then: union members, not request errors, each naming where
    for answer in (garbled, wrong_type):
        refused = answer["disburseLoan"]
        assert refused["__typename"] == "InvalidInput", refused
        assert (refused["code"], refused["field"]) == ("BAD_USER_INPUT", "input.applicationId")
    assert "is not the id of a Application" in wrong_type["disburseLoan"]["message"]


async def test_a_service_refusal_names_its_field(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        admin = await f.user(s, roles=[(Role.INSTITUTION_ADMIN, bank.id)])
        token = await f.access_token(s, settings, admin)
    input_ = {"institutionId": f.global_id("Institution", bank.id), "threshold": "-1.00"}

    # when
    refused = (await gql.as_(token).data(THRESHOLD, {"input": input_}))["setFourEyesThreshold"]

    # then
    assert (refused["__typename"], refused["field"]) == ("InvalidInput", "input.threshold")
