"""Tenant isolation as a property: whatever the query's shape, no row of another tenant.

Hypothesis draws whole GraphQL documents -- aliases, named and inline fragments,
``node(id:)`` on any row of any tenant, list filters naming other tenants' rows,
and paths that wander enterprise -> applications -> loan -> application ->
enterprise -> external data and back -- and sends each as one of four viewers: a loan officer of
bank A, one of bank B, and two SME owners. Every Enterprise, Application, Loan and
ExternalDataRecord anywhere in the answer must be one the viewer may see, computed here from the
tenancy rules alone (not from the repositories), and every list, count, relation
and ``node`` answer must be exactly what those rules say.

Support tickets and service ratings (lists, counts, ``node(id:)``) are checked for every
viewer, owners, staff of three banks, an auditor and a verification officer, exhaustively.

Jobs and their files (``jobs``, ``node(id:)``, the download route), and consents,
access-log entries, break-glass grants and policy lines by ``node(id:)``, and proposed
role grants (``roleGrantChanges``, ``node(id:)``), are checked for every viewer and every
record of a small table, exhaustively.

Jobs and their files (``jobs``, ``node(id:)``, the download route), consents,
access-log entries, break-glass grants and policy lines by ``node(id:)``, and workout
cases with their contacts and promises (``workoutCases``, nested, ``node(id:)``), are
checked for every viewer and every record of a small table, exhaustively.

A loan's servicing records -- late fees and penalty interest (``charges``), terminations,
recoveries after a write-off, the payoff quote -- have no id of their own and are reached
only through their loan: listed, nested and by the loan's ``node(id:)``, each viewer gets
exactly the records of the loans it may see. So are its collateral and guarantees (which
``node(id:)`` fetches too) and the ECL its institution staged for it (never its borrower's).

Hypothesis runs in a worker thread while the test's event loop serves the app, so
a failure is shrunk to the smallest document that leaks, with the query as a note.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, note
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from api.app import create_app
from api.relay import DEFAULT_PAGE_SIZE
from domain.collateral.models import (
    CollateralItem,
    CollateralKind,
    CollateralStatus,
    Guarantee,
    GuaranteeKind,
    GuaranteeStatus,
)
from domain.contracts.models import LoanTermination, TerminationKind
from domain.feedback import service as feedback
from domain.feedback.models import RatedEvent
from domain.identity.models import PolicyRule, Role, RoleGrantChange
from domain.identity.viewer import Viewer
from domain.jobs import files as job_files
from domain.jobs.models import FileRole, JobRun, JobState
from domain.lending.models import Installment
from domain.privacy.models import AccessLogEntry, BreakGlassGrant, ConsentRecord
from domain.provisioning.models import LoanStage
from domain.settings import Settings
from domain.workout.models import (
    CollectionContact,
    ContactChannel,
    ContactOutcome,
    PromiseToPay,
    Recovery,
    WorkoutCase,
    WorkoutState,
    WorkoutStrategy,
)
from kernel.base import new_id, utcnow
from kernel.db import session_factory
from tests import factories as f
from tests.api.conftest import GraphQLClient, make_settings

# ---------------------------------------------------------------- the population, by name

BANKS = ("bank_a", "bank_b", "bank_c")
PRODUCT_OF_BANK = {"bank_a": "product_a", "bank_b": "product_b", "bank_c": "product_c"}
OWNERS = ("owner_1", "owner_2")
# enterprise -> owner; ent_0 belongs to nobody and applied nowhere.
ENTERPRISES: dict[str, str | None] = {
    "ent_1a": "owner_1",
    "ent_1b": "owner_1",
    "ent_2a": "owner_2",
    "ent_2b": "owner_2",
    "ent_0": None,
}
# application -> (enterprise, bank it was routed to): owner 1's ent_1a applied to
# bank A and bank B, owner 2's ent_2a to bank B and to bank C, where no viewer works.
APPLICATIONS: dict[str, tuple[str, str]] = {
    "app_1a_a": ("ent_1a", "bank_a"),
    "app_1a_b": ("ent_1a", "bank_b"),
    "app_1b_a": ("ent_1b", "bank_a"),
    "app_2a_b": ("ent_2a", "bank_b"),
    "app_2a_c": ("ent_2a", "bank_c"),
    "app_2b_a": ("ent_2b", "bank_a"),
}
# loan -> application it disbursed
LOANS: dict[str, str] = {
    "loan_1a_a": "app_1a_a",
    "loan_1a_b": "app_1a_b",
    "loan_2a_b": "app_2a_b",
    "loan_2a_c": "app_2a_c",
}
# external data record -> the enterprise it is about
EXTERNAL: dict[str, str] = {
    "ext_1a": "ent_1a",
    "ext_2a": "ent_2a",
    "ext_2b": "ent_2b",
    "ext_0": "ent_0",
}
# viewer -> ("owner", owner name) or ("staff", bank name)
VIEWERS: dict[str, tuple[str, str]] = {
    "officer_a": ("staff", "bank_a"),
    "officer_b": ("staff", "bank_b"),
    "owner_1": ("owner", "owner_1"),
    "owner_2": ("owner", "owner_2"),
}

TYPE_OF: dict[str, str] = {
    **dict.fromkeys(BANKS, "Institution"),
    **dict.fromkeys(PRODUCT_OF_BANK.values(), "Product"),
    **dict.fromkeys(ENTERPRISES, "Enterprise"),
    **dict.fromkeys(APPLICATIONS, "Application"),
    **dict.fromkeys(LOANS, "Loan"),
    **dict.fromkeys(EXTERNAL, "ExternalDataRecord"),
}
TENANT_TYPES = ("Enterprise", "Application", "Loan", "ExternalDataRecord")
CATALOG_TYPES = frozenset({"Institution", "Product"})


def loan_enterprise(loan: str) -> str:
    return APPLICATIONS[LOANS[loan]][0]


def loan_bank(loan: str) -> str:
    return APPLICATIONS[LOANS[loan]][1]


def loan_of(application: str) -> str | None:
    return next((loan for loan, app in LOANS.items() if app == application), None)


def visible_rows(viewer: str) -> frozenset[str]:
    """The tenancy rules, stated on the names above."""
    kind, who = VIEWERS[viewer]
    if kind == "owner":
        enterprises = {e for e, owner in ENTERPRISES.items() if owner == who}
        applications = {a for a, (e, _) in APPLICATIONS.items() if e in enterprises}
        loans = {loan for loan in LOANS if loan_enterprise(loan) in enterprises}
    else:
        applications = {a for a, (_, bank) in APPLICATIONS.items() if bank == who}
        loans = {loan for loan in LOANS if loan_bank(loan) == who}
        enterprises = {e for e in ENTERPRISES if any(APPLICATIONS[a][0] == e for a in applications)}
    records = {r for r, e in EXTERNAL.items() if e in enterprises}
    return frozenset(enterprises | applications | loans | records)


VISIBLE = {viewer: visible_rows(viewer) for viewer in VIEWERS}


def global_id(type_name: str, pk: uuid.UUID) -> str:
    return base64.b64encode(f"{type_name}:{pk}".encode()).decode()


@dataclass(frozen=True)
class World:
    """The population as inserted: names to primary keys, and a token per viewer."""

    ids: dict[str, uuid.UUID]
    tokens: dict[str, str]

    def gid(self, name: str) -> str:
        return global_id(TYPE_OF[name], self.ids[name])

    def newest_first(self, names: set[str]) -> list[str]:
        # Lists are ordered by id, descending (UUIDv7: newest first).
        return sorted(names, key=lambda n: self.ids[n], reverse=True)


async def populate(db: AsyncEngine, settings: Settings) -> World:
    ids: dict[str, uuid.UUID] = {}
    tokens: dict[str, str] = {}
    async with session_factory(db)() as s, s.begin():
        products = {}
        for bank in BANKS:
            ids[bank] = (await f.institution(s)).id
            products[bank] = await f.product(s, institution_id=ids[bank])
            ids[PRODUCT_OF_BANK[bank]] = products[bank].id
        owners = {}
        for owner in OWNERS:
            owners[owner] = await f.user(s, roles=[(Role.SME_OWNER, None)])
            tokens[owner] = await f.access_token(s, settings, owners[owner])
        for name, owner_name in ENTERPRISES.items():
            owner_id = owners[owner_name].id if owner_name else None
            ids[name] = (await f.enterprise(s, owner_id=owner_id, name=name)).id
        applications = {}
        for name, (enterprise, bank) in APPLICATIONS.items():
            applications[name] = await f.application(
                s, enterprise_id=ids[enterprise], product_row=products[bank]
            )
            ids[name] = applications[name].id
        for name, application in LOANS.items():
            ids[name] = (await f.loan(s, application_row=applications[application])).id
        for name, enterprise in EXTERNAL.items():
            ids[name] = (await f.external_data(s, enterprise_id=ids[enterprise])).id
        for viewer, (kind, who) in VIEWERS.items():
            if kind == "staff":
                officer = await f.user(s, roles=[(Role.LOAN_OFFICER, ids[who])])
                tokens[viewer] = await f.access_token(s, settings, officer)
    return World(ids=ids, tokens=tokens)


# ---------------------------------------------------------------- query specifications


@dataclass(frozen=True)
class Relation:
    field: str
    target: str
    # How much deeper the target's fields sit: 1 for an object, 3 for a connection.
    cost: int

    @property
    def is_connection(self) -> bool:
        return self.cost == 3


RELATIONS: dict[str, tuple[Relation, ...]] = {
    "Enterprise": (
        Relation("applications", "Application", 3),
        Relation("externalData", "ExternalDataRecord", 1),
    ),
    "ExternalDataRecord": (),
    "Application": (
        Relation("enterprise", "Enterprise", 1),
        Relation("loan", "Loan", 1),
        Relation("institution", "Institution", 1),
        Relation("product", "Product", 1),
    ),
    "Loan": (
        Relation("application", "Application", 1),
        Relation("enterprise", "Enterprise", 1),
        Relation("institution", "Institution", 1),
    ),
}
SCALAR_OF = {
    "Enterprise": "name",
    "Application": "status",
    "Loan": "principal",
    "ExternalDataRecord": "source",
}
CATALOG_FIELDS = {"Institution": "code", "Product": "name"}
# plain: fields in the parent's selection; inline: ``... on T {}``; named: ``...F3``
STYLES = ("plain", "inline", "named")


@dataclass(frozen=True)
class Sel:
    """What to select on one object of a tenant type."""

    type_name: str
    style: str
    alias_scalar: bool
    relations: tuple[Rel, ...]


@dataclass(frozen=True)
class Rel:
    relation: Relation
    alias: bool
    first: int | None
    total: bool
    child: Sel | None  # None for catalog targets


@dataclass(frozen=True)
class NodeRoot:
    target: str
    alias: bool
    variable: bool
    sels: tuple[Sel, ...]


@dataclass(frozen=True)
class ListRoot:
    field: str
    alias: bool
    variable: bool
    # (argument, row name or literal); institutionId and the like take row names
    filter: tuple[tuple[str, str], ...] | None
    first: int | None
    sel: Sel


@dataclass(frozen=True)
class QuerySpec:
    viewer: str
    roots: tuple[NodeRoot | ListRoot, ...]


LIST_TYPES = {"enterprises": "Enterprise", "applications": "Application", "loans": "Loan"}
FILTER_VALUES: dict[str, dict[str, tuple[str, ...]]] = {
    "enterprises": {"industry": ("manufacturing", "retail")},
    "applications": {
        "institutionId": BANKS,
        "enterpriseId": tuple(ENTERPRISES),
        "productId": tuple(PRODUCT_OF_BANK.values()),
    },
    "loans": {"institutionId": BANKS, "enterpriseId": tuple(ENTERPRISES)},
}
FILTER_TYPES = {
    "enterprises": "EnterpriseFilter",
    "applications": "ApplicationFilter",
    "loans": "LoanFilter",
}
# Most node lookups aim at tenant rows; a few at the public catalog.
NODE_TARGETS = (*ENTERPRISES, *APPLICATIONS, *LOANS, *EXTERNAL, "bank_a", "product_c")
# Relations drawn per query, across all its roots: keeps documents under the token limit.
RELATION_BUDGET = 14


@st.composite
def selections(
    draw: st.DrawFn, type_name: str, level: int, budget: list[int], max_level: int
) -> Sel:
    """A selection on ``type_name`` whose fields sit at depth ``level``."""
    style = draw(st.sampled_from(STYLES))
    alias_scalar = draw(st.booleans())
    options = [r for r in RELATIONS[type_name] if level + r.cost <= max_level]
    relations: list[Rel] = []
    if options:
        for relation in draw(st.lists(st.sampled_from(options), max_size=2)):
            if budget[0] <= 0:
                break
            budget[0] -= 1
            child = (
                None
                if relation.target in CATALOG_TYPES
                else draw(selections(relation.target, level + relation.cost, budget, max_level))
            )
            first = draw(st.none() | st.integers(1, 3)) if relation.is_connection else None
            total = relation.is_connection and draw(st.booleans())
            relations.append(Rel(relation, draw(st.booleans()), first, total, child))
    return Sel(type_name, style, alias_scalar, tuple(relations))


@st.composite
def roots(draw: st.DrawFn, budget: list[int], max_level: int) -> NodeRoot | ListRoot:
    kind = draw(st.sampled_from(("node", *LIST_TYPES)))
    alias, variable = draw(st.booleans()), draw(st.booleans())
    if kind == "node":
        target = draw(st.sampled_from(NODE_TARGETS))
        types = draw(st.lists(st.sampled_from(TENANT_TYPES), unique=True, max_size=3))
        # Aim the fragments at the row's own type often, so deep paths get walked.
        if TYPE_OF[target] in TENANT_TYPES and TYPE_OF[target] not in types and draw(st.booleans()):
            types.append(TYPE_OF[target])
        sels = tuple(draw(selections(t, 1, budget, max_level)) for t in types)
        return NodeRoot(target, alias, variable, sels)
    filter_ = None
    if draw(st.booleans()):
        arguments = FILTER_VALUES[kind]
        chosen = draw(st.lists(st.sampled_from(sorted(arguments)), unique=True))
        filter_ = tuple((arg, draw(st.sampled_from(arguments[arg]))) for arg in sorted(chosen))
    first = draw(st.none() | st.integers(1, 4))
    sel = draw(selections(LIST_TYPES[kind], 3, budget, max_level))
    return ListRoot(kind, alias, variable, filter_, first, sel)


@st.composite
def query_specs(draw: st.DrawFn, max_level: int) -> QuerySpec:
    viewer = draw(st.sampled_from(sorted(VIEWERS)))
    budget = [RELATION_BUDGET]
    count = draw(st.integers(1, 4))
    return QuerySpec(viewer, tuple(draw(roots(budget, max_level)) for _ in range(count)))


# ---------------------------------------------------------------- rendering


@dataclass
class RenderedRel:
    key: str
    rel: Rel
    first: int | None  # as sent: dropped when no alias was left to carry it
    child: RenderedSel | None


@dataclass
class RenderedSel:
    type_name: str
    relations: list[RenderedRel] = field(default_factory=list)


@dataclass
class RenderedRoot:
    key: str
    root: NodeRoot | ListRoot
    sels: list[RenderedSel]


@dataclass
class Document:
    text: str
    variables: dict[str, Any]
    roots: list[RenderedRoot]


class Renderer:
    """Spec to GraphQL text, held to the schema's limits on aliases.

    A field with arguments always carries a unique alias (or is the only bare use of
    its name at the root), so no two fields can ever conflict when fragments merge.
    """

    def __init__(self, world: World, max_aliases: int, roots: int) -> None:
        self.world = world
        self.aliases = 0
        # Keep one alias per root in reserve: a root with arguments may need it.
        self.optional_limit = max_aliases - roots
        self.fragments: list[str] = []
        self.variable_defs: list[str] = []
        self.variables: dict[str, Any] = {}
        self.bare_roots: set[str] = set()

    def _alias(self, *, mandatory: bool = False) -> str | None:
        if not mandatory and self.aliases >= self.optional_limit:
            return None
        self.aliases += 1
        return f"a{self.aliases}"

    def _variable(self, type_: str, value: Any) -> str:
        name = f"v{len(self.variable_defs)}"
        self.variable_defs.append(f"${name}: {type_}")
        self.variables[name] = value
        return f"${name}"

    def render(self, spec: QuerySpec) -> Document:
        fields: list[str] = []
        rendered: list[RenderedRoot] = []
        for root in spec.roots:
            text, key, sels = self._root(root)
            fields.append(text)
            rendered.append(RenderedRoot(key, root, sels))
        head = f"query Q({', '.join(self.variable_defs)})" if self.variable_defs else "query Q"
        body = " ".join(fields)
        text = f"{head} {{ {body} }}" + "".join(f"\n{frag}" for frag in self.fragments)
        return Document(text, self.variables, rendered)

    def _root(self, root: NodeRoot | ListRoot) -> tuple[str, str, list[RenderedSel]]:
        name = "node" if isinstance(root, NodeRoot) else root.field
        if not root.alias and name not in self.bare_roots:
            self.bare_roots.add(name)
            key, prefix = name, ""
        else:
            key = self._alias(mandatory=True) or name
            prefix = f"{key}: "
        if isinstance(root, NodeRoot):
            gid = self.world.gid(root.target)
            arg = self._variable("ID!", gid) if root.variable else f'"{gid}"'
            parts = ["__typename", "id"]
            sels = []
            for sel in root.sels:
                text, shown = self._object(sel, parent_type="Node")
                parts.append(text)
                sels.append(shown)
            return f"{prefix}node(id: {arg}) {{ {' '.join(parts)} }}", key, sels
        args = []
        if root.first is not None:
            args.append(f"first: {root.first}")
        if root.filter is not None:
            values = {
                arg: self.world.gid(value) if arg.endswith("Id") else value
                for arg, value in root.filter
            }
            if root.variable:
                args.append(f"filter: {self._variable(FILTER_TYPES[root.field], values)}")
            else:
                literal = ", ".join(f'{arg}: "{value}"' for arg, value in values.items())
                args.append(f"filter: {{{literal}}}")
        text, shown = self._object(root.sel, parent_type=LIST_TYPES[root.field])
        arguments = f"({', '.join(args)})" if args else ""
        connection = f"totalCount pageInfo {{ hasNextPage }} edges {{ node {{ {text} }} }}"
        return f"{prefix}{root.field}{arguments} {{ {connection} }}", key, [shown]

    def _object(self, sel: Sel, *, parent_type: str) -> tuple[str, RenderedSel]:
        rendered = RenderedSel(sel.type_name)
        scalar = SCALAR_OF[sel.type_name]
        scalar_alias = self._alias() if sel.alias_scalar else None
        parts = ["__typename", "id", f"{scalar_alias}: {scalar}" if scalar_alias else scalar]
        for rel in sel.relations:
            text, rendered_rel = self._relation(rel)
            parts.append(text)
            rendered.relations.append(rendered_rel)
        inner = " ".join(parts)
        if sel.style == "named":
            name = f"F{len(self.fragments)}"
            self.fragments.append(f"fragment {name} on {sel.type_name} {{ {inner} }}")
            return f"...{name}", rendered
        if sel.style == "inline" or parent_type != sel.type_name:
            return f"... on {sel.type_name} {{ {inner} }}", rendered
        return inner, rendered

    def _relation(self, rel: Rel) -> tuple[str, RenderedRel]:
        name = rel.relation.field
        alias = self._alias() if rel.alias or rel.first is not None else None
        first = rel.first if alias else None
        head = f"{alias}: {name}" if alias else name
        if rel.child is None:
            catalog = CATALOG_FIELDS[rel.relation.target]
            return f"{head} {{ __typename id {catalog} }}", RenderedRel(
                alias or name, rel, first, None
            )
        text, child = self._object(rel.child, parent_type=rel.relation.target)
        rendered = RenderedRel(alias or name, rel, first, child)
        if not rel.relation.is_connection:
            return f"{head} {{ {text} }}", rendered
        arguments = f"(first: {first})" if first is not None else ""
        total = "totalCount " if rel.total else ""
        return f"{head}{arguments} {{ {total}edges {{ node {{ {text} }} }} }}", rendered


# ---------------------------------------------------------------- what the answer must be


def expected_list(field: str, filter_: tuple[tuple[str, str], ...] | None) -> set[str]:
    """Rows of the whole database a list with this filter matches, before scoping."""
    given = dict(filter_ or ())
    if field == "enterprises":
        return (
            set(ENTERPRISES) if given.get("industry", "manufacturing") == "manufacturing" else set()
        )
    if field == "applications":
        return {
            app
            for app, (enterprise, bank) in APPLICATIONS.items()
            if given.get("institutionId", bank) == bank
            and given.get("enterpriseId", enterprise) == enterprise
            and given.get("productId", PRODUCT_OF_BANK[bank]) == PRODUCT_OF_BANK[bank]
        }
    return {
        loan
        for loan in LOANS
        if given.get("institutionId", loan_bank(loan)) == loan_bank(loan)
        and given.get("enterpriseId", loan_enterprise(loan)) == loan_enterprise(loan)
    }


def tenant_objects(value: Any) -> Iterator[tuple[str, str]]:
    """Every (typename, id) of a tenant row anywhere in a response."""
    if isinstance(value, dict):
        if value.get("__typename") in TENANT_TYPES:
            yield value["__typename"], value["id"]
        for item in value.values():
            yield from tenant_objects(item)
    elif isinstance(value, list):
        for item in value:
            yield from tenant_objects(item)


@dataclass
class Tally:
    """What the run exercised, so the property cannot hold vacuously."""

    seen: dict[str, set[str]] = field(default_factory=lambda: {v: set() for v in VIEWERS})
    hidden_nodes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(VIEWERS, 0))
    hidden_filters: dict[str, int] = field(default_factory=lambda: dict.fromkeys(VIEWERS, 0))
    examples: int = 0
    depth: int = 0


class Checker:
    def __init__(self, world: World, viewer: str, tally: Tally) -> None:
        self.world = world
        self.viewer = viewer
        self.visible = VISIBLE[viewer]
        self.tally = tally
        self.name_of = {pk: name for name, pk in world.ids.items()}

    def no_foreign_rows(self, data: Any) -> None:
        for typename, gid in tenant_objects(data):
            type_name, _, pk = base64.b64decode(gid).decode().partition(":")
            name = self.name_of.get(uuid.UUID(pk))
            assert type_name == typename, f"{gid} answered as a {typename}"
            assert name in self.visible, f"{self.viewer} was shown {typename} {name} ({pk})"
            self.tally.seen[self.viewer].add(name)

    def errors(self, document: Document, errors: list[dict[str, Any]]) -> None:
        hidden = [
            [r.key]
            for r in document.roots
            if isinstance(r.root, NodeRoot)
            and TYPE_OF[r.root.target] in TENANT_TYPES
            and r.root.target not in self.visible
        ]
        self.tally.hidden_nodes[self.viewer] += len(hidden)
        got = sorted((e.get("path"), (e.get("extensions") or {}).get("code")) for e in errors)
        assert got == sorted((path, "NOT_FOUND") for path in hidden), errors

    def root(self, rendered: RenderedRoot, data: dict[str, Any]) -> None:
        value = data[rendered.key]
        root = rendered.root
        if isinstance(root, NodeRoot):
            if TYPE_OF[root.target] in TENANT_TYPES and root.target not in self.visible:
                assert value is None
                return
            assert value["__typename"] == TYPE_OF[root.target]
            assert value["id"] == self.world.gid(root.target)
            for sel in rendered.sels:
                if sel.type_name == TYPE_OF[root.target]:
                    self.object(sel, value, root.target, depth=1)
            return
        matching = expected_list(root.field, root.filter)
        expected = self.world.newest_first(matching & self.visible)
        if matching and not expected:
            self.tally.hidden_filters[self.viewer] += 1
        first = DEFAULT_PAGE_SIZE if root.first is None else root.first
        assert value["totalCount"] == len(expected)
        assert value["pageInfo"]["hasNextPage"] == (len(expected) > first)
        nodes = [edge["node"] for edge in value["edges"]]
        assert [n["id"] for n in nodes] == [self.world.gid(n) for n in expected[:first]]
        for node, name in zip(nodes, expected, strict=False):
            self.object(rendered.sels[0], node, name, depth=1)

    def object(self, sel: RenderedSel, value: dict[str, Any], name: str, *, depth: int) -> None:
        assert value["__typename"] == sel.type_name == TYPE_OF[name]
        assert value["id"] == self.world.gid(name)
        self.tally.depth = max(self.tally.depth, depth)
        for rendered in sel.relations:
            related = value[rendered.key]
            field_name = rendered.rel.relation.field
            if rendered.rel.relation.is_connection:
                apps = {a for a, (e, _) in APPLICATIONS.items() if e == name}
                expected = self.world.newest_first(apps & self.visible)
                first = DEFAULT_PAGE_SIZE if rendered.first is None else rendered.first
                if rendered.rel.total:
                    assert related["totalCount"] == len(expected), (name, related)
                nodes = [edge["node"] for edge in related["edges"]]
                assert [n["id"] for n in nodes] == [self.world.gid(a) for a in expected[:first]]
                assert rendered.child is not None
                for node, app in zip(nodes, expected, strict=False):
                    self.object(rendered.child, node, app, depth=depth + 1)
                continue
            if field_name == "externalData":  # a plain list: the newest record of each kind
                records = sorted(r for r, e in EXTERNAL.items() if e == name)
                assert [x["id"] for x in related] == [self.world.gid(r) for r in records]
                assert rendered.child is not None
                for node, record in zip(related, records, strict=True):
                    self.object(rendered.child, node, record, depth=depth + 1)
                continue
            target = self._related(name, field_name)
            if target is None:
                assert related is None, (name, field_name, related)
                continue
            assert target in self.visible or TYPE_OF[target] in CATALOG_TYPES
            assert related["id"] == self.world.gid(target), (name, field_name, related)
            if rendered.child is not None:
                self.object(rendered.child, related, target, depth=depth + 1)

    @staticmethod
    def _related(name: str, field_name: str) -> str | None:
        if TYPE_OF[name] == "Application":
            enterprise, bank = APPLICATIONS[name]
            return {
                "enterprise": enterprise,
                "loan": loan_of(name),
                "institution": bank,
                "product": PRODUCT_OF_BANK[bank],
            }[field_name]
        return {
            "application": LOANS[name],
            "enterprise": loan_enterprise(name),
            "institution": loan_bank(name),
        }[field_name]


# ---------------------------------------------------------------- the property

EXAMPLES = 150


def probe(viewer: str, *, enterprise: str, loans: tuple[str, str], node: str) -> QuerySpec:
    """An explicit example: list every row of one's own, and reach for another tenant's."""

    def leaf(type_name: str, style: str = "plain") -> Sel:
        return Sel(type_name, style, alias_scalar=False, relations=())

    def listing(field: str, filter_: tuple[tuple[str, str], ...] | None, sel: Sel) -> ListRoot:
        return ListRoot(field, alias=False, variable=True, filter=filter_, first=None, sel=sel)

    loan = Rel(
        RELATIONS["Application"][1], alias=False, first=None, total=False, child=leaf("Loan")
    )
    with_loan = Sel("Application", "plain", alias_scalar=False, relations=(loan,))
    applications = Rel(
        RELATIONS["Enterprise"][0], alias=False, first=None, total=True, child=with_loan
    )
    external = Rel(
        RELATIONS["Enterprise"][1],
        alias=False,
        first=None,
        total=False,
        child=leaf("ExternalDataRecord"),
    )
    enterprise_sel = Sel("Enterprise", "plain", False, (applications, external))
    return QuerySpec(
        viewer,
        (
            listing("enterprises", None, enterprise_sel),
            listing("applications", (("enterpriseId", enterprise),), leaf("Application")),
            listing("loans", (loans,), leaf("Loan")),
            NodeRoot(node, alias=False, variable=True, sels=(leaf(TYPE_OF[node], "inline"),)),
        ),
    )


# Each viewer's own rows all listed, and another tenant's rows asked for by filter and id,
# whatever Hypothesis happens to draw.
PROBES = (
    probe("officer_a", enterprise="ent_2a", loans=("institutionId", "bank_b"), node="loan_2a_b"),
    probe("officer_b", enterprise="ent_2b", loans=("institutionId", "bank_a"), node="app_1b_a"),
    probe("owner_1", enterprise="ent_2a", loans=("enterpriseId", "ent_2a"), node="loan_2a_c"),
    probe("owner_2", enterprise="ent_1a", loans=("enterpriseId", "ent_1a"), node="ent_1b"),
)


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "reference"])
async def test_no_query_shape_shows_a_row_of_another_tenant(
    compiled: bool, database_url: str, db: AsyncEngine, settings: Settings
) -> None:
    # given: two banks' officers and two owners, with applications crossing tenants,
    # asked through the compiled read path or through the reference executor alone
    world = await populate(db, settings)
    app = create_app(make_settings(database_url, compiled_reads=compiled), engine=db)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    gql = GraphQLClient(http)
    clients = {viewer: gql.as_(token) for viewer, token in world.tokens.items()}
    loop = asyncio.get_running_loop()
    tally = Tally()

    def send(viewer: str, document: Document) -> dict[str, Any]:
        # Called from Hypothesis' thread; the app and database live on the test's loop.
        request = clients[viewer].post(document.text, document.variables)
        return asyncio.run_coroutine_threadsafe(request, loop).result(timeout=60)

    @hypothesis_settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        # Each example is an HTTP round trip through the whole app: slow by design.
        suppress_health_check=[HealthCheck.too_slow],
    )
    @example(spec=PROBES[0])
    @example(spec=PROBES[1])
    @example(spec=PROBES[2])
    @example(spec=PROBES[3])
    @given(spec=query_specs(max_level=settings.max_query_depth))
    def no_foreign_rows(spec: QuerySpec) -> None:
        document = Renderer(world, settings.max_aliases, len(spec.roots)).render(spec)
        note(f"as {spec.viewer}:\n{document.text}\nvariables: {document.variables}")
        body = send(spec.viewer, document)
        note(f"answer: {body}")
        checker = Checker(world, spec.viewer, tally)
        tally.examples += 1
        # nothing of another tenant anywhere in the answer; a hidden row is NOT_FOUND
        # through node(id:), the only error there may be; every list, count and
        # relation exactly what the rules say
        checker.no_foreign_rows(body.get("data"))
        checker.errors(document, body.get("errors", []))
        for rendered in document.roots:
            checker.root(rendered, body["data"])

    # when / then: Hypothesis draws documents, sends each and checks its answer
    async with http:
        await asyncio.to_thread(no_foreign_rows)

    # and: every viewer met all of its own rows and reached for other tenants' rows
    assert tally.examples >= EXAMPLES + len(PROBES)
    assert tally.seen == VISIBLE
    assert all(n > 0 for n in tally.hidden_nodes.values()), tally.hidden_nodes
    assert all(n > 0 for n in tally.hidden_filters.values()), tally.hidden_filters
    assert tally.depth >= 4


# ---------------------------------------------------------------- jobs and their files

# job -> (institution it belongs to, who asked for it)
JOBS: dict[str, tuple[str | None, str | None]] = {
    "job_a": ("bank_a", "officer_a"),
    "job_b": ("bank_b", "officer_b"),
    "job_b_by_owner": ("bank_b", "owner_1"),  # an owner's request at bank B
    "job_owner_2": (None, "owner_2"),
    "job_platform": (None, None),  # a scheduled job of no tenant
}


def visible_jobs(viewer: str) -> set[str]:
    """Staff see their institution's jobs and their own; owners their own."""
    kind, who = VIEWERS[viewer]
    return {
        job
        for job, (bank, asker) in JOBS.items()
        if asker == viewer or (kind == "staff" and bank == who)
    }


async def test_jobs_and_their_files_are_seen_only_by_their_tenant(
    gql: GraphQLClient, http: httpx.AsyncClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: every job of the table above, each with a file
    async with session_factory(db)() as s, s.begin():
        banks = {name: await f.institution(s) for name in ("bank_a", "bank_b")}
        people = {
            "officer_a": await f.user(s, roles=[(Role.LOAN_OFFICER, banks["bank_a"].id)]),
            "officer_b": await f.user(s, roles=[(Role.LOAN_OFFICER, banks["bank_b"].id)]),
            "owner_1": await f.user(s, roles=[(Role.SME_OWNER, None)]),
            "owner_2": await f.user(s, roles=[(Role.SME_OWNER, None)]),
        }
        tokens = {name: await f.access_token(s, settings, u) for name, u in people.items()}
        ids: dict[str, str] = {}
        for name, (bank, asker) in JOBS.items():
            run = JobRun(
                kind="enterprise_import",
                state=JobState.SUCCEEDED,
                trigger="api",
                params={},
                institution_id=banks[bank].id if bank else None,
                requested_by=people[asker].id if asker else None,
            )
            s.add(run)
            await s.flush()
            stored = await job_files.store(
                s,
                settings,
                job_files.NewFile(FileRole.OUTPUT, f"{name}.csv", "text/csv", b"row\n", False),
                job_id=run.id,
                owner_id=run.requested_by,
                institution_id=run.institution_id,
            )
            ids[name] = global_id("Job", run.id)
            ids[f"{name}.file"] = global_id("JobFile", stored.id)
    by_id = {gid: name for name, gid in ids.items()}
    node = "query($id: ID!) { node(id: $id) { __typename id } }"
    listing = "{ jobs(first: 50) { totalCount edges { node { id files { id } } } } }"

    for viewer, token in tokens.items():
        client = gql.as_(token)
        allowed = visible_jobs(viewer)

        # when
        listed = (await client.data(listing))["jobs"]
        fetched = {}
        for name, gid in ids.items():
            answer = await client.post(node, {"id": gid})
            fetched[name] = answer["data"]["node"] is not None
            if not fetched[name]:
                assert answer["errors"][0]["extensions"]["code"] == "NOT_FOUND", answer
        downloads = {
            name: (
                await http.get(
                    f"/jobs/files/{ids[f'{name}.file']}",
                    headers={"authorization": f"Bearer {token}"},
                )
            ).status_code
            for name in JOBS
        }

        # then: exactly the viewer's jobs, whichever way they are asked for
        shown = {by_id[edge["node"]["id"]] for edge in listed["edges"]}
        files = {by_id[x["id"]] for edge in listed["edges"] for x in edge["node"]["files"]}
        assert shown == allowed, viewer
        assert listed["totalCount"] == len(allowed), viewer
        assert files == {f"{job}.file" for job in allowed}, viewer
        assert {n for n, seen in fetched.items() if seen} == allowed | {
            f"{job}.file" for job in allowed
        }, viewer
        assert downloads == {job: 200 if job in allowed else 404 for job in JOBS}, viewer


# ------------------------------------------ consents, the access log, grants, the policy


async def test_node_fetches_privacy_and_policy_records_under_their_row_rules(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: an owner's enterprise with consents naming bank A, bank B and any institution;
    # an access-log entry and a break-glass grant of it; a line of the policy
    async with session_factory(db)() as s, s.begin():
        bank_a, bank_b = await f.institution(s), await f.institution(s)
        roles = {
            "owner": (Role.SME_OWNER, None),
            "officer_a": (Role.LOAN_OFFICER, bank_a.id),
            "officer_b": (Role.LOAN_OFFICER, bank_b.id),
            "privacy_officer": (Role.PRIVACY_OFFICER, None),
            "auditor": (Role.AUDITOR, None),
        }
        people = {name: await f.user(s, roles=[grant]) for name, grant in roles.items()}
        firm = await f.enterprise(s, owner_id=people["owner"].id)
        records: dict[str, Any] = {}
        for name, recipient in (("consent_a", bank_a.id), ("consent_b", bank_b.id)):
            records[name] = ConsentRecord(
                subject_id=firm.id,
                purpose="credit_assessment",
                recipient_institution_id=recipient,
                action="grant",
                channel="api",
                text_version="2026-01",
                previous_hash=None if name == "consent_a" else records["consent_a"].hash,
                hash=new_id().hex + new_id().hex,
            )
            s.add(records[name])
            await s.flush()
        records["log"] = AccessLogEntry(
            viewer_id=people["officer_a"].id,
            viewer_kind="user",
            subject_id=firm.id,
            object="Enterprise.contactPhone",
            purpose="credit_assessment",
        )
        records["grant"] = BreakGlassGrant(
            viewer_id=people["officer_a"].id,
            subject_id=firm.id,
            reason="fraud call",
            expires_at=utcnow() + timedelta(hours=1),
        )
        s.add_all([records["log"], records["grant"]])
        await s.flush()
        records["rule"] = (await s.scalars(select(PolicyRule).limit(1))).first()
        tokens = {name: await f.access_token(s, settings, u) for name, u in people.items()}
    types = {
        "consent_a": "Consent",
        "consent_b": "Consent",
        "log": "AccessLogEntry",
        "grant": "BreakGlassGrant",
        "rule": "AuthorizationRule",
    }
    ids = {name: global_id(types[name], records[name].id) for name in types}
    # The owner sees every consent of their enterprise, staff the ones naming their
    # institution; the log, grants and the policy are for platform-wide oversight.
    oversight = set(types)
    wanted = {
        "owner": {"consent_a", "consent_b"},
        "officer_a": {"consent_a"},
        "officer_b": {"consent_b"},
        "privacy_officer": oversight,
        "auditor": oversight,
    }
    query = "query($id: ID!) { node(id: $id) { __typename id } }"

    for viewer, token in tokens.items():
        # when
        answers = {name: await gql.as_(token).post(query, {"id": gid}) for name, gid in ids.items()}

        # then
        seen = {name for name, answer in answers.items() if answer["data"]["node"] is not None}
        assert seen == wanted[viewer], viewer
        for name in seen:
            assert answers[name]["data"]["node"] == {"__typename": types[name], "id": ids[name]}
        for name in set(types) - seen:
            assert answers[name]["errors"][0]["extensions"]["code"] == "NOT_FOUND", viewer


# ------------------------------------------ support tickets and service ratings


FEEDBACK_VIEWERS: dict[str, tuple[Role, str | None]] = {
    "officer_a": (Role.LOAN_OFFICER, "bank_a"),
    "officer_b": (Role.LOAN_OFFICER, "bank_b"),
    "admin_c": (Role.INSTITUTION_ADMIN, "bank_c"),
    "owner_1": (Role.SME_OWNER, None),
    "owner_2": (Role.SME_OWNER, None),
    "auditor": (Role.AUDITOR, None),
    # Across tenants for enterprises only: no institution's tickets or ratings.
    "verification_officer": (Role.VERIFICATION_OFFICER, None),
}


def feedback_visible(viewer: str) -> frozenset[str]:
    """Tickets (one per application, named after it) and ratings (one per loan) the
    viewer may see, from the names alone: owners what concerns their enterprises, staff
    what concerns their bank, the auditor everything, the verification officer nothing."""
    role, where = FEEDBACK_VIEWERS[viewer]
    tickets = {f"ticket_{a}": (e, bank) for a, (e, bank) in APPLICATIONS.items()}
    ratings = {f"rating_{n}": (loan_enterprise(n), loan_bank(n)) for n in LOANS}
    rows = {**tickets, **ratings}
    if role is Role.AUDITOR:
        return frozenset(rows)
    if role is Role.VERIFICATION_OFFICER:
        return frozenset()
    if role is Role.SME_OWNER:
        return frozenset(r for r, (e, _) in rows.items() if ENTERPRISES[e] == viewer)
    return frozenset(r for r, (_, bank) in rows.items() if bank == where)


async def test_support_tickets_and_ratings_are_seen_only_within_their_tenant(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: the population's applications each with a ticket, its loans each rated
    async with session_factory(db)() as s, s.begin():
        banks = {name: await f.institution(s) for name in BANKS}
        products = {name: await f.product(s, institution_id=b.id) for name, b in banks.items()}
        owners = {name: await f.user(s, roles=[(Role.SME_OWNER, None)]) for name in OWNERS}
        firms = {
            name: await f.enterprise(s, owner_id=owners[owner].id if owner else None)
            for name, owner in ENTERPRISES.items()
        }
        apps = {
            name: await f.application(s, enterprise_id=firms[e].id, product_row=products[bank])
            for name, (e, bank) in APPLICATIONS.items()
        }
        loans = {name: await f.loan(s, application_row=apps[app]) for name, app in LOANS.items()}
        ids: dict[str, str] = {}
        for name, (enterprise, _) in APPLICATIONS.items():
            owner = ENTERPRISES[enterprise]
            assert owner is not None
            as_owner = Viewer(user_id=owners[owner].id, platform_roles=frozenset({Role.SME_OWNER}))
            ticket = await feedback.open_ticket(
                s,
                f.KEYS,
                viewer=as_owner,
                application_id=apps[name].id,
                loan_id=None,
                subject="a question",
                message="about this application",
                request_id=None,
            )
            ids[f"ticket_{name}"] = global_id("SupportTicket", ticket.id)
            loan_name = loan_of(name)
            if loan_name is not None:
                rating = await feedback.rate_service(
                    s,
                    f.KEYS,
                    viewer=as_owner,
                    kind=RatedEvent.DISBURSEMENT,
                    event_id=loans[loan_name].id,
                    score=3,
                    comment=None,
                    request_id=None,
                )
                ids[f"rating_{loan_name}"] = global_id("ServiceRating", rating.id)
        tokens = {}
        for viewer, (role, bank) in FEEDBACK_VIEWERS.items():
            person = (
                owners[viewer]
                if role is Role.SME_OWNER
                else await f.user(s, roles=[(role, banks[bank].id if bank else None)])
            )
            tokens[viewer] = await f.access_token(s, settings, person)
    by_id = {gid: name for name, gid in ids.items()}
    node = "query($id: ID!) { node(id: $id) { __typename id } }"
    listing = """{
      supportTickets(first: 50) { totalCount edges { node { id messages { fromStaff } } } }
      serviceRatings(first: 50) { totalCount edges { node { id } } }
    }"""

    for viewer, token in tokens.items():
        client = gql.as_(token)
        allowed = feedback_visible(viewer)

        # when
        listed = await client.data(listing)
        fetched = {}
        for name, gid in ids.items():
            answer = await client.post(node, {"id": gid})
            fetched[name] = answer["data"]["node"] is not None
            if not fetched[name]:
                assert answer["errors"][0]["extensions"]["code"] == "NOT_FOUND", answer

        # then: exactly the viewer's rows, listed, counted and fetched by id
        tickets = listed["supportTickets"]
        ratings = listed["serviceRatings"]
        shown = {by_id[e["node"]["id"]] for e in tickets["edges"] + ratings["edges"]}
        assert shown == allowed, viewer
        assert tickets["totalCount"] + ratings["totalCount"] == len(allowed), viewer
        assert {n for n, seen in fetched.items() if seen} == allowed, viewer
        assert all(len(e["node"]["messages"]) == 1 for e in tickets["edges"]), viewer


# -------------------------------------------------- expected credit loss per book


async def test_loss_allowance_by_stage_is_summed_over_the_viewer_s_books_only(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: two banks whose months were closed, one loan each of different sizes
    from datetime import date
    from decimal import Decimal

    from domain.provisioning.close import Close, month_end_close
    from tests.domain.ledger.books import lent

    async with session_factory(db)() as s, s.begin():
        bank_a = await f.institution(s)
        bank_b = await f.institution(s)
        await lent(s, bank_a, on=date(2026, 1, 15), amount="12000.00")
        await lent(s, bank_b, on=date(2026, 1, 15), amount="48000.00")
        people = {
            "risk_a": await f.user(s, roles=[(Role.RISK_OFFICER, bank_a.id)]),
            "admin_b": await f.user(s, roles=[(Role.INSTITUTION_ADMIN, bank_b.id)]),
            "platform": await f.user(s, roles=[(Role.PLATFORM_RISK_OFFICER, None)]),
            "officer_a": await f.user(s, roles=[(Role.LOAN_OFFICER, bank_a.id)]),
        }
        tokens = {name: await f.access_token(s, settings, u) for name, u in people.items()}
        ids = {"a": bank_a.id, "b": bank_b.id}
    sessions = session_factory(db)
    for bank in ids.values():
        await month_end_close(sessions, Close(as_of=date(2026, 3, 31), institution_id=bank))
    query = """query($f: PortfolioFilter) { portfolioSummary(filter: $f) {
      provisions { expectedCreditLoss exposure stages { loans } } } }"""

    async def allowance(token: str, bank: str | None = None) -> tuple[Decimal, int]:
        flt = {"end": "2026-03-31"}
        if bank is not None:
            flt["institutionId"] = global_id("Institution", ids[bank])
        found = (await gql.as_(token).data(query, {"f": flt}))["portfolioSummary"]["provisions"]
        return Decimal(found["expectedCreditLoss"]), sum(x["loans"] for x in found["stages"])

    # when / then: each bank's staff see their own book; a filter never widens it
    own_a, own_b = await allowance(tokens["risk_a"]), await allowance(tokens["admin_b"])
    assert own_a[1] == own_b[1] == 1
    assert Decimal(0) < own_a[0] < own_b[0]
    assert await allowance(tokens["risk_a"], "b") == (Decimal("0.00"), 0)
    assert await allowance(tokens["admin_b"], "a") == (Decimal("0.00"), 0)
    assert await allowance(tokens["platform"]) == (own_a[0] + own_b[0], 2)
    refused = await gql.as_(tokens["officer_a"]).post(query, {"f": {"end": "2026-03-31"}})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN", refused


# ------------------------------------------ workout cases and their collection activity


async def test_workout_cases_and_their_activity_stay_in_their_institution(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: one owner's loans at bank A and bank B, each with a workout case, a contact
    # and a promise to pay
    async with session_factory(db)() as s, s.begin():
        banks = {name: await f.institution(s) for name in ("bank_a", "bank_b")}
        roles = {
            "officer_a": (Role.LOAN_OFFICER, banks["bank_a"].id),
            "risk_b": (Role.RISK_OFFICER, banks["bank_b"].id),
            "admin_b": (Role.INSTITUTION_ADMIN, banks["bank_b"].id),
            "owner": (Role.SME_OWNER, None),
            "auditor": (Role.AUDITOR, None),
        }
        people = {name: await f.user(s, roles=[grant]) for name, grant in roles.items()}
        firm = await f.enterprise(s, owner_id=people["owner"].id)
        rows: dict[str, Any] = {}
        for bank in banks:
            product = await f.product(s, institution_id=banks[bank].id)
            application = await f.application(s, enterprise_id=firm.id, product_row=product)
            loan = await f.loan(s, application_row=application)
            case = WorkoutCase(
                loan_id=loan.id,
                institution_id=loan.institution_id,
                enterprise_id=firm.id,
                strategy=WorkoutStrategy.COLLECTION,
                state=WorkoutState.OPEN,
                due_on=utcnow().date(),
            )
            s.add(case)
            await s.flush()
            rows[f"case_{bank}"] = case
            rows[f"contact_{bank}"] = CollectionContact(
                case_id=case.id,
                institution_id=loan.institution_id,
                enterprise_id=firm.id,
                channel=ContactChannel.SMS,
                outcome=ContactOutcome.NO_ANSWER,
            )
            rows[f"promise_{bank}"] = PromiseToPay(
                case_id=case.id,
                institution_id=loan.institution_id,
                loan_id=loan.id,
                made_on=utcnow().date(),
                promised_on=utcnow().date(),
                amount=Decimal("10.00"),
            )
            s.add_all([rows[f"contact_{bank}"], rows[f"promise_{bank}"]])
        await s.flush()
        tokens = {name: await f.access_token(s, settings, u) for name, u in people.items()}
    types = {"case": "WorkoutCase", "contact": "CollectionContact", "promise": "PromiseToPay"}
    ids = {name: global_id(types[name.split("_")[0]], row.id) for name, row in rows.items()}
    by_id = {gid: name for name, gid in ids.items()}
    of_bank = {bank: {name for name in rows if name.endswith(bank)} for bank in banks}
    wanted = {
        "officer_a": of_bank["bank_a"],
        "risk_b": of_bank["bank_b"],
        "admin_b": of_bank["bank_b"],
        "owner": set(),  # a borrower sees no case, not even on their own loans
        "auditor": set(rows),
    }
    node = "query($id: ID!) { node(id: $id) { __typename id } }"
    listing = """{ workoutCases(first: 50) {
        totalCount edges { node { id contacts { id } promises { id } } } } }"""

    for viewer, token in tokens.items():
        client = gql.as_(token)
        # when
        listed = (await client.data(listing))["workoutCases"]
        answers = {name: await client.post(node, {"id": gid}) for name, gid in ids.items()}

        # then: exactly the viewer's rows, listed, nested and by id
        shown = {by_id[edge["node"]["id"]] for edge in listed["edges"]} | {
            by_id[x["id"]]
            for edge in listed["edges"]
            for x in edge["node"]["contacts"] + edge["node"]["promises"]
        }
        assert shown == wanted[viewer], viewer
        assert listed["totalCount"] == len(wanted[viewer]) // 3, viewer
        seen = {name for name, answer in answers.items() if answer["data"]["node"] is not None}
        assert seen == wanted[viewer], viewer
        for name in set(rows) - seen:
            assert answers[name]["errors"][0]["extensions"]["code"] == "NOT_FOUND", viewer


# ------------------------------------------------ a loan's servicing records, via the loan

SERVICING = """
    id
    charges { amount }
    terminations { amount }
    recoveries { amount }
    payoffQuote(asOf: "2026-06-30") { totalAmount }
"""


async def test_a_loan_s_charges_terminations_recoveries_and_quote_stay_in_its_institution(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: one owner's loans at bank A and bank B, each with a late fee, an acceleration
    # and a recovery; bank A's records are in whole units, bank B's with cents, so a
    # record that strays into the other bank's loan shows
    async with session_factory(db)() as s, s.begin():
        banks = {name: await f.institution(s) for name in ("bank_a", "bank_b")}
        roles = {
            "officer_a": (Role.LOAN_OFFICER, banks["bank_a"].id),
            "risk_b": (Role.RISK_OFFICER, banks["bank_b"].id),
            "admin_b": (Role.INSTITUTION_ADMIN, banks["bank_b"].id),
            "owner": (Role.SME_OWNER, None),
            "other_owner": (Role.SME_OWNER, None),
            "auditor": (Role.AUDITOR, None),
        }
        people = {name: await f.user(s, roles=[grant]) for name, grant in roles.items()}
        firm = await f.enterprise(s, owner_id=people["owner"].id)
        loans: dict[str, uuid.UUID] = {}
        cents = {"bank_a": Decimal("0.00"), "bank_b": Decimal("0.37")}
        for bank in banks:
            product = await f.product(s, institution_id=banks[bank].id)
            application = await f.application(s, enterprise_id=firm.id, product_row=product)
            loan = await f.loan(s, application_row=application)
            loans[bank] = loan.id
            extra = cents[bank]
            s.add_all(
                [
                    Installment(
                        loan_id=loan.id,
                        sequence=1,
                        due_on=date(2026, 2, 15),
                        principal_due=Decimal("100.00") + extra,
                        interest_due=Decimal("10.00"),
                        fee_due=Decimal("0.00"),
                        principal_paid=Decimal("0.00"),
                        interest_paid=Decimal("0.00"),
                        fee_paid=Decimal("0.00"),
                        late_fee_due=Decimal("25.00") + extra,
                        late_fee_charged_on=date(2026, 2, 21),
                    ),
                    LoanTermination(
                        application_id=application.id,
                        loan_id=loan.id,
                        institution_id=loan.institution_id,
                        enterprise_id=loan.enterprise_id,
                        kind=TerminationKind.ACCELERATION,
                        on=date(2026, 5, 1),
                        amount=Decimal("135.00") + extra,
                    ),
                    Recovery(
                        loan_id=loan.id,
                        institution_id=loan.institution_id,
                        idempotency_key=f"recovery-{bank}",
                        amount=Decimal("40.00") + extra,
                        received_on=date(2026, 10, 1),
                    ),
                ]
            )
        await s.flush()
        tokens = {name: await f.access_token(s, settings, u) for name, u in people.items()}

    def records(bank: str) -> dict[str, Any]:
        extra = cents[bank]
        return {
            "id": global_id("Loan", loans[bank]),
            "charges": [{"amount": str(Decimal("25.00") + extra)}],
            "terminations": [{"amount": str(Decimal("135.00") + extra)}],
            "recoveries": [{"amount": str(Decimal("40.00") + extra)}],
            # Principal, interest and the late fee, all due by the day quoted.
            "payoffQuote": {"totalAmount": str(Decimal("135.00") + 2 * extra)},
        }

    wanted = {
        "officer_a": {"bank_a"},
        "risk_b": {"bank_b"},
        "admin_b": {"bank_b"},
        "owner": {"bank_a", "bank_b"},
        "other_owner": set(),
        "auditor": {"bank_a", "bank_b"},
    }
    listing = f"{{ loans(first: 50) {{ totalCount edges {{ node {{ {SERVICING} }} }} }} }}"
    node = f"query($id: ID!) {{ node(id: $id) {{ ... on Loan {{ {SERVICING} }} }} }}"

    for viewer, token in tokens.items():
        client = gql.as_(token)
        # when
        listed = await client.post(listing)
        answers = {
            bank: await client.post(node, {"id": global_id("Loan", pk)})
            for bank, pk in loans.items()
        }

        # then: exactly the viewer's loans, each with its own records only
        assert "errors" not in listed, (viewer, listed)
        edges = listed["data"]["loans"]["edges"]
        mine = sorted(wanted[viewer])
        assert sorted((e["node"] for e in edges), key=lambda x: x["id"]) == sorted(
            (records(bank) for bank in mine), key=lambda x: x["id"]
        ), viewer
        assert listed["data"]["loans"]["totalCount"] == len(mine), viewer
        for bank, answer in answers.items():
            if bank in wanted[viewer]:
                assert answer["data"]["node"] == records(bank), (viewer, bank)
            else:
                assert answer["data"]["node"] is None, (viewer, bank)
                assert answer["errors"][0]["extensions"]["code"] == "NOT_FOUND", (viewer, bank)


# ------------------------------------------------------------ collateral and guarantees


async def test_a_loan_s_collateral_guarantees_and_staged_ecl_stay_in_its_institution(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: one owner's loans at bank A and bank B, each with an item, a guarantee and a
    # staging; bank B's figures carry cents, so a record that strays shows
    async with session_factory(db)() as s, s.begin():
        banks = {name: await f.institution(s) for name in ("bank_a", "bank_b")}
        roles = {
            "officer_a": (Role.LOAN_OFFICER, banks["bank_a"].id),
            "risk_b": (Role.RISK_OFFICER, banks["bank_b"].id),
            "owner": (Role.SME_OWNER, None),
            "other_owner": (Role.SME_OWNER, None),
            "auditor": (Role.AUDITOR, None),
        }
        people = {name: await f.user(s, roles=[grant]) for name, grant in roles.items()}
        firm = await f.enterprise(s, owner_id=people["owner"].id)
        loans: dict[str, uuid.UUID] = {}
        rows: dict[str, dict[str, uuid.UUID]] = {}
        cents = {"bank_a": Decimal("0.00"), "bank_b": Decimal("0.37")}
        for bank in banks:
            product = await f.product(s, institution_id=banks[bank].id)
            application = await f.application(s, enterprise_id=firm.id, product_row=product)
            loan = await f.loan(s, application_row=application)
            loans[bank] = loan.id
            scope = {
                "loan_id": loan.id,
                "institution_id": loan.institution_id,
                "enterprise_id": loan.enterprise_id,
            }
            item = CollateralItem(
                **scope,
                kind=CollateralKind.VEHICLE,
                description=f"van of {bank}",
                market_value=Decimal("900.00") + cents[bank],
                valued_on=date(2026, 1, 10),
                valuation_source="dealer",
                status=CollateralStatus.PLEDGED,
            )
            guarantee = Guarantee(
                **scope,
                kind=GuaranteeKind.CORPORATE,
                amount=Decimal("500.00") + cents[bank],
                status=GuaranteeStatus.ACTIVE,
            )
            s.add_all([item, guarantee])
            s.add(
                LoanStage(
                    loan_id=loan.id,
                    as_of=date(2026, 10, 31),
                    institution_id=loan.institution_id,
                    stage=1,
                    reason="current",
                    days_past_due=0,
                    pd_12m=Decimal("0.010000"),
                    pd_lifetime=Decimal("0.010000"),
                    lgd=Decimal("0.300000"),
                    ead=Decimal("1000.00"),
                    ecl=Decimal("3.00") + cents[bank],
                )
            )
            await s.flush()
            rows[bank] = {"CollateralItem": item.id, "Guarantee": guarantee.id}
        tokens = {name: await f.access_token(s, settings, u) for name, u in people.items()}

    def records(bank: str) -> dict[str, Any]:
        extra = cents[bank]
        return {
            "id": global_id("Loan", loans[bank]),
            "collateral": [{"marketValue": str(Decimal("900.00") + extra)}],
            "guarantees": [{"amount": str(Decimal("500.00") + extra)}],
        }

    wanted = {
        "officer_a": {"bank_a"},
        "risk_b": {"bank_b"},
        "owner": {"bank_a", "bank_b"},
        "other_owner": set(),
        "auditor": {"bank_a", "bank_b"},
    }
    security = "id collateral { marketValue } guarantees { amount }"
    listing = f"{{ loans(first: 50) {{ totalCount edges {{ node {{ {security} }} }} }} }}"
    by_node = "query($id: ID!) { node(id: $id) { id } }"
    staged = "query($id: ID!) { node(id: $id) { ... on Loan { creditLoss { expectedLoss } } } }"

    for viewer, token in tokens.items():
        client = gql.as_(token)
        # when
        listed = await client.post(listing)
        nodes = {
            (bank, type_name): await client.post(by_node, {"id": global_id(type_name, pk)})
            for bank, found in rows.items()
            for type_name, pk in found.items()
        }
        losses = {
            bank: await client.post(staged, {"id": global_id("Loan", pk)})
            for bank, pk in loans.items()
        }

        # then: exactly the viewer's loans' security, fetched or refused alike by node
        assert "errors" not in listed, (viewer, listed)
        mine = sorted(wanted[viewer])
        assert sorted(
            (e["node"] for e in listed["data"]["loans"]["edges"]), key=lambda x: x["id"]
        ) == sorted((records(bank) for bank in mine), key=lambda x: x["id"]), viewer
        for (bank, type_name), answer in nodes.items():
            if bank in wanted[viewer]:
                assert answer["data"]["node"] == {
                    "id": global_id(type_name, rows[bank][type_name])
                }, (viewer, bank, type_name)
            else:
                assert answer["data"]["node"] is None, (viewer, bank, type_name)
                assert answer["errors"][0]["extensions"]["code"] == "NOT_FOUND", (viewer, bank)
        # the staged ECL: staff of its institution and oversight; never a borrower
        for bank, answer in losses.items():
            node = answer["data"]["node"]
            if viewer in ("owner", "other_owner") or bank not in wanted[viewer]:
                assert not (node or {}).get("creditLoss"), (viewer, bank, answer)
            else:
                loss = str(Decimal("3.00") + cents[bank])
                assert node == {"creditLoss": {"expectedLoss": loss}}, (viewer, bank)


# ------------------------------------------------------------ proposed role grants


async def test_proposed_role_grants_are_seen_by_their_institutions_admins_and_oversight(
    gql: GraphQLClient, db: AsyncEngine, settings: Settings
) -> None:
    # given: a grant proposed in bank A, one in bank B, one platform-wide
    async with session_factory(db)() as s, s.begin():
        bank_a, bank_b = await f.institution(s), await f.institution(s)
        roles = {
            "admin_a": (Role.INSTITUTION_ADMIN, bank_a.id),
            "admin_b": (Role.INSTITUTION_ADMIN, bank_b.id),
            "officer_a": (Role.LOAN_OFFICER, bank_a.id),
            "platform_admin": (Role.PLATFORM_ADMIN, None),
            "auditor": (Role.AUDITOR, None),
            "verification_officer": (Role.VERIFICATION_OFFICER, None),
            "owner": (Role.SME_OWNER, None),
        }
        people = {name: await f.user(s, roles=[grant]) for name, grant in roles.items()}
        changes = {
            name: RoleGrantChange(
                user_id=people["officer_a"].id,
                role=role,
                institution_id=where,
                status="pending",
                created_by=people["platform_admin"].id,
                created_at=utcnow(),
            )
            for name, role, where in (
                ("grant_a", Role.RISK_OFFICER, bank_a.id),
                ("grant_b", Role.RISK_OFFICER, bank_b.id),
                ("grant_platform", Role.AUDITOR, None),
            )
        }
        s.add_all(changes.values())
        await s.flush()
        tokens = {name: await f.access_token(s, settings, u) for name, u in people.items()}
    ids = {name: global_id("RoleGrantChange", row.id) for name, row in changes.items()}
    everything = set(ids)
    wanted: dict[str, set[str]] = {
        "admin_a": {"grant_a"},
        "admin_b": {"grant_b"},
        "officer_a": set(),
        "platform_admin": everything,
        "auditor": everything,
        "verification_officer": set(),
        "owner": set(),
    }
    node = "query($id: ID!) { node(id: $id) { __typename } }"
    listing = "{ roleGrantChanges { __typename } }"

    for viewer, token in tokens.items():
        # when
        answers = {name: await gql.as_(token).post(node, {"id": gid}) for name, gid in ids.items()}
        listed = await gql.as_(token).post(listing)

        # then
        seen = {name for name, answer in answers.items() if answer["data"]["node"] is not None}
        assert seen == wanted[viewer], viewer
        for name in everything - seen:
            assert answers[name]["errors"][0]["extensions"]["code"] == "NOT_FOUND", viewer
        assert len(listed["data"]["roleGrantChanges"]) == len(wanted[viewer]), viewer
