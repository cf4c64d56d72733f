"""The docs stay honest: their GraphQL examples validate, their settings table is whole.

Every ```graphql block in ``docs/*.md`` and ``README.md`` is checked against the
contract, ``schema.graphql``:

- an operation (query, mutation, subscription, fragments) must validate under the
  specification's rules and the request limits the service adds (depth, aliases, cost);
- a block of type definitions (an excerpt of the schema, as the API guide shows the
  names frontends rely on) must agree with the schema: every type, field, argument,
  enum value and union member it names exists there, with the same type.

``docs/operations.md`` must list every ``LENDGRAPH_*`` setting of
``domain.settings.Settings`` in its configuration table, with the default the code has;
and the dependency rules ``docs/architecture.md`` states must hold in the code.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from graphql import (
    DefinitionNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    ExecutableDefinitionNode,
    FieldDefinitionNode,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InputObjectTypeDefinitionNode,
    InputValueDefinitionNode,
    InterfaceTypeDefinitionNode,
    ObjectTypeDefinitionNode,
    ScalarTypeDefinitionNode,
    TypeNode,
    UnionTypeDefinitionNode,
    build_schema,
    parse,
    print_ast,
    specified_rules,
    validate,
)
from pydantic import SecretStr

from api.cost import CostBudgets
from api.scalars import StringLiteralRule
from domain.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = ROOT / "schema.graphql"
OPERATIONS_GUIDE = ROOT / "docs" / "operations.md"
FENCE = re.compile(r"^```graphql[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class Block:
    where: str  # file:line, for the test id and the failure message
    text: str


def graphql_blocks(*paths: Path) -> list[Block]:
    blocks = []
    for path in paths:
        source = path.read_text(encoding="utf-8")
        for match in FENCE.finditer(source):
            line = source.count("\n", 0, match.start()) + 1
            blocks.append(Block(f"{path.relative_to(ROOT)}:{line}", match.group(1)))
    return blocks


def documented_files() -> list[Path]:
    return [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]


@cache
def contract() -> GraphQLSchema:
    return build_schema(SCHEMA_FILE.read_text(encoding="utf-8"))


def limit_rules() -> list[Any]:
    """The request limits the service validates with (api.schema), at their defaults,
    with the smallest cost budget of any caller: an example must work for everyone."""
    from strawberry.extensions.max_aliases import create_validator as alias_rule
    from strawberry.extensions.query_depth_limiter import create_validator as depth_rule

    settings = Settings()
    budgets = CostBudgets(
        settings.max_query_cost, settings.query_cost_budgets, page_size_max=settings.page_size_max
    )
    return [
        depth_rule(settings.max_query_depth, None, None),
        alias_rule(settings.max_aliases),
        StringLiteralRule,
        budgets.rule(min(budgets.by_caller.values(), default=budgets.default)),
    ]


def _type_text(node: TypeNode) -> str:
    return print_ast(node)


def _compare_fields(
    type_name: str,
    documented: tuple[FieldDefinitionNode, ...] | tuple[InputValueDefinitionNode, ...],
    actual: dict[str, Any],
) -> list[str]:
    problems = []
    for field in documented:
        name = field.name.value
        real = actual.get(name)
        if real is None:
            problems.append(f"{type_name}.{name} is not in the schema")
            continue
        if _type_text(field.type) != str(real.type):
            problems.append(
                f"{type_name}.{name} is {real.type} in the schema, not {_type_text(field.type)}"
            )
        for argument in getattr(field, "arguments", None) or ():
            real_arg = real.args.get(argument.name.value)
            if real_arg is None:
                problems.append(f"{type_name}.{name}({argument.name.value}:) is not in the schema")
            elif _type_text(argument.type) != str(real_arg.type):
                problems.append(
                    f"{type_name}.{name}({argument.name.value}:) is {real_arg.type} "
                    f"in the schema, not {_type_text(argument.type)}"
                )
    return problems


def excerpt_problems(definitions: list[DefinitionNode], schema: GraphQLSchema) -> list[str]:
    """What a block of type definitions says that the schema does not."""
    problems: list[str] = []
    kinds: dict[type[DefinitionNode], type[Any]] = {
        ObjectTypeDefinitionNode: GraphQLObjectType,
        InterfaceTypeDefinitionNode: GraphQLInterfaceType,
        InputObjectTypeDefinitionNode: GraphQLInputObjectType,
        EnumTypeDefinitionNode: GraphQLEnumType,
        UnionTypeDefinitionNode: GraphQLUnionType,
    }
    for definition in definitions:
        if isinstance(definition, ScalarTypeDefinitionNode):
            if definition.name.value not in schema.type_map:
                problems.append(f"scalar {definition.name.value} is not in the schema")
            continue
        kind = kinds.get(type(definition))
        if kind is None:
            problems.append(f"cannot check a {type(definition).__name__} against the schema")
            continue
        name = definition.name.value  # type: ignore[attr-defined]
        real = schema.type_map.get(name)
        if not isinstance(real, kind):
            problems.append(f"{name} is not a {kind.__name__} of the schema")
            continue
        if isinstance(definition, ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode):
            assert isinstance(real, GraphQLObjectType | GraphQLInterfaceType)
            problems += _compare_fields(name, definition.fields or (), real.fields)
            for interface in definition.interfaces or ():
                if interface.name.value not in {i.name for i in real.interfaces}:
                    problems.append(f"{name} does not implement {interface.name.value}")
        elif isinstance(definition, InputObjectTypeDefinitionNode):
            assert isinstance(real, GraphQLInputObjectType)
            problems += _compare_fields(name, definition.fields or (), real.fields)
        elif isinstance(definition, EnumTypeDefinitionNode):
            assert isinstance(real, GraphQLEnumType)
            for value in definition.values or ():
                if value.name.value not in real.values:
                    problems.append(f"{name}.{value.name.value} is not in the schema")
        elif isinstance(definition, UnionTypeDefinitionNode):
            assert isinstance(real, GraphQLUnionType)
            members = {t.name for t in real.types}
            for member in definition.types or ():
                if member.name.value not in members:
                    problems.append(f"{member.name.value} is not a member of {name}")
    return problems


def block_problems(block: Block, schema: GraphQLSchema) -> list[str]:
    document: DocumentNode = parse(block.text)
    executable = [d for d in document.definitions if isinstance(d, ExecutableDefinitionNode)]
    if executable and len(executable) != len(document.definitions):
        return ["a block holds either operations or type definitions, not both"]
    if executable:
        errors = validate(schema, document, [*specified_rules, *limit_rules()])
        return [error.message for error in errors]
    return excerpt_problems(list(document.definitions), schema)


DOC_BLOCKS = graphql_blocks(*documented_files())


def test_the_docs_have_graphql_examples() -> None:
    documented = {block.where.split(":")[0] for block in DOC_BLOCKS}
    assert {"docs/api.md", "README.md"} <= documented


@pytest.mark.parametrize("block", DOC_BLOCKS, ids=[b.where for b in DOC_BLOCKS])
def test_graphql_block_agrees_with_the_schema(block: Block) -> None:
    problems = block_problems(block, contract())
    assert not problems, f"{block.where}: " + "; ".join(problems)


def test_a_broken_example_is_caught() -> None:
    # given: an example naming a field and an argument the schema does not have
    broken = Block("example", "query { loans(last: 5) { edges { node { balance } } } }")

    # when
    problems = block_problems(broken, contract())

    # then
    assert any("last" in p for p in problems)
    assert any("balance" in p for p in problems)


def test_a_stale_schema_excerpt_is_caught() -> None:
    stale = Block("example", "type Loan implements Node { id: ID! principal: Float! }")
    assert block_problems(stale, contract()) == [
        "Loan.principal is Decimal! in the schema, not Float!"
    ]


# The configuration table of docs/operations.md: one row per setting (several variables
# may share a row), the defaults in the same order as the variables.
ROW = re.compile(r"^\|\s*(`LENDGRAPH_[A-Z0-9_]+`(?:\s*,\s*`LENDGRAPH_[A-Z0-9_]+`)*)\s*\|(.*?)\|")
CODE = re.compile(r"`([^`]*)`")


def documented_settings() -> dict[str, str]:
    """Each documented variable and its default, as written in the table."""
    found: dict[str, str] = {}
    for line in OPERATIONS_GUIDE.read_text(encoding="utf-8").splitlines():
        match = ROW.match(line)
        if match is None:
            continue
        names = CODE.findall(match.group(1))
        defaults = CODE.findall(match.group(2)) or [match.group(2).strip()]
        if len(defaults) != len(names):
            defaults = [match.group(2).strip()] * len(names)
        found.update(zip(names, defaults, strict=True))
    return found


def shown_default(value: object) -> str | None:
    """A default as the table writes it; None: not a value to compare (none, generated)."""
    if value is None or isinstance(value, SecretStr) or value == ():
        return None  # an empty list of values is written "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def test_every_setting_is_documented_with_its_default() -> None:
    documented = documented_settings()
    for name, field in Settings.model_fields.items():
        variable = "LENDGRAPH_" + name.upper()
        assert variable in documented, f"{variable} is missing from docs/operations.md"
        expected = shown_default(field.get_default(call_default_factory=True))
        if expected is not None:
            assert documented[variable] == expected, (
                f"docs/operations.md gives {variable} the default {documented[variable]!r}, "
                f"the code {expected!r}"
            )


def test_no_documented_setting_is_unknown() -> None:
    known = {"LENDGRAPH_" + name.upper() for name in Settings.model_fields}
    assert set(documented_settings()) <= known


# The dependency rules of docs/architecture.md.
BELOW_API = ("domain", "privacy", "scoring", "seed", "migrations")
WITHOUT_WEB = ("domain", "privacy", "scoring")


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_nothing_below_the_api_imports_it() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for package in BELOW_API
        for path in sorted((ROOT / package).rglob("*.py"))
        if "api" in imported_packages(path)
    ]
    assert not offenders, f"import api/ from below it: {offenders}"


def test_the_business_knows_no_graphql_or_http() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for package in WITHOUT_WEB
        for path in sorted((ROOT / package).rglob("*.py"))
        if imported_packages(path) & {"strawberry", "starlette", "graphql", "uvicorn"}
    ]
    assert not offenders, f"GraphQL or HTTP below api/: {offenders}"
