"""Institutions keep their catalog in versions; owners file accounts and get recommendations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.identity.models import Role
from domain.products.models import ProductStatus
from domain.settings import Settings
from kernel.base import utcnow
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient

PRODUCT = "id code version status name minRate eligibility { industries regions }"
CREATE = f"""
mutation($input: CreateProductInput!) {{
  createProduct(input: $input) {{
    __typename ... on Product {{ {PRODUCT} }} ... on UserError {{ code message }}
    ... on InvalidInput {{ field }}
  }}
}}
"""
CHANGE = f"""
mutation($input: ChangeProductInput!) {{
  changeProduct(input: $input) {{
    __typename ... on Product {{ {PRODUCT} }} ... on UserError {{ code message }}
  }}
}}
"""
PUBLISH = f"""
mutation($input: ProductActionInput!) {{
  publishProduct(input: $input) {{
    __typename ... on Product {{ {PRODUCT} }} ... on UserError {{ code message }}
  }}
}}
"""
CATALOG = """
query($filter: ProductFilter) {
  products(first: 50, filter: $filter) { totalCount edges { node { code version } } }
}
"""
NODE = "query($id: ID!) { node(id: $id) { ... on Product { status version } } }"
THRESHOLD = """
mutation($input: SetFourEyesThresholdInput!) {
  setFourEyesThreshold(input: $input) {
    __typename ... on FourEyesThresholdSet { threshold } ... on UserError { code message }
  }
}
"""
STATEMENT = """
mutation($input: SubmitFinancialStatementInput!) {
  submitFinancialStatement(input: $input) {
    __typename
    ... on FinancialStatement { fiscalYear totalAssets }
    ... on UserError { code message }
  }
}
"""
RECOMMEND = """
query($id: ID!, $amount: Decimal, $term: Int) {
  recommendedProducts(enterpriseId: $id, amount: $amount, termMonths: $term) {
    rank eligible reasons product { code } quote { totalCost }
  }
}
"""


@dataclass
class Bank:
    admin: GraphQLClient
    officer: GraphQLClient
    owner: GraphQLClient
    institution_id: str
    enterprise_id: str


@pytest.fixture
async def bank(gql: GraphQLClient, db: AsyncEngine, settings: Settings) -> Bank:
    async with session_factory(db)() as s, s.begin():
        institution = await f.institution(s)
        admin = await f.user(s, roles=[(Role.INSTITUTION_ADMIN, institution.id)])
        officer = await f.user(s, roles=[(Role.LOAN_OFFICER, institution.id)])
        owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
        enterprise = await f.enterprise(s, owner_id=owner.id)
        tokens = [await f.access_token(s, settings, u) for u in (admin, officer, owner)]
    return Bank(
        *(gql.as_(t) for t in tokens),
        institution_id=f.global_id("Institution", institution.id),
        enterprise_id=f.global_id("Enterprise", enterprise.id),
    )


def terms(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": "Spring stock loan",
        "type": "WORKING_CAPITAL_LOAN",
        "minAmount": "50000.00",
        "maxAmount": "800000.00",
        "minTermMonths": 6,
        "maxTermMonths": 24,
        "minRate": "0.048000",
        "maxRate": "0.090000",
        "repaymentMethods": ["ANNUITY", "EQUAL_PRINCIPAL"],
        "industries": ["manufacturing"],
        "regions": ["Zhejiang", "Jiangsu"],
        "maxDebtToAsset": "0.70",
    }
    values.update(overrides)
    return values


async def test_a_published_product_changes_by_new_versions(bank: Bank, gql: GraphQLClient) -> None:
    # given: a draft, not in the public catalog
    created = (
        await bank.admin.data(
            CREATE,
            {"input": {"institutionId": bank.institution_id, "code": "ssl", "terms": terms()}},
        )
    )["createProduct"]
    hidden = await gql.data(CATALOG)

    # when: published, then changed, then the change published
    v1 = (await bank.admin.data(PUBLISH, {"input": {"productId": created["id"]}}))["publishProduct"]
    v2 = (
        await bank.admin.data(
            CHANGE, {"input": {"productId": v1["id"], "terms": terms(minRate="0.045000")}}
        )
    )["changeProduct"]
    stale = (await bank.admin.data(CHANGE, {"input": {"productId": v1["id"], "terms": terms()}}))[
        "changeProduct"
    ]
    published = (await bank.admin.data(PUBLISH, {"input": {"productId": v2["id"]}}))[
        "publishProduct"
    ]
    old = (await gql.data(NODE, {"id": v1["id"]}))["node"]
    catalog = await gql.data(CATALOG)

    # then
    assert created["status"] == "DRAFT"
    assert created["code"] == "SSL"
    assert hidden["products"]["totalCount"] == 0
    assert v1["status"] == "PUBLISHED"
    assert (v2["version"], v2["status"], v2["minRate"]) == (2, "DRAFT", "0.045000")
    assert stale["code"] == "CONFLICT"
    assert published["status"] == "PUBLISHED"
    assert old == {"status": "RETIRED", "version": 1}
    assert catalog["products"]["edges"] == [{"node": {"code": "SSL", "version": 2}}]


async def test_the_catalog_filters_by_industry_and_region_served(
    bank: Bank, gql: GraphQLClient
) -> None:
    # given: one product for Zhejiang manufacturers, one for everyone
    for code, given in (("ZJM", terms()), ("ANY", terms(industries=[], regions=[]))):
        made = (
            await bank.admin.data(
                CREATE,
                {"input": {"institutionId": bank.institution_id, "code": code, "terms": given}},
            )
        )["createProduct"]
        await bank.admin.data(PUBLISH, {"input": {"productId": made["id"]}})

    async def codes(**flt: str) -> set[str]:
        found = await gql.data(CATALOG, {"filter": flt})
        return {e["node"]["code"] for e in found["products"]["edges"]}

    # when / then
    assert await codes(industry="manufacturing", region="Zhejiang") == {"ZJM", "ANY"}
    assert await codes(industry="catering") == {"ANY"}
    assert await codes(region="Guangdong") == {"ANY"}


async def test_only_the_institutions_admin_keeps_its_catalog(
    bank: Bank, gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    async with session_factory(db)() as s, s.begin():
        other = await f.institution(s)
        stranger = await f.user(s, roles=[(Role.INSTITUTION_ADMIN, other.id)])
        token = await f.access_token(s, settings, stranger)
    create = {"input": {"institutionId": bank.institution_id, "code": "X1", "terms": terms()}}

    # when
    by_officer = await bank.officer.post(CREATE, create)
    by_stranger = await gql.as_(token).post(CREATE, create)
    bad = await bank.admin.data(
        CREATE,
        {
            "input": {
                "institutionId": bank.institution_id,
                "code": "X2",
                "terms": terms(minAmount="900000.00", minRate="1.5"),
            }
        },
    )

    # then
    assert by_officer["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert by_stranger["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert bad["createProduct"]["code"] == "BAD_USER_INPUT"
    assert "minAmount: 0 < minAmount <= maxAmount" in bad["createProduct"]["message"]
    assert "minRate: 0 <= minRate <= maxRate" in bad["createProduct"]["message"]
    assert bad["createProduct"]["field"] == "input.terms.minAmount"  # the first at fault


async def test_the_admin_sets_the_four_eyes_threshold(bank: Bank) -> None:
    # when
    done = await bank.admin.data(
        THRESHOLD, {"input": {"institutionId": bank.institution_id, "threshold": "250000.00"}}
    )
    negative = await bank.admin.data(
        THRESHOLD, {"input": {"institutionId": bank.institution_id, "threshold": "-1.00"}}
    )
    by_officer = await bank.officer.post(
        THRESHOLD, {"input": {"institutionId": bank.institution_id, "threshold": "1.00"}}
    )

    # then
    assert done["setFourEyesThreshold"]["threshold"] == "250000.00"
    assert negative["setFourEyesThreshold"]["code"] == "BAD_USER_INPUT"
    assert by_officer["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def statement(**overrides: str | int) -> dict[str, Any]:
    values: dict[str, Any] = {
        "fiscalYear": 2025,
        "revenue": "3200000.00",
        "costOfSales": "2300000.00",
        "operatingProfit": "420000.00",
        "interestExpense": "60000.00",
        "netProfit": "290000.00",
        "totalAssets": "2500000.00",
        "currentAssets": "1400000.00",
        "totalLiabilities": "1500000.00",
        "currentLiabilities": "900000.00",
        "equity": "1000000.00",
        "operatingCashFlow": "380000.00",
    }
    values.update(overrides)
    return values


async def test_filed_accounts_make_an_enterprise_eligible_and_ranked(
    bank: Bank, db: AsyncEngine
) -> None:
    # given: two open products, one capping debt-to-asset at 70%, one for caterers only
    async with session_factory(db)() as s, s.begin():
        lender = await f.institution(s)
        capped = await f.product(s, institution_id=lender.id, min_rate="0.050000")
        capped.eligibility = {"max_debt_to_asset": "0.70"}
        catering = await f.product(s, institution_id=lender.id, min_rate="0.040000")
        catering.eligibility = {"industries": ["catering"]}
        draft = await f.product(s, institution_id=lender.id, status=ProductStatus.DRAFT)
    ask = {"id": bank.enterprise_id, "amount": "200000.00", "term": 12}
    before = (await bank.owner.data(RECOMMEND, ask))["recommendedProducts"]

    # when: the owner files accounts (an unbalanced sheet first)
    unbalanced = await bank.owner.data(
        STATEMENT, {"input": {"enterpriseId": bank.enterprise_id, **statement(equity="1.00")}}
    )
    open_year = await bank.owner.data(
        STATEMENT,
        {"input": {"enterpriseId": bank.enterprise_id, **statement(fiscalYear=utcnow().year)}},
    )
    filed = await bank.owner.data(
        STATEMENT, {"input": {"enterpriseId": bank.enterprise_id, **statement()}}
    )
    after = (await bank.owner.data(RECOMMEND, ask))["recommendedProducts"]
    by_officer = await bank.officer.post(RECOMMEND, ask)

    # then
    assert unbalanced["submitFinancialStatement"]["code"] == "BAD_USER_INPUT"
    assert "liabilities plus equity" in unbalanced["submitFinancialStatement"]["message"]
    assert "fiscalYear" in open_year["submitFinancialStatement"]["message"]
    assert filed["submitFinancialStatement"]["totalAssets"] == "2500000.00"
    assert [r["eligible"] for r in before] == [False, False]
    assert {r["product"]["code"]: r["reasons"] for r in before}[capped.code] == [
        "no financial statement filed; the product caps debt-to-asset at 70.00%"
    ]
    first, second = after
    assert (first["product"]["code"], first["eligible"], first["rank"]) == (capped.code, True, 1)
    assert first["quote"]["totalCost"] is not None
    assert any("cheapest total cost" in r for r in first["reasons"])
    assert (second["product"]["code"], second["eligible"]) == (catering.code, False)
    assert second["reasons"] == ["industry manufacturing is not served (serves: catering)"]
    assert draft.code not in {r["product"]["code"] for r in after}
    # the officer's institution has no application from this enterprise: it cannot see it
    assert by_officer["errors"][0]["extensions"]["code"] == "NOT_FOUND"
