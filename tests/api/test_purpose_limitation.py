"""Purpose limitation: a lawful basis reveals only for the purposes the table gives it.

Every (basis, purpose) pair is tried through the live API: a viewer who holds exactly
one basis for a subject asks for its phone declaring the purpose in ``X-Purpose``,
and sees it revealed (and logged under that purpose) only where the pair is listed.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.identity.viewer import Viewer
from domain.models import AccessLogEntry, Role
from domain.privacy import consent, lawful_bases
from domain.privacy.lawful_bases import Basis
from domain.privacy.purposes import PURPOSES
from domain.settings import Settings
from kernel.db import session_factory
from kernel.tables import InvalidTable
from tests import factories as f
from tests.api.conftest import GraphQLClient

PHONE = "{ enterprises { edges { node { contactPhone } } } }"
EXPLAIN = """
query($subject: ID!, $purpose: String) {
  explainFieldAccess(type: "Enterprise", field: "contactPhone", subjectId: $subject,
                     purpose: $purpose) { outcome lawfulBasis }
}
"""
REVEALED, MASKED = "13812345678", "138****5678"

# The table as reviewed, written out by hand: the file must say exactly this.
LISTED = {
    Basis.SUBJECT: {
        "own_data",
        "data_subject_request",
        "credit_assessment",
        "loan_servicing",
        "product_recommendation",
    },
    Basis.PLATFORM_OVERSIGHT: {"oversight", "data_subject_request"},
    Basis.CONSENT: {"credit_assessment", "loan_servicing", "product_recommendation", "marketing"},
    Basis.CONTRACT: {"credit_assessment", "loan_servicing"},
}
PAIRS = list(itertools.product(Basis, sorted(PURPOSES)))


def test_the_table_lists_what_was_reviewed() -> None:
    assert {basis: set(purposes) for basis, purposes in lawful_bases.table().items()} == LISTED


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("contract, marketing, extra", "line 1: want 'basis, purpose'"),
        ("# a comment\nlegitimate_interest, marketing", "line 2: unknown basis"),
        ("consent, curiosity", "line 1: unknown purpose 'curiosity'"),
    ],
)
def test_a_malformed_table_is_refused_not_skipped(text: str, problem: str) -> None:
    with pytest.raises(InvalidTable, match=problem):
        lawful_bases.parse(text)


@dataclass(frozen=True)
class World:
    token: str
    enterprise: str


async def _world(db: AsyncEngine, settings: Settings, basis: Basis) -> World:
    """A viewer holding ``basis`` (and no other) for an enterprise that applied to a bank."""
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        product = await f.product(s, institution_id=bank.id)
        owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
        enterprise = await f.enterprise(s, owner_id=owner.id)
        application = await f.application(s, enterprise_id=enterprise.id, product_row=product)
        if basis is Basis.SUBJECT:
            viewer = owner
        elif basis is Basis.PLATFORM_OVERSIGHT:
            viewer = await f.user(s, roles=[(Role.PRIVACY_OFFICER, None)])
        else:
            viewer = await f.user(s, roles=[(Role.LOAN_OFFICER, bank.id)])
        if basis is Basis.CONTRACT:
            await f.loan(s, application_row=application)
        if basis is Basis.CONSENT:
            # Consent to everything one can consent to: the purpose asked decides.
            for purpose in sorted(consent.CONSENTABLE):
                await consent.grant(
                    s,
                    viewer=Viewer(user_id=owner.id),
                    subject_id=enterprise.id,
                    purpose=purpose,
                    recipient_institution_id=bank.id,
                    expires_at=None,
                    text_version="2026-11",
                    channel="web",
                )
        return World(
            token=await f.access_token(s, settings, viewer),
            enterprise=f.global_id("Enterprise", enterprise.id),
        )


@pytest.mark.parametrize(("basis", "purpose"), PAIRS, ids=[f"{b.value}-{p}" for b, p in PAIRS])
async def test_a_basis_reveals_only_for_the_purposes_it_covers(
    basis: Basis, purpose: str, gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    world = await _world(db, settings, basis)
    lawful = purpose in LISTED[basis]

    # when
    response = await gql.http.post(
        "/graphql",
        json={"query": PHONE},
        headers={"authorization": f"Bearer {world.token}", "x-purpose": purpose},
    )
    explained = await gql.as_(world.token).data(
        EXPLAIN, {"subject": world.enterprise, "purpose": purpose}
    )
    async with session_factory(db)() as s:
        logged = (await s.scalars(select(AccessLogEntry.purpose))).all()

    # then
    body = response.json()
    assert "errors" not in body, body["errors"]
    phone = body["data"]["enterprises"]["edges"][0]["node"]["contactPhone"]
    assert phone == (REVEALED if lawful else MASKED)
    assert explained["explainFieldAccess"]["outcome"] == ("REVEALED" if lawful else "MASKED")
    assert (explained["explainFieldAccess"]["lawfulBasis"] is not None) is lawful
    assert logged == ([purpose] if lawful else [])
