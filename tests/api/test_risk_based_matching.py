"""recommendedProducts pre-scores the enterprise and quotes from each product's pricing grid.

Pre-scoring is no application: it stores nothing but its audited access.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.applications.models import Application
from domain.audit.models import AuditEntry
from domain.identity.models import Role
from domain.models import Enterprise, Product
from domain.privacy.models import AccessLogEntry
from domain.risk.assessment import scoring_for
from domain.risk.models import RiskAssessment
from domain.risk.prescore import prescore
from domain.settings import Settings
from kernel.base import utcnow
from kernel.db import session_factory
from seed.population import seed_population
from tests import factories as f
from tests.api.conftest import GraphQLClient, make_settings
from tests.api.test_scoring import _train

SET_GRID = """
mutation Grid($input: SetProductPricingGridInput!) {
  setProductPricingGrid(input: $input) {
    __typename
    ... on Product { id pricingGrid { maxProbabilityOfDefault annualRate securedAnnualRate } }
    ... on InvalidInput { code message field }
  }
}
"""
RECOMMEND = """
query Recommend($id: ID!, $collateral: Boolean, $guarantee: Boolean) {
  recommendedProducts(enterpriseId: $id, first: 50, amount: "200000.00", termMonths: 12,
                      collateralOffered: $collateral, guaranteeOffered: $guarantee) {
    product { id }
    eligible
    rank
    reasons
    quote { annualRate totalCost }
  }
}
"""
GRID = [{"maxProbabilityOfDefault": 1.0, "annualRate": "0.080000", "securedAnnualRate": "0.060000"}]
NARROW = [{"maxProbabilityOfDefault": 0.000001, "annualRate": "0.050000"}]


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, model_dir=tmp_path / "models")


async def _counts(db: AsyncEngine) -> tuple[int, ...]:
    async with session_factory(db)() as s:
        counts = []
        for model in (Application, RiskAssessment, Enterprise, Product):
            counts.append(int(await s.scalar(select(func.count()).select_from(model)) or 0))
        return tuple(counts)


async def _market(db: AsyncEngine, settings: Settings) -> dict[str, Any]:
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        priced = await f.product(s, institution_id=bank.id)
        narrow = await f.product(s, institution_id=bank.id)
        plain = await f.product(s, institution_id=bank.id)
        admin = await f.user(s, roles=[(Role.INSTITUTION_ADMIN, bank.id)])
        owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
        firm = await f.enterprise(s, owner_id=owner.id)
        return {
            "products": (priced, narrow, plain),
            "firm": firm,
            "admin": await f.access_token(s, settings, admin),
            "owner": await f.access_token(s, settings, owner),
        }


def _of(answer: list[dict[str, Any]], product: Product) -> dict[str, Any]:
    gid = f.global_id("Product", product.id)
    return next(r for r in answer if r["product"]["id"] == gid)


async def test_the_enterprise_is_prescored_and_quoted_its_risk_s_rate_storing_only_the_access(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: a champion, and a bank whose admin prices two of its three products
    await seed_population(session_factory(db), enterprises=150, seed=21, keys=f.KEYS)
    trained = await _train(db, settings)
    market = await _market(db, settings)
    priced, narrow, plain = market["products"]
    admin = gql.as_(market["admin"])
    for product, bands in ((priced, GRID), (narrow, NARROW)):
        body = {"productId": f.global_id("Product", product.id), "bands": bands}
        set_ = (await admin.data(SET_GRID, {"input": body}))["setProductPricingGrid"]
        assert set_["__typename"] == "Product", set_
    before = await _counts(db)
    firm_id = f.global_id("Enterprise", market["firm"].id)

    # when: the owner asks, offering a guarantee, and again offering nothing
    owner = gql.as_(market["owner"])
    secured = await owner.data(RECOMMEND, {"id": firm_id, "guarantee": True})
    unsecured = await owner.data(RECOMMEND, {"id": firm_id})

    # then: the PD the champion gives picks the grid's band, secured or not
    async with session_factory(db)() as s:
        scored = await prescore(
            s,
            scoring_for(settings.model_dir),
            enterprise=market["firm"],
            products=[priced],
            amount=Decimal("200000.00"),
            term_months=12,
            as_of=utcnow().date(),
        )
    assert scored is not None
    assert scored[0] == trained.version
    pd = scored[1][priced.id]
    assert _of(secured["recommendedProducts"], priced)["quote"]["annualRate"] == "0.060000"
    shown = _of(unsecured["recommendedProducts"], priced)
    assert shown["quote"]["annualRate"] == "0.080000"
    bound = "band up to 100.00%"
    assert any("pricing grid" in r and bound in r for r in shown["reasons"])
    assert f"{pd:.2%}" not in " ".join(shown["reasons"])  # the lender's figure stays theirs
    # a product whose grid stops below the PD is not quoted, and says why
    refused = _of(unsecured["recommendedProducts"], narrow)
    assert refused["quote"] is None
    assert any("above what the lender prices" in r for r in refused["reasons"])
    assert pd > 0.000001  # the narrow grid stops below it
    # a product without a grid is quoted its starting rate, and says so
    assert _of(unsecured["recommendedProducts"], plain)["quote"]["annualRate"] == "0.045000"
    # nothing stored but two audited accesses
    assert await _counts(db) == before
    async with session_factory(db)() as s:
        audited = await s.scalar(
            select(func.count()).where(AuditEntry.action == "enterprise.prescored")
        )
        logged = await s.scalar(
            select(func.count()).where(AccessLogEntry.object == "Enterprise.prescore")
        )
    assert (audited, logged) == (2, 2)


async def test_without_a_model_quotes_use_the_starting_rate_and_nothing_is_audited(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: a priced product, but no model in service
    market = await _market(db, settings)
    priced = market["products"][0]
    body = {"productId": f.global_id("Product", priced.id), "bands": GRID}
    await gql.as_(market["admin"]).data(SET_GRID, {"input": body})

    # when
    answer = await gql.as_(market["owner"]).data(
        RECOMMEND, {"id": f.global_id("Enterprise", market["firm"].id)}
    )

    # then
    shown = _of(answer["recommendedProducts"], priced)
    assert shown["quote"]["annualRate"] == "0.045000"
    assert any("no model is in service" in r for r in shown["reasons"])
    async with session_factory(db)() as s:
        audited = await s.scalar(
            select(func.count()).where(AuditEntry.action == "enterprise.prescored")
        )
    assert audited == 0


@pytest.mark.parametrize(
    ("bands", "field"),
    [
        (
            [
                {"maxProbabilityOfDefault": 0.05, "annualRate": "0.05"},
                {"maxProbabilityOfDefault": 0.02, "annualRate": "0.06"},
            ],
            "input.bands.1.maxProbabilityOfDefault",
        ),
        ([{"maxProbabilityOfDefault": 0.05, "annualRate": "0.20"}], "input.bands.0.annualRate"),
        (
            [
                {"maxProbabilityOfDefault": 0.02, "annualRate": "0.07"},
                {"maxProbabilityOfDefault": 0.05, "annualRate": "0.06"},
            ],
            "input.bands.1.annualRate",
        ),
        (
            [{"maxProbabilityOfDefault": 0.05, "annualRate": "0.06", "securedAnnualRate": "0.07"}],
            "input.bands.0.securedAnnualRate",
        ),
        ([], "input.bands"),
    ],
)
async def test_a_grid_that_breaks_a_rule_is_refused_naming_it_and_nothing_changes(
    bands: list[dict[str, Any]], field: str, gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    market = await _market(db, settings)
    product = market["products"][0]
    body = {"productId": f.global_id("Product", product.id), "bands": bands}

    refused = (await gql.as_(market["admin"]).data(SET_GRID, {"input": body}))[
        "setProductPricingGrid"
    ]

    assert refused["__typename"] == "InvalidInput"
    assert refused["field"] == field
    async with session_factory(db)() as s:
        assert (await s.get(Product, product.id)).pricing_grid is None  # type: ignore[union-attr]


async def test_only_the_institution_s_admins_price_its_products(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    market = await _market(db, settings)
    async with session_factory(db)() as s, s.begin():
        other_admin = await f.user(s, roles=[(Role.INSTITUTION_ADMIN, (await f.institution(s)).id)])
        other = await f.access_token(s, settings, other_admin)
    body = {"productId": f.global_id("Product", market["products"][0].id), "bands": GRID}

    as_owner = await gql.as_(market["owner"]).post(SET_GRID, {"input": body})
    as_other = await gql.as_(other).post(SET_GRID, {"input": body})

    assert as_owner["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert as_other["errors"][0]["extensions"]["code"] == "FORBIDDEN"
