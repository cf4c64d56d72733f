"""The compiled read path answers exactly as the reference executor (Strawberry) does.

A differential property: Hypothesis draws whole documents over the tenant world of
``test_tenant_isolation`` -- aliases, named and inline fragments, variables, nested
connections with ``first``, list filters naming other tenants' rows, ``node(id:)`` on
any row of any tenant -- with every personal and masked field of the types selected,
and sends each, as each viewer, to two apps over the same database: one with the
compiled read path, one without, declaring a drawn purpose (or none) in ``X-Purpose``.
Data, errors (with paths and codes) and the access-log entries each request wrote
must be the same.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, note
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.app import create_app
from domain.collateral.models import (
    CollateralItem,
    CollateralKind,
    CollateralStatus,
    Guarantee,
    GuaranteeKind,
    GuaranteeStatus,
)
from domain.identity.models import Role
from domain.identity.viewer import Viewer
from domain.lending.models import Loan
from domain.privacy import consent
from domain.privacy.models import AccessLogEntry
from domain.privacy.purposes import PURPOSES
from domain.settings import Settings
from kernel.base import utcnow
from kernel.db import session_factory
from privacy import keystore, vault
from tests import factories as f
from tests.api import test_tenant_isolation as world_of
from tests.api.conftest import make_settings

EXAMPLES = 60

# Every stored field of the tenant types, personal and sensitive ones included.
FIELDS = {
    "Enterprise": "unifiedSocialCreditCode industry region foundedOn employeeCount "
    "annualRevenue legalRepresentativeName legalRepresentativeIdNumber contactPhone "
    "contactEmail bankAccountNumber",
    "Application": "amount termMonths repaymentMethod purpose status createdAt submittedAt "
    "decidedAt version approvedRate awaitingSecondApproval appealReason appealedAt",
    "Loan": "principal annualRate termMonths repaymentMethod disbursedOn maturityOn status "
    "outstandingPrincipal daysPastDue delinquencyBucket closedOn agedOn writtenOffOn version",
    "ExternalDataRecord": "kind source asOf fetchedAt contentHash facts",
}


class FullRenderer(world_of.Renderer):
    """The tenant-isolation documents, each object asking for every stored field."""

    def _object(self, sel: world_of.Sel, *, parent_type: str) -> tuple[str, Any]:
        text, rendered = super()._object(sel, parent_type=parent_type)
        fields = FIELDS[sel.type_name]
        if text.startswith("..."):
            if text.startswith("... on"):
                return text[:-1] + f" {fields} }}", rendered
            name = text[3:]
            for n, fragment in enumerate(self.fragments):
                if fragment.startswith(f"fragment {name} "):
                    self.fragments[n] = fragment[:-1] + f" {fields} }}"
            return text, rendered
        return f"{text} {fields}", rendered


async def _client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
async def both(
    database_url: str, db: AsyncEngine
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    compiled = create_app(make_settings(database_url), engine=db)
    reference = create_app(make_settings(database_url, compiled_reads=False), engine=db)
    async for one in _client(compiled):
        async for other in _client(reference):
            yield one, other


async def _logged(db: AsyncEngine, request_id: str) -> list[tuple[str, str, str]]:
    async with session_factory(db)() as session:
        rows = await session.execute(
            select(AccessLogEntry.subject_id, AccessLogEntry.object, AccessLogEntry.purpose).where(
                AccessLogEntry.request_id == request_id
            )
        )
        return sorted((str(s), o, p) for s, o, p in rows)


def _comparable(body: dict[str, Any]) -> dict[str, Any]:
    """The answer without what differs by design: the debug figures. Errors are a set
    (the specification gives them no order)."""
    errors = sorted(body.get("errors", []), key=lambda e: (str(e.get("path")), e["message"]))
    return {"data": body.get("data"), "errors": errors}


async def test_compiled_answers_equal_the_reference_executors(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], db: AsyncEngine, settings: Settings
) -> None:
    # given: the tenant world (loans with some applicants: a lawful basis for their
    # officers to see personal values; none for the others, who see them masked)
    world = await world_of.populate(db, settings)
    compiled, reference = both
    loop = asyncio.get_running_loop()
    executors: dict[str, int] = {"compiled": 0, "reference": 0}

    async def ask(
        client: httpx.AsyncClient, viewer: str, document: world_of.Document, purpose: str | None
    ) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
        headers = {"authorization": f"Bearer {world.tokens[viewer]}"}
        if purpose is not None:
            headers["x-purpose"] = purpose
        response = await client.post(
            "/graphql",
            json={"query": document.text, "variables": document.variables},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body, await _logged(db, response.headers["x-request-id"])

    @hypothesis_settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(
        spec=world_of.query_specs(max_level=settings.max_query_depth),
        purpose=st.none() | st.sampled_from(sorted(PURPOSES)),
    )
    def same_answers(spec: world_of.QuerySpec, purpose: str | None) -> None:
        document = FullRenderer(world, settings.max_aliases, len(spec.roots)).render(spec)
        note(f"as {spec.viewer} for {purpose}:\n{document.text}\nvars: {document.variables}")
        fast, fast_log = asyncio.run_coroutine_threadsafe(
            ask(compiled, spec.viewer, document, purpose), loop
        ).result(timeout=60)
        slow, slow_log = asyncio.run_coroutine_threadsafe(
            ask(reference, spec.viewer, document, purpose), loop
        ).result(timeout=60)
        note(f"compiled: {fast}\nreference: {slow}")
        assert slow["extensions"]["debug"]["executor"] == "reference"
        executors[fast["extensions"]["debug"]["executor"]] += 1
        assert _comparable(fast) == _comparable(slow)
        assert fast_log == slow_log

    # when / then
    await asyncio.to_thread(same_answers)

    # and: most drawn documents really went through the compiled path
    assert executors["compiled"] >= EXAMPLES // 2, executors


async def test_a_page_of_the_list_that_matters_most_is_compiled(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], db: AsyncEngine, settings: Settings
) -> None:
    # given: the benchmark's shape, sealed personal fields included, as a loan officer
    world = await world_of.populate(db, settings)
    query = """
    query Page($first: Int!, $after: String) {
      applications(first: $first, after: $after) {
        totalCount
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
        edges { cursor node {
          id amount status termMonths createdAt
          enterprise { id name industry contactPhone legalRepresentativeName }
          product { id name minRate }
          institution { id name }
        } }
      }
    }
    """
    compiled, reference = both
    headers = {"authorization": f"Bearer {world.tokens['officer_a']}"}
    pages: list[dict[str, Any]] = []
    after = None
    for _ in range(3):
        variables = {"first": 1, "after": after}
        fast = (
            await compiled.post(
                "/graphql", json={"query": query, "variables": variables}, headers=headers
            )
        ).json()
        slow = (
            await reference.post(
                "/graphql", json={"query": query, "variables": variables}, headers=headers
            )
        ).json()

        # then: the compiled executor answered, exactly as the reference did
        assert fast["extensions"]["debug"]["executor"] == "compiled"
        assert _comparable(fast) == _comparable(slow)
        pages.append(fast["data"]["applications"])
        after = fast["data"]["applications"]["pageInfo"]["endCursor"]
        if not fast["data"]["applications"]["pageInfo"]["hasNextPage"]:
            break
    # and: the pages walked the officer's applications once each
    seen = [edge["node"]["id"] for page in pages for edge in page["edges"]]
    assert len(seen) == len(set(seen)) == pages[0]["totalCount"] == 3


@pytest.mark.parametrize(
    "order", ["{field: RATE, direction: ASC}", "{field: AMOUNT, direction: DESC}", "null"]
)
async def test_catalog_pages_in_every_order_equal_the_reference(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], db: AsyncEngine, order: str
) -> None:
    # given: a catalog of several institutions' products
    async with session_factory(db)() as s, s.begin():
        for _ in range(3):
            bank = await f.institution(s)
            for _ in range(2):
                await f.product(s, institution_id=bank.id)
    query = f"""
    query Catalog($after: String) {{
      products(first: 2, after: $after, orderBy: {order}) {{
        __typename totalCount
        pageInfo {{ __typename hasNextPage endCursor }}
        edges {{ __typename cursor node {{ __typename id name type status minAmount maxAmount
          minRate maxRate publishedAt collateralRequired institution {{ id code name kind }} }} }}
      }}
    }}
    """
    compiled, reference = both
    after = None
    for _ in range(4):
        body = {"query": query, "variables": {"after": after}}
        fast = (await compiled.post("/graphql", json=body)).json()
        slow = (await reference.post("/graphql", json=body)).json()
        # then
        assert fast["extensions"]["debug"]["executor"] == "compiled"
        assert _comparable(fast) == _comparable(slow)
        after = fast["data"]["products"]["pageInfo"]["endCursor"]
        if not fast["data"]["products"]["pageInfo"]["hasNextPage"]:
            break


async def test_a_constant_answer_needs_no_round_trip(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    # given
    compiled, reference = both
    body = {"query": "query Ping { __typename again: __typename }"}

    # when
    await compiled.post("/graphql", json=body)  # loads the policy once
    fast = (await compiled.post("/graphql", json=body)).json()
    slow = (await reference.post("/graphql", json=body)).json()

    # then: the same answer, and no statement but the policy check
    assert _comparable(fast) == _comparable(slow)
    assert fast["data"] == {"__typename": "Query", "again": "Query"}
    assert fast["extensions"]["debug"]["executor"] == "compiled"
    assert fast["extensions"]["debug"]["sqlStatements"] == 1


async def test_a_query_sent_with_get_is_compiled_too(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], db: AsyncEngine
) -> None:
    # given: a product, asked for with GET (GraphQL over HTTP) and a variable
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        await f.product(s, institution_id=bank.id)
    compiled, reference = both
    params = {
        "query": "query P($n: Int) { products(first: $n) { edges { node { name minRate } } } }",
        "variables": '{"n": 1}',
    }

    # when
    fast = (await compiled.get("/graphql", params=params)).json()
    slow = (await reference.get("/graphql", params=params)).json()

    # then
    assert fast["extensions"]["debug"]["executor"] == "compiled"
    assert _comparable(fast) == _comparable(slow)
    assert len(fast["data"]["products"]["edges"]) == 1


# Each enterprise's consent to credit assessment, as the loan officer's bank sees it.
CONSENT_STATES = ("none", "to the bank", "to another bank", "to any", "withdrawn", "expired")
REVEALED_BY_CONSENT = {"to the bank", "to any"}


async def test_consents_decide_reveals_alike_on_both_paths(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], db: AsyncEngine, settings: Settings
) -> None:
    """Applicants without a loan: only an active consent to the bank (or to any bank)
    lets its officer see their personal values; the compiled path reads consents in
    its statement (api.compiled.facts) and must decide exactly as the reference."""
    # given
    async with session_factory(db)() as s, s.begin():
        bank, other = await f.institution(s), await f.institution(s)
        product = await f.product(s, institution_id=bank.id)
        officer = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        token = await f.access_token(s, settings, officer)
        for state in CONSENT_STATES:
            owner = await f.user(s)
            enterprise = await f.enterprise(s, owner_id=owner.id, name=state)
            await f.application(s, enterprise_id=enterprise.id, product_row=product)
            as_owner = Viewer(user_id=owner.id)
            recipient = {"to another bank": other.id, "to any": None}.get(state, bank.id)
            common = {"viewer": as_owner, "subject_id": enterprise.id}
            common |= {"purpose": "credit_assessment", "recipient_institution_id": recipient}
            if state == "expired":
                past = utcnow() - timedelta(days=30)
                await consent.grant(
                    s, **common, expires_at=past + timedelta(days=1), now=past,
                    text_version="v1", channel="web",
                )  # fmt: skip
            elif state != "none":
                await consent.grant(s, **common, expires_at=None, text_version="v1", channel="web")
            if state == "withdrawn":
                await consent.withdraw(s, **common, channel="web")
    query = "{ applications(first: 20) { edges { node { enterprise { name contactPhone } } } } }"
    headers = {"authorization": f"Bearer {token}"}

    # when
    answers = []
    for client in both:
        response = await client.post("/graphql", json={"query": query}, headers=headers)
        body = response.json()
        answers.append((body, await _logged(db, response.headers["x-request-id"])))

    # then: the same answer and log, the compiled path's own
    (fast, fast_log), (slow, slow_log) = answers
    assert fast["extensions"]["debug"]["executor"] == "compiled"
    assert _comparable(fast) == _comparable(slow)
    assert fast_log == slow_log
    phones = {
        e["node"]["enterprise"]["name"]: e["node"]["enterprise"]["contactPhone"]
        for e in fast["data"]["applications"]["edges"]
    }
    revealed = {name for name, phone in phones.items() if phone == f.PERSONAL["contact_phone"]}
    assert set(phones) == set(CONSENT_STATES)
    assert revealed == REVEALED_BY_CONSENT
    assert len(fast_log) == len(REVEALED_BY_CONSENT)


async def test_a_loan_s_security_is_left_to_the_reference_and_answered_alike(
    both: tuple[httpx.AsyncClient, httpx.AsyncClient], db: AsyncEngine, settings: Settings
) -> None:
    # given: every loan of the tenant world secured by an item and a guarantee, its
    # guarantor sealed (Loan.collateral, .guarantees and .creditLoss are relations the
    # catalog does not compile: the compiled path must hand the whole operation over)
    world = await world_of.populate(db, settings)
    async with session_factory(db)() as s, s.begin():
        for name in world_of.LOANS:
            loan = await s.get_one(Loan, world.ids[name])
            await _secured(s, loan)
    query = """
    { loans(first: 50) { edges { node {
        id status
        collateral { id kind marketValue coveredValue valuations { marketValue } }
        guarantees { id kind guarantorName guarantorIdentity amount coveredAmount }
        creditLoss { lossGivenDefault }
    } } } }
    """
    compiled, reference = both
    for viewer, token in world.tokens.items():
        headers = {"authorization": f"Bearer {token}"}
        # when
        fast = (await compiled.post("/graphql", json={"query": query}, headers=headers)).json()
        slow = (await reference.post("/graphql", json={"query": query}, headers=headers)).json()

        # then: answered by the reference on both apps, byte for byte alike
        assert fast["extensions"]["debug"]["executor"] == "reference", viewer
        assert _comparable(fast) == _comparable(slow), viewer
        assert fast["data"]["loans"]["edges"], viewer
        for edge in fast["data"]["loans"]["edges"]:
            assert [g["kind"] for g in edge["node"]["guarantees"]] == ["PERSONAL"], viewer


async def _secured(s: AsyncSession, loan: Loan) -> None:
    s.add(
        CollateralItem(
            loan_id=loan.id,
            institution_id=loan.institution_id,
            enterprise_id=loan.enterprise_id,
            kind=CollateralKind.EQUIPMENT,
            description="lathe",
            market_value=Decimal("4000.00"),
            valued_on=date(2026, 1, 10),
            valuation_source="dealer",
            status=CollateralStatus.PLEDGED,
        )
    )
    key = (await keystore.unwrap_many(s, f.KEYS, [loan.enterprise_id]))[loan.enterprise_id]
    assert key is not None
    guarantee_id = uuid.uuid4()
    s.add(
        Guarantee(
            id=guarantee_id,
            loan_id=loan.id,
            institution_id=loan.institution_id,
            enterprise_id=loan.enterprise_id,
            kind=GuaranteeKind.PERSONAL,
            guarantor_name=vault.seal(
                key,
                "Wang Fang",
                table="loan_guarantees",
                column="guarantor_name",
                row_id=guarantee_id,
            ),
            amount=Decimal("1000.00"),
            status=GuaranteeStatus.ACTIVE,
        )
    )
    await s.flush()
