"""Field classification and access, and row scoping, through the live schema and app."""

from __future__ import annotations

import base64
import uuid

from sqlalchemy.ext.asyncio import AsyncEngine
from strawberry import relay
from strawberry.types.base import StrawberryObjectDefinition

from api.access import FieldAccess, MutationPermission
from api.schema import build_schema
from domain.applications.models import ApplicationStatus
from domain.identity.models import Role, User
from domain.settings import Settings
from kernel.db import session_factory
from privacy.classification import Classification
from tests import factories as f
from tests.api.conftest import GraphQLClient


def _object_definitions(settings: Settings) -> list[StrawberryObjectDefinition]:
    schema = build_schema(settings)
    found = []
    for graphql_type in schema._schema.type_map.values():
        definition = getattr(graphql_type, "extensions", {}).get("strawberry-definition")
        if isinstance(definition, StrawberryObjectDefinition) and not definition.is_input:
            found.append(definition)
    return found


def _node_id_attribute(definition: StrawberryObjectDefinition) -> str | None:
    origin = definition.origin
    return origin.resolve_id_attr() if issubclass(origin, relay.Node) else None


def test_every_field_of_every_type_is_classified_and_guarded(settings: Settings) -> None:
    # given
    definitions = _object_definitions(settings)
    assert {"Query", "Enterprise", "Application", "Loan", "Product", "User"} <= {
        d.name for d in definitions
    }

    # when
    unguarded = [
        f"{d.name}.{field.python_name}"
        for d in definitions
        if not d.is_interface and d.name != "Mutation"
        for field in d.fields
        if field.python_name != _node_id_attribute(d)  # not served: `id` stands for it
        and (
            not any(isinstance(e, FieldAccess) for e in field.extensions)
            or not isinstance((field.metadata or {}).get("classification"), Classification)
        )
    ]

    # then
    assert unguarded == []


def test_every_mutation_declares_its_permission(settings: Settings) -> None:
    # given
    mutation = next(d for d in _object_definitions(settings) if d.name == "Mutation")

    # when
    declared = {
        field.graphql_name: [
            e.object for e in field.extensions if isinstance(e, MutationPermission)
        ]
        for field in mutation.fields
    }

    # then
    assert len(declared) >= 12
    assert all(objects == [f"Mutation.{name}"] for name, objects in declared.items()), declared


def test_personal_and_sensitive_fields_are_declared_as_such(settings: Settings) -> None:
    # given
    enterprise = next(d for d in _object_definitions(settings) if d.name == "Enterprise")

    # when
    levels = {
        (field.graphql_name or field.python_name): field.metadata["classification"]
        for field in enterprise.fields
        if field.metadata
    }

    # then
    assert levels["contact_phone"] is Classification.PERSONAL
    assert levels["legal_representative_id_number"] is Classification.SENSITIVE
    assert levels["bank_account_number"] is Classification.SENSITIVE
    assert levels["name"] is Classification.PUBLIC


async def _two_tenants(db: AsyncEngine) -> dict[str, uuid.UUID]:
    async with session_factory(db)() as s, s.begin():
        bank_a, bank_b = await f.institution(s), await f.institution(s)
        product_a = await f.product(s, institution_id=bank_a.id)
        product_b = await f.product(s, institution_id=bank_b.id)
        owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
        mine = await f.enterprise(s, owner_id=owner.id, name="Mine")
        theirs = await f.enterprise(s, name="Theirs")
        mine_app = await f.application(s, enterprise_id=mine.id, product_row=product_a)
        theirs_app = await f.application(s, enterprise_id=theirs.id, product_row=product_b)
        await f.loan(s, application_row=mine_app)
        await f.loan(s, application_row=theirs_app)
    return {
        "bank_a": bank_a.id,
        "bank_b": bank_b.id,
        "owner": owner.id,
        "mine": mine.id,
        "theirs": theirs.id,
        "mine_app": mine_app.id,
        "theirs_app": theirs_app.id,
    }


# Row scoping is proved on public fields (ids, names): which non-public fields each
# role reads is the identity issue's Casbin policy, tested there.
LISTS = """
{
  enterprises { totalCount edges { node { name } } }
  applications { totalCount edges { node { id } } }
  loans { totalCount edges { node { id } } }
}
"""


async def test_anonymous_sees_no_private_rows(gql: GraphQLClient, db: AsyncEngine) -> None:
    # given
    await _two_tenants(db)

    # when
    data = await gql.data(LISTS)

    # then
    assert data["enterprises"]["totalCount"] == 0
    assert data["applications"]["edges"] == []
    assert data["loans"]["totalCount"] == 0


async def _token(db: AsyncEngine, settings: Settings, user_id: uuid.UUID) -> str:
    async with session_factory(db)() as s, s.begin():
        row = await s.get(User, user_id)
        assert row is not None
        return await f.access_token(s, settings, row)


async def _staff(db: AsyncEngine, settings: Settings, role: Role, bank: uuid.UUID) -> str:
    async with session_factory(db)() as s, s.begin():
        row = await f.user(s, roles=[(role, bank)])
        return await f.access_token(s, settings, row)


async def test_an_owner_sees_only_own_rows_whatever_the_path(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    ids = await _two_tenants(db)
    owner = gql.as_(await _token(db, settings, ids["owner"]))

    # when
    data = await owner.data(LISTS)
    hidden = await owner.post(
        "query($id: ID!) { node(id: $id) { id } }",
        {"id": _global_id("Application", ids["theirs_app"])},
    )

    # then
    assert [e["node"]["name"] for e in data["enterprises"]["edges"]] == ["Mine"]
    assert [e["node"]["id"] for e in data["applications"]["edges"]] == [
        _global_id("Application", ids["mine_app"])
    ]
    assert data["loans"]["totalCount"] == 1
    assert hidden["data"]["node"] is None
    assert hidden["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_staff_of_one_institution_see_only_what_was_routed_to_it(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given
    ids = await _two_tenants(db)
    officer = gql.as_(await _staff(db, settings, Role.LOAN_OFFICER, ids["bank_b"]))

    # when
    data = await officer.data(LISTS)

    # then
    assert [e["node"]["name"] for e in data["enterprises"]["edges"]] == ["Theirs"]
    assert [e["node"]["id"] for e in data["applications"]["edges"]] == [
        _global_id("Application", ids["theirs_app"])
    ]
    assert data["loans"]["totalCount"] == 1


async def test_a_denied_field_is_null_with_forbidden_and_the_rest_still_answers(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: the default policy never shows a risk officer a bank account number
    ids = await _two_tenants(db)
    officer = gql.as_(await _staff(db, settings, Role.RISK_OFFICER, ids["bank_a"]))

    # when
    body = await officer.post("{ enterprises { edges { node { name bankAccountNumber } } } }")

    # then
    node = body["data"]["enterprises"]["edges"][0]["node"]
    assert node == {"name": "Mine", "bankAccountNumber": None}
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert body["errors"][0]["path"] == ["enterprises", "edges", 0, "node", "bankAccountNumber"]


async def test_read_without_reveal_masks_and_reveal_shows(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: a loan officer reveals contact details but not identity documents
    ids = await _two_tenants(db)
    officer = gql.as_(await _staff(db, settings, Role.LOAN_OFFICER, ids["bank_a"]))
    owner = gql.as_(await _token(db, settings, ids["owner"]))
    query = "{ enterprises { edges { node { contactPhone legalRepresentativeIdNumber } } } }"

    # when
    seen_by_officer = (await officer.data(query))["enterprises"]["edges"][0]["node"]
    seen_by_owner = (await owner.data(query))["enterprises"]["edges"][0]["node"]

    # then
    assert seen_by_officer["contactPhone"] == "13812345678"
    assert seen_by_officer["legalRepresentativeIdNumber"] == "110101********1234"
    assert seen_by_owner["legalRepresentativeIdNumber"] == "110101199003071234"


def _global_id(type_name: str, pk: uuid.UUID) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


async def test_a_draft_stays_the_applicants_until_submitted(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: an enterprise whose only application to bank A is a draft
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s)
        product = await f.product(s, institution_id=bank.id)
        owner = await f.user(s, roles=[(Role.SME_OWNER, None)])
        enterprise = await f.enterprise(s, owner_id=owner.id, name="Drafting")
        draft = await f.application(
            s, enterprise_id=enterprise.id, product_row=product, status=ApplicationStatus.DRAFT
        )
    officer = gql.as_(await _staff(db, settings, Role.LOAN_OFFICER, bank.id))
    applicant = gql.as_(await _token(db, settings, owner.id))

    # when
    seen_by_officer = await officer.data(LISTS)
    by_id = await officer.post(
        "query($id: ID!) { node(id: $id) { id } }", {"id": _global_id("Application", draft.id)}
    )
    seen_by_owner = await applicant.data(LISTS)

    # then
    assert seen_by_officer["applications"]["totalCount"] == 0
    assert seen_by_officer["enterprises"]["totalCount"] == 0
    assert by_id["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert seen_by_owner["applications"]["totalCount"] == 1
