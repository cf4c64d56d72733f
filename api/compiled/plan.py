"""From a validated operation to a plan: what each response key is, and whether the
viewer may see it.

The plan is made once per (document, operation, access of the viewer's roles,
shape of the variables) and reused. Access is decided here, through the same
``api.access.decide`` the field extension calls, from the same Casbin policy: a
denied field is planned as ``null`` plus a FORBIDDEN error at each of its places;
a personal or sensitive field as a raw value the post-pass opens and shows (or
masks) through ``api.access.show_protected``. Anything the plan cannot express as
the reference executor would answer it raises :class:`NotCompilable`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLIncludeDirective,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLSkipDirective,
    InlineFragmentNode,
    SelectionSetNode,
    get_named_type,
)
from graphql.execution.values import VariableValues, get_directive_values
from strawberry import Schema
from strawberry.types.field import StrawberryField

from api.access import PROTECTED, Access, FieldAccess, decide
from api.compiled.binding import NotCompilable
from api.compiled.catalog import SOURCES, GlobalIdOf, NestedConnection, Relation, Source
from api.context import Context
from privacy.classification import Classification


@dataclass(frozen=True, slots=True)
class FieldIndex:
    """Every object field of the schema with its access extension, by GraphQL names."""

    fields: Mapping[tuple[str, str], StrawberryField]

    @classmethod
    def of(cls, schema: Schema) -> FieldIndex:
        graphql_name = schema.config.name_converter.get_graphql_name
        found: dict[tuple[str, str], StrawberryField] = {}
        for name, concrete in schema.schema_converter.type_map.items():
            for item in getattr(concrete.definition, "fields", ()):
                if isinstance(item, StrawberryField):
                    found[(name, graphql_name(item))] = item
        return cls(found)

    def access_of(self, type_name: str, field_name: str) -> FieldAccess:
        item = self.fields.get((type_name, field_name))
        extension = next(
            (e for e in (item.extensions if item else ()) if isinstance(e, FieldAccess)), None
        )
        if item is None or extension is None:
            raise NotCompilable(f"{type_name}.{field_name} has no access extension")
        return extension

    def python_name(self, type_name: str, field_name: str) -> str:
        return self.fields[(type_name, field_name)].python_name

    def has_resolver(self, type_name: str, field_name: str) -> bool:
        return self.fields[(type_name, field_name)].base_resolver is not None


# ------------------------------------------------------------------ plan nodes


@dataclass(frozen=True, slots=True)
class Scalar:
    key: str
    node: FieldNode
    type_name: str  # the object type the field is on
    field_name: str
    output: GraphQLOutputType
    renamed: Callable[[Any], Any] | GlobalIdOf | None
    python_name: str


@dataclass(frozen=True, slots=True)
class Typename:
    key: str
    name: str


@dataclass(frozen=True, slots=True)
class Denied:
    """null in the data and FORBIDDEN at each place the field is (nullable fields only)."""

    key: str
    node: FieldNode
    obj: str


@dataclass(frozen=True, slots=True)
class Protected:
    """A personal or sensitive value: read raw, shown by the post-pass."""

    key: str
    node: FieldNode
    output: GraphQLScalarType
    access: Access
    extension: FieldAccess
    python_name: str
    parse: Callable[[Any], Any]


@dataclass(slots=True)
class ObjectPlan:
    source: Source
    fields: list[Any] = field(default_factory=list)
    # What the post-pass has to do in here (worked out on first use, api.compiled.execute).
    steps: Any = None

    @property
    def protected(self) -> bool:
        return any(isinstance(f, Protected) for f in self.fields)


@dataclass(frozen=True, slots=True)
class Related:
    key: str
    node: FieldNode
    relation: Relation
    nullable: bool
    child: ObjectPlan | None  # None for a connection, whose parts are below
    connection: ConnectionPlan | None = None
    # (name of the argument binding, for nested connections)
    binding: str | None = None


@dataclass(slots=True)
class ConnectionPlan:
    """The parts of a connection asked for, each under its response key."""

    type_name: str  # e.g. ApplicationConnection
    edge_type: str  # e.g. ApplicationEdge
    target: Source
    edges: list[tuple[str, list[tuple[str, str, ObjectPlan | None]]]] = field(default_factory=list)
    page_info: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)
    total_count: list[str] = field(default_factory=list)
    typename: list[str] = field(default_factory=list)
    # Every response key above, in the order the selection asked for them.
    keys: list[str] = field(default_factory=list)

    @property
    def needs_cursor(self) -> bool:
        if any(kind == "cursor" for _, items in self.edges for kind, _, _ in items):
            return True
        return any(
            part in ("startCursor", "endCursor") for _, items in self.page_info for part, _ in items
        )


# ------------------------------------------------------------------ the planner


@dataclass
class Planner:
    schema: GraphQLSchema
    index: FieldIndex
    context: Context
    fragments: Mapping[str, FragmentDefinitionNode]
    variables: VariableValues
    # Nested connections' argument bindings: name -> (field definition, node, relation).
    bindings: dict[str, tuple[GraphQLField, FieldNode, NestedConnection]] = field(
        default_factory=dict
    )

    def access(self, type_name: str, field_name: str, classification: Classification) -> Access:
        key = (type_name, field_name)
        decided = self.context.field_access.get(key)
        if decided is None:
            decided = decide(self.context, f"{type_name}.{field_name}", classification)
            self.context.field_access[key] = decided
        return decided

    def check(self, type_name: str, field_name: str) -> None:
        """A structural field (connection, edge, page info): allowed, or not compiled."""
        extension = self.index.access_of(type_name, field_name)
        if self.access(type_name, field_name, extension.classification) is Access.DENY:
            raise NotCompilable(f"{type_name}.{field_name} is denied")

    # -------------------------------------------------------------- selections

    def collect(
        self, runtime: GraphQLObjectType, selection_sets: Iterable[SelectionSetNode]
    ) -> dict[str, list[FieldNode]]:
        """Fields by response key, fragments and @skip/@include applied (spec's
        CollectFields), keeping the first-seen order."""
        found: dict[str, list[FieldNode]] = {}
        seen_fragments: set[str] = set()

        def walk(selection_set: SelectionSetNode) -> None:
            for selection in selection_set.selections:
                if not self._included(selection):
                    continue
                if isinstance(selection, FieldNode):
                    key = selection.alias.value if selection.alias else selection.name.value
                    found.setdefault(key, []).append(selection)
                elif isinstance(selection, InlineFragmentNode):
                    condition = selection.type_condition
                    if condition is None or self._applies(condition.name.value, runtime):
                        walk(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = self.fragments.get(name)
                    if name in seen_fragments or fragment is None:
                        continue
                    seen_fragments.add(name)
                    if self._applies(fragment.type_condition.name.value, runtime):
                        walk(fragment.selection_set)

        for selection_set in selection_sets:
            walk(selection_set)
        return found

    def _included(self, node: Any) -> bool:
        for directive in node.directives or ():
            if directive.name.value not in ("skip", "include"):
                raise NotCompilable(f"directive @{directive.name.value}")
        skip = get_directive_values(GraphQLSkipDirective, node, self.variables)
        if skip and skip.get("if") is True:
            return False
        include = get_directive_values(GraphQLIncludeDirective, node, self.variables)
        return not (include and include.get("if") is False)

    def _applies(self, condition: str, runtime: GraphQLObjectType) -> bool:
        if condition == runtime.name:
            return True
        return any(interface.name == condition for interface in runtime.interfaces)

    # -------------------------------------------------------------- objects

    def object(self, type_name: str, nodes: list[FieldNode]) -> ObjectPlan:
        source = SOURCES.get(type_name)
        runtime = self.schema.get_type(type_name)
        if source is None or not isinstance(runtime, GraphQLObjectType):
            raise NotCompilable(f"{type_name} is not compiled")
        plan = ObjectPlan(source)
        sets = [n.selection_set for n in nodes if n.selection_set is not None]
        for key, fields in self.collect(runtime, sets).items():
            plan.fields.append(self.field(runtime, key, fields))
        return plan

    def field(self, runtime: GraphQLObjectType, key: str, nodes: list[FieldNode]) -> Any:
        node = nodes[0]
        name = node.name.value
        if name == "__typename":
            return Typename(key, runtime.name)
        definition = runtime.fields[name]
        type_name = runtime.name
        extension = self.index.access_of(type_name, name)
        access = self.access(type_name, name, extension.classification)
        source = SOURCES[type_name]
        relation = source.relations.get(name)
        if access is Access.DENY:
            if isinstance(definition.type, GraphQLNonNull):
                raise NotCompilable(f"{type_name}.{name} is denied and not nullable")
            return Denied(key, node, f"{type_name}.{name}")
        if relation is not None:
            return self.related(definition, key, nodes, relation)
        if node.arguments:
            raise NotCompilable(f"{type_name}.{name} takes arguments")
        if name == "id" and isinstance(get_named_type(definition.type), GraphQLScalarType):
            # A relay Node's global id, from its primary key.
            return Scalar(
                key, node, type_name, name, definition.type, GlobalIdOf(type_name, "id"), "id"
            )
        if self.index.has_resolver(type_name, name):
            raise NotCompilable(f"{type_name}.{name} has a resolver of its own")
        output = definition.type
        named = get_named_type(output)
        if not isinstance(named, GraphQLScalarType) and not hasattr(named, "values"):
            raise NotCompilable(f"{type_name}.{name} is an object")
        python_name = self.index.python_name(type_name, name)
        if extension.classification in PROTECTED:
            if not isinstance(named, GraphQLScalarType) or named.name not in _RAW_PARSERS:
                raise NotCompilable(f"{type_name}.{name}: a protected {named.name}")
            return Protected(
                key,
                node,
                named,
                access,
                extension,
                python_name,
                _RAW_PARSERS[named.name],
            )
        return Scalar(key, node, type_name, name, output, source.renamed.get(name), python_name)

    def related(
        self, definition: GraphQLField, key: str, nodes: list[FieldNode], relation: Relation
    ) -> Related:
        node = nodes[0]
        nullable = not isinstance(definition.type, GraphQLNonNull)
        if isinstance(relation, NestedConnection):
            binding = f"n{len(self.bindings)}"
            if len(nodes) > 1:
                raise NotCompilable("a nested connection asked for twice under one key")
            self.bindings[binding] = (definition, node, relation)
            connection = self.connection(
                get_named_type(definition.type).name, relation.target, nodes
            )
            return Related(key, node, relation, nullable, None, connection, binding)
        if node.arguments:
            raise NotCompilable(f"{key} takes arguments")
        output = definition.type
        inner = output.of_type if isinstance(output, GraphQLNonNull) else output
        if isinstance(inner, GraphQLList):
            item = inner.of_type
            if not isinstance(item, GraphQLNonNull):
                raise NotCompilable(f"{key}: a list of nullable items")
        return Related(key, node, relation, nullable, self.object(relation.target, nodes))

    def connection(self, type_name: str, target: str, nodes: list[FieldNode]) -> ConnectionPlan:
        runtime = self.schema.get_type(type_name)
        source = SOURCES.get(target)
        if not isinstance(runtime, GraphQLObjectType) or source is None:
            raise NotCompilable(f"{type_name} is not compiled")
        edge_type = get_named_type(runtime.fields["edges"].type)
        plan = ConnectionPlan(type_name, edge_type.name, source)
        sets = [n.selection_set for n in nodes if n.selection_set is not None]
        for key, fields in self.collect(runtime, sets).items():
            name = fields[0].name.value
            plan.keys.append(key)
            if name == "__typename":
                plan.typename.append(key)
                continue
            self.check(type_name, name)
            if name == "totalCount":
                plan.total_count.append(key)
            elif name == "edges":
                plan.edges.append((key, self.edge(runtime, target, fields)))
            elif name == "pageInfo":
                plan.page_info.append((key, self.page_info(fields)))
            else:
                raise NotCompilable(f"{type_name}.{name}")
        return plan

    def edge(
        self, runtime: GraphQLObjectType, target: str, nodes: list[FieldNode]
    ) -> list[tuple[str, str, ObjectPlan | None]]:
        edge_type = get_named_type(runtime.fields["edges"].type)
        assert isinstance(edge_type, GraphQLObjectType)
        items: list[tuple[str, str, ObjectPlan | None]] = []
        sets = [n.selection_set for n in nodes if n.selection_set is not None]
        for key, fields in self.collect(edge_type, sets).items():
            name = fields[0].name.value
            if name == "__typename":
                items.append(("typename", key, None))
                continue
            self.check(edge_type.name, name)
            if name == "cursor":
                items.append(("cursor", key, None))
            elif name == "node":
                items.append(("node", key, self.object(target, fields)))
            else:
                raise NotCompilable(f"{edge_type.name}.{name}")
        return items

    def page_info(self, nodes: list[FieldNode]) -> list[tuple[str, str]]:
        runtime = self.schema.get_type("PageInfo")
        assert isinstance(runtime, GraphQLObjectType)
        items: list[tuple[str, str]] = []
        sets = [n.selection_set for n in nodes if n.selection_set is not None]
        for key, fields in self.collect(runtime, sets).items():
            name = fields[0].name.value
            if name != "__typename":
                self.check("PageInfo", name)
            items.append((name, key))
        return items


# How a protected value travels from the statement to the post-pass, back to Python.
_RAW_PARSERS: dict[str, Callable[[Any], Any]] = {"String": str, "Decimal": Decimal}
