"""What-if through the API: other terms scored and priced by the champion, nothing stored."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.identity.models import Role
from domain.risk.assessment import assess_application, scoring_for
from domain.risk.models import RiskAssessment
from domain.risk.whatif import loss_given_default
from domain.settings import Settings
from kernel.db import session_factory
from seed.population import seed_population
from tests import factories as f
from tests.api.conftest import GraphQLClient, make_settings
from tests.api.test_scoring import _train

WHAT_IF = """
query($id: ID!, $amount: Decimal, $term: Int, $method: RepaymentMethod, $collateral: Decimal) {
  whatIf(applicationId: $id, amount: $amount, termMonths: $term, repaymentMethod: $method,
         collateralValue: $collateral) {
    modelVersion
    current { amount termMonths probabilityOfDefault grade score largestInstalment totalCost
              lossGivenDefault expectedLoss outsideProduct }
    proposed { amount termMonths repaymentMethod probabilityOfDefault grade largestInstalment
               totalCost effectiveAnnualRate lossGivenDefault expectedLoss outsideProduct
               reasons { feature text } }
  }
}
"""


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, model_dir=tmp_path / "models")


def test_collateral_lowers_the_loss_given_default_down_to_the_secured_rate() -> None:
    assert loss_given_default(Decimal("100000"), Decimal("0")) == Decimal("0.4500")
    assert loss_given_default(Decimal("100000"), Decimal("70000")) == Decimal("0.3500")  # half
    assert loss_given_default(Decimal("100000"), Decimal("140000")) == Decimal("0.2500")
    assert loss_given_default(Decimal("100000"), Decimal("999999")) == Decimal("0.2500")


async def test_an_officer_sees_what_other_terms_would_do_and_nothing_changes(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: a champion trained on a seeded history, and an application at a bank
    await seed_population(session_factory(db), enterprises=150, seed=21, keys=f.KEYS)
    trained = await _train(db, settings)
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        product = await f.product(s, institution_id=bank.id, max_amount="1000000.00")
        owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
        firm = await f.enterprise(s, owner_id=owner.id)
        application = await f.application(s, enterprise_id=firm.id, product_row=product)
        stored = await assess_application(s, application, scoring_for(settings.model_dir))
        officer = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        outsider = await f.user(s, roles=[(Role.LOAN_OFFICER, (await f.institution(s)).id)])
        tokens = [await f.access_token(s, settings, u) for u in (officer, owner, outsider)]
    assert stored is not None
    app_id = f.global_id("Application", application.id)
    async with session_factory(db)() as s:
        before = await s.scalar(select(func.count()).select_from(RiskAssessment))

    # when: twice the amount over three years, secured by collateral worth 1.4x of it
    asked = {"id": app_id, "amount": "400000.00", "term": 36, "collateral": "560000.00"}
    answer = (await gql.as_(tokens[0]).data(WHAT_IF, asked))["whatIf"]
    too_big = (await gql.as_(tokens[0]).data(WHAT_IF, {"id": app_id, "amount": "2000000.00"}))[
        "whatIf"
    ]["proposed"]
    as_owner = await gql.as_(tokens[1]).post(WHAT_IF, {"id": app_id})
    as_outsider = await gql.as_(tokens[2]).post(WHAT_IF, {"id": app_id})

    # then: the application as it stands scores as it was assessed
    now, then = answer["current"], answer["proposed"]
    assert answer["modelVersion"] == trained.version
    assert now["probabilityOfDefault"] == pytest.approx(stored.probability_of_default)
    assert (now["grade"], now["score"]) == (stored.grade, stored.score)
    assert now["lossGivenDefault"] == "0.450000"  # a rate: six decimals
    expected = Decimal(str(stored.probability_of_default)) * Decimal("200000.00") * Decimal("0.45")
    assert abs(Decimal(now["expectedLoss"]) - expected) <= Decimal("0.01")
    # and the proposal is priced and scored on its own terms
    assert (then["amount"], then["termMonths"]) == ("400000.00", 36)
    assert then["lossGivenDefault"] == "0.250000"  # fully secured
    assert Decimal(then["totalCost"]) > Decimal(now["totalCost"])
    assert then["outsideProduct"] == []
    assert then["reasons"]
    assert too_big["outsideProduct"] == ["amount 2,000,000.00 is outside 10,000.00 to 1,000,000.00"]
    # only the lender's credit staff may ask, and nothing was written
    assert as_owner["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert as_outsider["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    async with session_factory(db)() as s:
        assert await s.scalar(select(func.count()).select_from(RiskAssessment)) == before
