"""One format everywhere: the API's conventions, checked over the whole live schema.

Every field, argument and input field is walked, so a field added tomorrow is held to
the same rules: money is the ``Decimal`` scalar (two decimals), rates and other
fractions the ``Rate`` scalar (six), every id a global ``ID`` (or documented as an
external reference), every object with an id a ``Node`` that ``node(id:)`` fetches,
no ``String`` argument where the schema has an enum for its values, JSON as the
``JSON`` scalar, and every mutation takes its values as one ``input`` (the root of
``InvalidInput.field``). Each rule is also shown to fail on a schema that breaks it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    build_schema,
    get_named_type,
)

from api.node import NODE_TYPE_NAMES
from api.schema import build_schema as build_live_schema
from domain.settings import Settings

# A fraction: an interest or fee rate, a ratio such as debt to assets, a loss given
# default, an approval or default rate.
RATE_NAME = re.compile(r"(^r|R)ate$|ToAsset$|GivenDefault$")
# An amount of money in CNY.
MONEY_NAME = re.compile(
    r"(^a|A)mount$|(^p|P)rincipal$|(^r|R)evenue$|(^c|C)ost(OfSales)?$|(^f|F)ees?$|Due$|Paid$"
    r"|Part$|(^o|O)utstanding$|(^e|E)xposure$|Loss$|Instalment$|Assets$|Liabilities$"
    r"|(^e|E)quity$|Profit$|Expense$|CashFlow$|(^t|T)hreshold$|Value$|Repaid$|Interest$"
    r"|(^n|N)onPerforming$|^change$|(^d|D)ebits?$|(^c|C)redits?$|(^b|B)alance$"
)
ID_NAME = re.compile(r"^id$|^ids$|Id$|Ids$|edBy$")  # createdBy, not orderBy
# A description saying the text is JSON ("The JSON document", "as a JSON object").
JSON_TEXT = re.compile(r"\b(the|a|as) JSON\b", re.IGNORECASE)
# The words a field's description uses to say it holds a value from outside the API.
EXTERNAL_REFERENCE = "external reference"
# Types whose ids are global and typed but which node(id:) does not fetch yet (each needs
# a loader under its list's row rule). Exactly these: a new one fails, a fixed one too.
NOT_YET_NODES: frozenset[str] = frozenset()
# Output fields that name a person: each is a User relation a frontend can follow
# (createdBy: User, actor: User), never a raw id. Inputs take global ids.
PERSON_NAME = re.compile(r"By$|^actor|^assignee|^viewer|^userId$|UserId$")
# Exactly these person-named output fields are not User relations, each for its reason:
# a new raw id fails, and so does an exception that no longer holds.
NOT_PEOPLE = {
    "AccessLogEntry.viewerId": "a ServiceAccount, which is no User, may be the viewer: "
    "the id stays beside viewer: User",
    "AccessLogEntry.viewerKind": "user or service: a kind, not a person",
    "JournalEntry.reversedBy": "the entry that reverses it, not a person",
    "StaffMember.userId": "the staff member's own id: the row is the person",
    "AccountStatusChanged.userId": "the account the mutation changed, echoed by its id",
    "RoleChanged.userId": "the account the mutation changed, echoed by its id",
}
# String arguments that share a name with an enum but take more than its values.
FREE_TEXT = {
    "AddPolicyRuleInput.role": "a role, or scope:<name> for a service account's scope",
}


@dataclass(frozen=True)
class Place:
    """A field of an object or interface, an argument of one, or an input field."""

    where: str  # Type.field, Type.field(argument) or Input.field
    name: str
    type_name: str  # the named type, lists and non-null unwrapped
    description: str
    is_input: bool


def places(schema: GraphQLSchema) -> Iterator[Place]:
    for type_ in schema.type_map.values():
        if type_.name.startswith("__"):
            continue
        if isinstance(type_, GraphQLObjectType | GraphQLInterfaceType):
            for name, field in type_.fields.items():
                yield Place(
                    f"{type_.name}.{name}",
                    name,
                    get_named_type(field.type).name,
                    field.description or "",
                    is_input=False,
                )
                for arg_name, arg in field.args.items():
                    yield Place(
                        f"{type_.name}.{name}({arg_name})",
                        arg_name,
                        get_named_type(arg.type).name,
                        arg.description or "",
                        is_input=True,
                    )
        elif isinstance(type_, GraphQLInputObjectType):
            for name, input_field in type_.fields.items():
                yield Place(
                    f"{type_.name}.{name}",
                    name,
                    get_named_type(input_field.type).name,
                    input_field.description or "",
                    is_input=True,
                )


def money_and_rates(schema: GraphQLSchema) -> list[str]:
    found = []
    for p in places(schema):
        if RATE_NAME.search(p.name) and p.type_name != "Rate":
            found.append(f"{p.where} is a rate: Rate, not {p.type_name}")
        elif MONEY_NAME.search(p.name) and p.type_name in ("Float", "String", "Rate"):
            found.append(f"{p.where} is money: Decimal, not {p.type_name}")
        elif p.type_name == "Decimal" and not MONEY_NAME.search(p.name):
            found.append(f"{p.where} is a Decimal: money (name it so) or a Rate?")
        elif p.type_name == "Rate" and not RATE_NAME.search(p.name):
            found.append(f"{p.where} is a Rate but not named as one")
    return found


def ids(schema: GraphQLSchema) -> list[str]:
    found = []
    for p in places(schema):
        if not ID_NAME.search(p.name) or p.type_name == "ID":
            continue
        if p.type_name in ("String", "Int") and EXTERNAL_REFERENCE in p.description:
            continue
        if isinstance(schema.type_map[p.type_name], GraphQLObjectType | GraphQLInterfaceType):
            continue  # a relation named as its role (createdBy: User) is fine
        found.append(f"{p.where} is an id: ID (global), not {p.type_name}")
    for type_ in schema.type_map.values():
        if not isinstance(type_, GraphQLObjectType) or "id" not in type_.fields:
            continue
        node = any(i.name == "Node" for i in type_.interfaces)
        if EXTERNAL_REFERENCE in (type_.fields["id"].description or ""):
            continue
        if not node and type_.name not in NOT_YET_NODES:
            found.append(f"{type_.name} has an id: implement Node")
        if node and type_.name not in NODE_TYPE_NAMES:
            found.append(f"{type_.name} is a Node that node(id:) does not fetch")
    return found


def people(schema: GraphQLSchema) -> list[str]:
    found = []
    for p in places(schema):
        if p.is_input or not PERSON_NAME.search(p.name):
            continue
        if p.where in NOT_PEOPLE:
            if p.type_name == "User":
                found.append(f"{p.where} is a User now: drop its exception")
            continue
        if p.type_name != "User":
            found.append(f"{p.where} names a person: a User relation, not {p.type_name}")
    walked = {p.where for p in places(schema)}
    for where in NOT_PEOPLE:
        if where.split(".")[0] in schema.type_map and where not in walked:
            found.append(f"{where} is gone: drop its exception")
    return found


def _enum_words(schema: GraphQLSchema) -> dict[str, str]:
    """The names a value of each enum goes by: role (Role), maskingStrategy and, its last
    word naming no other enum, strategy (MaskingStrategy); "type" and "field" also name
    the schema's own types and fields, which are not enums."""
    words: dict[str, str] = {}
    last: dict[str, list[str]] = {}
    for type_ in schema.type_map.values():
        if isinstance(type_, GraphQLEnumType) and not type_.name.startswith("__"):
            words[type_.name[0].lower() + type_.name[1:]] = type_.name
            word = re.findall(r"[A-Z][a-z]*", type_.name)[-1].lower()
            last.setdefault(word, []).append(type_.name)
    for word, named in last.items():
        if len(named) == 1 and word not in ("type", "field"):
            words.setdefault(word, named[0])
    return words


def enums(schema: GraphQLSchema) -> list[str]:
    words = _enum_words(schema)
    found = []
    for p in places(schema):
        if not p.is_input or p.type_name != "String" or p.where in FREE_TEXT:
            continue
        enum = words.get(p.name) or words.get(p.name.removesuffix("s"))
        if enum is not None:
            found.append(f"{p.where} is a String but {enum} names its values")
    return found


def json_values(schema: GraphQLSchema) -> list[str]:
    return [
        f"{p.where} holds JSON: the JSON scalar, not {p.type_name}"
        for p in places(schema)
        if p.type_name == "String" and JSON_TEXT.search(p.description)
    ]


def inputs(schema: GraphQLSchema) -> list[str]:
    found = []
    mutation = schema.mutation_type
    assert mutation is not None
    for name, field in mutation.fields.items():
        if set(field.args) - {"input"}:
            found.append(f"Mutation.{name} takes {', '.join(field.args)}: one input")
        result = get_named_type(field.type)
        refusals = result.types if isinstance(result, GraphQLUnionType) else ()
        if any(t.name == "InvalidInput" for t in refusals) and not field.args:
            found.append(f"Mutation.{name} refuses input it does not take")
    invalid = schema.type_map["InvalidInput"]
    assert isinstance(invalid, GraphQLObjectType)
    if str(invalid.fields["field"].type) != "String!":
        found.append("InvalidInput.field must always name where: String!")
    return found


RULES = (money_and_rates, ids, people, enums, json_values, inputs)


@pytest.fixture
def live(settings: Settings) -> GraphQLSchema:
    return build_schema(build_live_schema(settings).as_str())


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.__name__)
def test_the_live_schema_keeps_the_convention(live: GraphQLSchema, rule: object) -> None:
    # when
    broken = rule(live)  # type: ignore[operator]

    # then
    assert broken == []


def test_the_walk_reaches_every_field_argument_and_input_field(live: GraphQLSchema) -> None:
    # when
    walked = {p.where for p in places(live)}

    # then: a sample from each kind of place, so the rules are not vacuous
    assert {
        "Loan.annualRate",
        "Query.compareProducts(amount)",
        "SubmitApplicationInput.amount",
        "SetMaskingPolicyInput.role",
        "MaskingPolicy.createdBy",
    } <= walked
    assert len(walked) > 900


# A schema that breaks every rule once; each rule must find its own break.
BROKEN = """
scalar Decimal
scalar Rate
scalar JSON
interface Node { id: ID! }
enum Role { LOAN_OFFICER }
enum MaskingStrategy { HASH }
type Query { node(id: ID!): Node  credit: Credit  thing: Thing }
type Credit implements Node {
  id: ID!
  annualRate: Decimal!
  principal: Rate!
  payoffAmount: Float!
  ratio: Decimal
  createdBy: String
  approvedBy: ID
  viewerId: ID
  assignee: User
  settings: String
}
type User implements Node { id: ID! }
type Thing { id: ID! }
input SetPolicyInput { role: String!  strategy: String!  params: String }
type InvalidInput { message: String!  field: String }
union SetPolicyResult = Credit | InvalidInput
type Mutation {
  setPolicy(input: SetPolicyInput!, dryRun: Boolean): SetPolicyResult!
  touch: SetPolicyResult!
}
"""


def test_each_rule_finds_a_schema_that_breaks_it() -> None:
    # given: the same schema, with one description naming JSON
    broken = build_schema(BROKEN.replace("settings: String", '"As JSON." settings: String'))

    # when
    found = {rule.__name__: rule(broken) for rule in RULES}

    # then
    assert found["money_and_rates"] == [
        "Credit.annualRate is a rate: Rate, not Decimal",
        "Credit.principal is money: Decimal, not Rate",
        "Credit.payoffAmount is money: Decimal, not Float",
        "Credit.ratio is a Decimal: money (name it so) or a Rate?",
    ]
    assert found["ids"] == [
        "Credit.createdBy is an id: ID (global), not String",
        "Credit is a Node that node(id:) does not fetch",
        "Thing has an id: implement Node",
    ]
    assert found["people"] == [
        "Credit.createdBy names a person: a User relation, not String",
        "Credit.approvedBy names a person: a User relation, not ID",
        "Credit.viewerId names a person: a User relation, not ID",
    ]
    assert found["enums"] == [
        "SetPolicyInput.role is a String but Role names its values",
        "SetPolicyInput.strategy is a String but MaskingStrategy names its values",
    ]
    assert found["json_values"] == ["Credit.settings holds JSON: the JSON scalar, not String"]
    assert found["inputs"] == [
        "Mutation.setPolicy takes input, dryRun: one input",
        "Mutation.touch refuses input it does not take",
        "InvalidInput.field must always name where: String!",
    ]
