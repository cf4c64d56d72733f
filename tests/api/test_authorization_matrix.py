"""The default policy's authorization matrix, proved field by field through the live API.

For every role and every field of Enterprise, Application, Loan, RiskAssessment and
User, the expected outcome (allow / mask / deny) is computed with pycasbin straight
from ``authz_model.conf`` and ``authz_default_policy.csv``, not through the app's
database-loaded ``Authorizer``, and compared with what a real GraphQL request,
signed with a real bearer token, returns.
"""

from __future__ import annotations

import base64
import enum
import functools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import casbin
import pytest
from graphql import GraphQLObjectType, get_named_type, is_leaf_type, is_non_null_type
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.utils.str_converters import to_camel_case

from api.schema import build_schema
from domain.base import utcnow
from domain.db import session_factory
from domain.identity.authorization import DEFAULT_POLICY_PATH, MODEL_PATH
from domain.identity.models import Institution, Role, ServiceAccount, User
from domain.identity.security import hash_password, mint_token
from domain.models import Application, Enterprise, Loan
from domain.risk.models import RiskAssessment
from domain.settings import Settings
from privacy.classification import Classification
from privacy.masking import mask
from tests import factories as f
from tests.api.conftest import GraphQLClient, make_settings

TYPES = ("Enterprise", "Application", "Loan", "RiskAssessment", "User")
INSTITUTION_CODE = "MTX01"
SERVICE_SCOPES = frozenset({"applications:read", "loans:read"})
# Held within an institution (Casbin domain: its code); the other roles are platform-wide.
INSTITUTION_ROLES = frozenset(
    {Role.LOAN_OFFICER, Role.RISK_OFFICER, Role.INSTITUTION_ADMIN, Role.PARTNER_SERVICE}
)
PROTECTED = frozenset({Classification.PERSONAL, Classification.SENSITIVE})

Path = tuple[str | int, ...]


class Outcome(enum.Enum):
    ALLOW = "allow"
    MASK = "mask"
    DENY = "deny"


# ------------------------------------------------------------ the expected matrix


@functools.cache
def _enforcer() -> Any:
    return casbin.Enforcer(str(MODEL_PATH), str(DEFAULT_POLICY_PATH))


@functools.cache
def _enforce(subject: str, domain: str, obj: str, act: str) -> bool:
    return bool(_enforcer().enforce(subject, domain, obj, act))


@functools.cache
def _denied(subject: str, domain: str, obj: str, act: str) -> bool:
    """An explicit deny matched (not merely no allow)."""
    ok, rule = _enforcer().enforce_ex(subject, domain, obj, act)
    return not ok and bool(rule) and rule[-1] == "deny"


def _grants(role: Role) -> tuple[tuple[str, str], ...]:
    domain = INSTITUTION_CODE if role in INSTITUTION_ROLES else "*"
    return (("authenticated", "*"), (role.value, domain))


def allows(role: Role, obj: str, act: str) -> bool:
    # Some grant allows and none is explicitly denied: a role's deny beats the others.
    grants = _grants(role)
    if not any(_enforce(subject, domain, obj, act) for subject, domain in grants):
        return False
    if any(_denied(subject, domain, obj, act) for subject, domain in grants):
        return False
    if role is not Role.PARTNER_SERVICE:
        return True
    # A service token is further held to its scopes, and there reveal follows read.
    scope_act = "read" if act == "reveal" else act
    return any(_enforce(f"scope:{scope}", "*", obj, scope_act) for scope in SERVICE_SCOPES)


@dataclass(frozen=True)
class FieldInfo:
    type_name: str
    name: str
    classification: Classification
    non_null: bool
    leaf: bool
    scalar: str  # the named GraphQL type: String, Decimal, Float, Enterprise, ...

    @property
    def object(self) -> str:
        return f"{self.type_name}.{self.name}"

    @property
    def selection(self) -> str:
        return self.name if self.leaf else f"{self.name} {{ __typename }}"


def expected(role: Role, field: FieldInfo) -> Outcome:
    if not allows(role, field.object, "read"):
        return Outcome.DENY
    if field.classification in PROTECTED and not allows(role, field.object, "reveal"):
        return Outcome.MASK
    return Outcome.ALLOW


Catalogue = dict[str, tuple[FieldInfo, ...]]
Matrix = dict[tuple[Role, str], Outcome]


@pytest.fixture(scope="module")
def catalogue(database_url: str) -> Catalogue:
    """Every field of the five types, with its classification, as the built schema serves it."""
    schema = build_schema(make_settings(database_url))._schema
    found: Catalogue = {}
    for type_name in TYPES:
        graphql_type = schema.type_map[type_name]
        assert isinstance(graphql_type, GraphQLObjectType)
        definition = graphql_type.extensions["strawberry-definition"]
        assert isinstance(definition, StrawberryObjectDefinition)
        fields = []
        for field in definition.fields:
            name = field.graphql_name or to_camel_case(field.python_name)
            served = graphql_type.fields[name].type
            named = get_named_type(served)
            classification = field.metadata["classification"] if field.metadata else None
            assert isinstance(classification, Classification), f"{type_name}.{name}"
            fields.append(
                FieldInfo(
                    type_name=type_name,
                    name=name,
                    classification=classification,
                    non_null=is_non_null_type(served),
                    leaf=is_leaf_type(named),
                    scalar=named.name,
                )
            )
        found[type_name] = tuple(fields)
    return found


@pytest.fixture(scope="module")
def matrix(catalogue: Catalogue) -> Matrix:
    return {
        (role, field.object): expected(role, field)
        for role in Role
        for fields in catalogue.values()
        for field in fields
    }


# ------------------------------------------------------------ one row of each type


@dataclass(frozen=True)
class World:
    token: str
    # Type -> field -> the value the API serves when it is allowed (JSON, unmasked).
    truth: dict[str, dict[str, Any]]


def _gid(type_name: str, pk: uuid.UUID) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


async def _risk_assessment(s: AsyncSession, application: Application) -> RiskAssessment:
    row = RiskAssessment(
        application_id=application.id,
        enterprise_id=application.enterprise_id,
        probability_of_default=0.0312,
        score=712,
        grade="A",
        reasons=[
            {"feature": "debt_ratio", "impact": 0.42, "text": "Debt is high against assets"},
            {"feature": "years_in_business", "impact": -0.18, "text": "Trading for ten years"},
        ],
        model_version="pd-logit-2026.11",
        assessed_at=f.FIXED_NOW,
    )
    s.add(row)
    await s.flush()
    return row


async def _service_token(s: AsyncSession, settings: Settings, bank: Institution) -> str:
    account = ServiceAccount(
        institution_id=bank.id,
        name="Matrix partner",
        client_id="matrix-partner",
        secret_hash=hash_password("x" * 20),
        scopes=sorted(SERVICE_SCOPES),
    )
    s.add(account)
    await s.flush()
    return mint_token(
        settings.signing_key(),
        subject=str(account.id),
        type="access",
        now=utcnow(),
        ttl=900,
        service=True,
        scopes=SERVICE_SCOPES,
    )


async def _world(db: AsyncEngine, settings: Settings, role: Role) -> World:
    """An owned enterprise that applied to the institution's product, and a viewer in ``role``.

    The owner owns the enterprise, institution roles belong to the institution applied
    to, platform roles see every institution: each role can reach every row.
    """
    async with session_factory(db)() as s, s.begin():
        bank = await f.institution(s, code=INSTITUTION_CODE)
        product = await f.product(s, institution_id=bank.id)
        owner = await f.user(s, email="owner@example.test", roles=[(Role.SME_OWNER, None)])
        enterprise = await f.enterprise(s, owner_id=owner.id, name="Matrix Works")
        application = await f.application(s, enterprise_id=enterprise.id, product_row=product)
        loan = await f.loan(s, application_row=application)
        assessment = await _risk_assessment(s, application)
        viewer: User | None
        if role is Role.SME_OWNER:
            viewer, token = owner, await f.access_token(s, settings, owner)
        elif role is Role.PARTNER_SERVICE:
            viewer, token = None, await _service_token(s, settings, bank)
        else:
            held_in = bank.id if role in INSTITUTION_ROLES else None
            viewer = await f.user(s, email=f"{role.value}@example.test", roles=[(role, held_in)])
            token = await f.access_token(s, settings, viewer)
    truth = {
        "Enterprise": _enterprise_truth(enterprise),
        "Application": _application_truth(application),
        "Loan": _loan_truth(loan),
        "RiskAssessment": _assessment_truth(assessment),
        "User": {} if viewer is None else _user_truth(viewer),
    }
    return World(token=token, truth=truth)


def _enterprise_truth(row: Enterprise) -> dict[str, Any]:
    return {
        "id": _gid("Enterprise", row.id),
        "name": "Matrix Works",
        "unifiedSocialCreditCode": row.unified_social_credit_code,
        "industry": "manufacturing",
        "region": "Zhejiang",
        "foundedOn": "2015-03-01",
        "employeeCount": 25,
        "annualRevenue": "3200000.00",
        "legalRepresentativeName": "Zhang Wei",
        "legalRepresentativeIdNumber": "110101199003071234",
        "contactPhone": "13812345678",
        "contactEmail": f.contact_email(row.name),
        "bankAccountNumber": "6222020200112233445",
        "financialStatements": [],
        "latestRating": None,
        "ratingHistory": [],
        "applications": {"__typename": "ApplicationConnection"},
        "verificationLevel": "VERIFIED",
    }


def _application_truth(row: Application) -> dict[str, Any]:
    return {
        "id": _gid("Application", row.id),
        "amount": "200000.00",
        "termMonths": 12,
        "repaymentMethod": "ANNUITY",
        "purpose": "working capital",
        "status": "SUBMITTED",
        "createdAt": "2026-11-01T09:00:00+00:00",
        "submittedAt": "2026-11-01T09:00:00+00:00",
        "decidedAt": None,
        "enterprise": {"__typename": "Enterprise"},
        "product": {"__typename": "Product"},
        "institution": {"__typename": "Institution"},
        "riskAssessment": {"__typename": "RiskAssessment"},
        "decisions": [],
        "loan": {"__typename": "Loan"},
        "version": 1,
        "approvedRate": None,
        "awaitingSecondApproval": False,
        "appealReason": None,
        "appealedAt": None,
        "timeline": [],
        "contract": None,
    }


def _loan_truth(row: Loan) -> dict[str, Any]:
    return {
        "id": _gid("Loan", row.id),
        "principal": "200000.00",
        "annualRate": "0.060000",
        "termMonths": 12,
        "repaymentMethod": "ANNUITY",
        "disbursedOn": "2026-01-15",
        "maturityOn": "2027-01-15",
        "status": "ACTIVE",
        "outstandingPrincipal": "200000.00",
        "daysPastDue": 0,
        "delinquencyBucket": "CURRENT",
        "closedOn": None,
        "application": {"__typename": "Application"},
        "enterprise": {"__typename": "Enterprise"},
        "product": {"__typename": "Product"},
        "institution": {"__typename": "Institution"},
        "schedule": [],
        "repayments": [],
        "payoffAmount": "0.00",
        "agedOn": None,
        "writtenOffOn": None,
        "writeOffReason": None,
        "version": 1,
        "warning": None,
    }


def _assessment_truth(row: RiskAssessment) -> dict[str, Any]:
    return {
        "id": _gid("RiskAssessment", row.id),
        "probabilityOfDefault": 0.0312,
        "score": 712,
        "grade": "A",
        "reasons": [{"__typename": "ScoreReason"}, {"__typename": "ScoreReason"}],
        "modelVersion": "pd-logit-2026.11",
        "assessedAt": "2026-11-01T09:00:00+00:00",
    }


def _user_truth(row: User) -> dict[str, Any]:
    return {
        "id": _gid("User", row.id),
        "email": f.email_of(row),
        "displayName": f.display_name_for(f.email_of(row)),
        "status": "ACTIVE",
        "mfaEnabled": False,
        "lastLoginAt": None,
        "roles": [{"__typename": "RoleGrant"}],
    }


# ------------------------------------------------------------ one request per role per type


@dataclass(frozen=True)
class Route:
    """How a viewer reaches a type from Query: the chain, its guards, each step's path."""

    fields: tuple[str, ...]
    objects: tuple[str, ...]  # the policy object guarding each step
    paths: tuple[Path, ...]  # each step's path in the response, below the top-level alias

    def select(self, alias: str, inner: str) -> str:
        for name in reversed(self.fields[1:]):
            inner = f"{name} {{ {inner} }}"
        return f"{alias}: {self.fields[0]} {{ {inner} }}"


# Generic types are guarded under their generic names: Connection.edges, Edge.node.
_EDGES = ("Connection.edges", "Edge.node")
_EDGE_PATHS: tuple[Path, ...] = ((), ("edges",), ("edges", 0, "node"))
ROUTES = {
    "Enterprise": Route(
        ("enterprises", "edges", "node"), ("Query.enterprises", *_EDGES), _EDGE_PATHS
    ),
    "Application": Route(
        ("applications", "edges", "node"), ("Query.applications", *_EDGES), _EDGE_PATHS
    ),
    "Loan": Route(("loans", "edges", "node"), ("Query.loans", *_EDGES), _EDGE_PATHS),
    "RiskAssessment": Route(
        ("applications", "edges", "node", "riskAssessment"),
        ("Query.applications", *_EDGES, "Application.riskAssessment"),
        (*_EDGE_PATHS, ("edges", 0, "node", "riskAssessment")),
    ),
    "User": Route(("me",), ("Query.me",), ((),)),
}
MAIN = "main"


@dataclass(frozen=True)
class Probe:
    """A document, and where in its answer each field (or the refused route) shows."""

    type_name: str
    document: str
    cells: tuple[tuple[FieldInfo, Path], ...] = ()
    denied_route: Path | None = None
    null_route: Path | None = None


def probe(role: Role, type_name: str, fields: tuple[FieldInfo, ...], matrix: Matrix) -> Probe:
    route = ROUTES[type_name]
    for obj, path in zip(route.objects, route.paths, strict=True):
        if not allows(role, obj, "read"):
            document = "{ " + route.select(MAIN, "__typename") + " }"
            return Probe(type_name, document, denied_route=(MAIN, *path))
    if role is Role.PARTNER_SERVICE and type_name == "User":
        # A service is no user, so User's fields are skipped for it; only its route is
        # checked: refused above while no scope covers Query.me, else `me` is null.
        document = "{ " + route.select(MAIN, "__typename") + " }"
        return Probe(type_name, document, null_route=(MAIN,))
    # A denied non-null field nulls its parent too, so each gets a route of its own
    # (an alias) where it cannot take its siblings with it.
    alone = [x for x in fields if x.non_null and matrix[(role, x.object)] is Outcome.DENY]
    together = [x for x in fields if x not in alone]
    selections = [route.select(MAIN, " ".join(x.selection for x in together) or "__typename")]
    cells = [(x, (MAIN, *route.paths[-1], x.name)) for x in together]
    for x in alone:
        alias = f"denied_{x.name}"
        selections.append(route.select(alias, x.selection))
        cells.append((x, (alias, *route.paths[-1], x.name)))
    return Probe(type_name, "{ " + " ".join(selections) + " }", cells=tuple(cells))


MISSING = "<missing>"


def _at(data: Any, path: Path) -> Any:
    """The value at ``path``, or None where a parent on the way is null."""
    for step in path:
        if data is None:
            return None
        if isinstance(step, int):
            if not isinstance(data, list) or len(data) <= step:
                return MISSING
        elif not isinstance(data, dict) or step not in data:
            return MISSING
        data = data[step]
    return data


def _masked(field: FieldInfo, value: Any) -> Any:
    # Text keeps a recognisable hint; anything else (figures) is withheld as null.
    return mask(value, field.name) if field.scalar == "String" else None


def mismatches(
    role: Role,
    found: Probe,
    body: Mapping[str, Any],
    truth: Mapping[str, Any],
    matrix: Matrix,
) -> list[str]:
    data = body.get("data") or {}
    errors = {
        (tuple(e.get("path") or ()), (e.get("extensions") or {}).get("code"))
        for e in body.get("errors", [])
    }
    wanted_errors: set[tuple[Path, Any]] = set()
    problems = []
    # A refused non-null root field (a connection) nulls the whole of data, as GraphQL says.
    nulled = body.get("data") is None
    for path in (found.denied_route, found.null_route):
        if path is not None and not nulled and _at(data, path) is not None:
            problems.append(f"{role.value} {path}: wants null, got {_at(data, path)!r}")
    if found.denied_route is not None:
        wanted_errors.add((found.denied_route, "FORBIDDEN"))
    if found.cells and set(truth) != {x.name for x, _ in found.cells}:
        problems.append(f"{found.type_name}: the test's values do not cover the schema's fields")
    for field, path in found.cells:
        outcome = matrix[(role, field.object)]
        if outcome is Outcome.DENY:
            want = None
            wanted_errors.add((path, "FORBIDDEN"))
        elif outcome is Outcome.MASK:
            want = _masked(field, truth.get(field.name))
        else:
            want = truth.get(field.name)
        got = _at(data, path)
        if got != want:
            problems.append(f"{role.value} {field.object} ({outcome.value}): {want!r} != {got!r}")
    if errors != wanted_errors:
        problems.append(
            f"{role.value} {found.type_name}: errors {sorted(map(str, errors))},"
            f" wanted {sorted(map(str, wanted_errors))}"
        )
    return problems


# ------------------------------------------------------------ the tests


def test_the_generated_matrix_says_what_the_policy_says(
    catalogue: Catalogue, matrix: Matrix
) -> None:
    # given: cells read off the policy by hand
    by_hand = {
        (Role.SME_OWNER, "RiskAssessment.probabilityOfDefault"): Outcome.DENY,
        (Role.SME_OWNER, "RiskAssessment.grade"): Outcome.ALLOW,
        (Role.SME_OWNER, "Enterprise.legalRepresentativeIdNumber"): Outcome.ALLOW,
        (Role.LOAN_OFFICER, "Enterprise.legalRepresentativeIdNumber"): Outcome.MASK,
        (Role.LOAN_OFFICER, "Enterprise.contactPhone"): Outcome.ALLOW,
        (Role.INSTITUTION_ADMIN, "Enterprise.bankAccountNumber"): Outcome.MASK,
        (Role.RISK_OFFICER, "Enterprise.bankAccountNumber"): Outcome.DENY,
        (Role.RISK_OFFICER, "Enterprise.contactPhone"): Outcome.MASK,
        (Role.RISK_OFFICER, "Enterprise.annualRevenue"): Outcome.ALLOW,
        (Role.PARTNER_SERVICE, "Enterprise.contactPhone"): Outcome.ALLOW,
        (Role.PARTNER_SERVICE, "Loan.principal"): Outcome.ALLOW,
        (Role.PARTNER_SERVICE, "User.email"): Outcome.DENY,  # no scope covers users
        (Role.PLATFORM_RISK_OFFICER, "Enterprise.bankAccountNumber"): Outcome.DENY,
        (Role.PLATFORM_ADMIN, "Enterprise.annualRevenue"): Outcome.MASK,
        (Role.AUDITOR, "Enterprise.contactPhone"): Outcome.MASK,
        (Role.AUDITOR, "User.email"): Outcome.ALLOW,  # everyone reveals their own account
    }
    field_count = sum(len(fields) for fields in catalogue.values())

    # when
    generated = {cell: matrix[cell] for cell in by_hand}

    # then
    assert generated == by_hand
    assert {o for (role, _), o in matrix.items() if role is Role.PRIVACY_OFFICER} == {Outcome.ALLOW}
    assert set(matrix.values()) == set(Outcome)
    assert field_count >= 60
    assert len(matrix) == len(Role) * field_count


@pytest.mark.parametrize("role", list(Role), ids=[r.value for r in Role])
async def test_every_field_is_allowed_masked_or_denied_as_the_default_policy_says(
    role: Role,
    gql: GraphQLClient,
    db: AsyncEngine,
    settings: Settings,
    catalogue: Catalogue,
    matrix: Matrix,
) -> None:
    # given
    world = await _world(db, settings, role)
    client = gql.as_(world.token)
    probes = [probe(role, t, catalogue[t], matrix) for t in TYPES]

    # when
    bodies = [await client.post(p.document) for p in probes]

    # then
    problems = [
        problem
        for found, body in zip(probes, bodies, strict=True)
        for problem in mismatches(role, found, body, world.truth[found.type_name], matrix)
    ]
    assert not problems, "\n".join(problems)


async def test_masked_values_keep_only_a_recognisable_hint(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: an auditor reads every enterprise field and reveals none
    world = await _world(db, settings, Role.AUDITOR)
    query = """
    { enterprises { edges { node {
        legalRepresentativeName legalRepresentativeIdNumber contactPhone contactEmail
        bankAccountNumber annualRevenue
    } } } }
    """

    # when
    data = await gql.as_(world.token).data(query)

    # then: figures are withheld as null, without an error
    assert data["enterprises"]["edges"][0]["node"] == {
        "legalRepresentativeName": "Z******",
        "legalRepresentativeIdNumber": "110101********1234",
        "contactPhone": "138****5678",
        "contactEmail": "c***@example.test",
        "bankAccountNumber": "***************3445",
        "annualRevenue": None,
    }
