"""Two officers decide one application at the same moment: exactly one decision lands."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm.exc import StaleDataError

from domain.applications import service
from domain.applications.models import ApplicationStatus, Decision, DecisionOutcome
from domain.identity.models import Role
from domain.identity.viewer import Viewer
from domain.settings import Settings
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient

pytestmark = pytest.mark.postgres_only

DECIDE = """
mutation($input: DecideApplicationInput!) {
  decideApplication(input: $input) {
    __typename ... on Application { status } ... on UserError { code }
  }
}
"""


async def _under_review(db: AsyncEngine) -> tuple[f.Application, list[f.User]]:
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        product = await f.product(s, institution_id=bank.id)
        enterprise = await f.enterprise(s)
        application = await f.application(
            s,
            enterprise_id=enterprise.id,
            product_row=product,
            status=ApplicationStatus.UNDER_REVIEW,
            amount="100000.00",
        )
        officers = [await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)]) for _ in range(2)]
    return application, officers


async def test_two_officers_at_once_through_graphql(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: both read the application at the same version
    application, officers = await _under_review(db)
    async with session_factory(db)() as s, s.begin():
        tokens = [await f.access_token(s, settings, o) for o in officers]
    app_id = f.global_id("Application", application.id)

    # when: they decide opposite ways at the same moment
    results = await asyncio.gather(
        *(
            gql.as_(token).data(
                DECIDE,
                {
                    "input": {
                        "applicationId": app_id,
                        "decision": decision,
                        "reasons": f"{decision.lower()} after review",
                        "expectedVersion": application.version,
                    }
                },
            )
            for token, decision in zip(tokens, ("APPROVE", "REJECT"), strict=True)
        )
    )

    # then: one decision applied, the other told CONFLICT
    outcomes = sorted(r["decideApplication"]["__typename"] for r in results)
    assert outcomes == ["Application", "Conflict"]
    async with session_factory(db)() as s:
        decisions = await s.scalar(select(func.count()).select_from(Decision))
    assert decisions == 1


async def test_the_later_writer_loses_on_the_version_even_when_it_read_first(
    db: AsyncEngine,
) -> None:
    # given: two transactions hold the application at version 1
    application, officers = await _under_review(db)
    factory = session_factory(db)
    actors = [
        service.Actor(
            viewer=Viewer(
                user_id=o.id,
                institution_roles={application.institution_id: frozenset({Role.LOAN_OFFICER})},
            ),
            keys=f.KEYS,
        )
        for o in officers
    ]
    first, second = factory(), factory()
    await first.begin()
    await second.begin()
    try:
        await service.decide(
            first, actors[0], application.id, outcome=DecisionOutcome.APPROVE, reasons="approve it"
        )
        # when: the second's write waits on the first's row lock, which then commits
        racing = asyncio.ensure_future(
            service.decide(
                second,
                actors[1],
                application.id,
                outcome=DecisionOutcome.REJECT,
                reasons="reject it",
            )
        )
        await asyncio.sleep(0.2)
        await first.commit()

        # then
        with pytest.raises(StaleDataError):
            await racing
    finally:
        await second.rollback()
        await first.close()
        await second.close()
    async with factory() as s:
        decisions = (await s.scalars(select(Decision.outcome))).all()
    assert decisions == [DecisionOutcome.APPROVE]
