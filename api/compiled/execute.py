"""The compiled read path at request time.

Per request: look the document up (parsed and validated once), look the plan up
(made once per document, operation, access of the viewer's roles and shape of the
variables), read the arguments through the same functions the resolvers use, bind
them into the plan's statement (built once per shape), run it on one connection
without a transaction, then one post-pass: FORBIDDEN errors where the plan denied a
field, personal values opened and shown (or masked) through ``api.access``, and the
reveals written to the access log in one insert by the caller.

Whatever the plan cannot answer as the reference executor would (a hidden row under
a non-null relation, an argument the domain refuses, an unknown type) returns None:
the request then goes to Strawberry, which stays the reference and the fallback.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections import OrderedDict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLField,
    GraphQLSchema,
    NoSchemaIntrospectionCustomRule,
    OperationDefinitionNode,
    OperationType,
    get_named_type,
    specified_rules,
)
from graphql.execution.values import get_argument_values, get_variable_values
from sqlalchemy import ColumnElement, null, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from strawberry.types.arguments import convert_arguments

from api.access import show_protected_many
from api.compiled.binding import (
    CompiledStatement,
    NotCompilable,
    Slot,
    compile_statement,
    slotted,
    slotted_viewer,
    viewer_shape,
    viewer_values,
)
from api.compiled.build import OWNER_KEY, SUBJECT_KEY, Builder
from api.compiled.catalog import NODE_TYPES, ROOT_LISTS, RootList
from api.compiled.facts import NOW_VALUE, PURPOSE_VALUE, FactsInSql, read_facts
from api.compiled.json_sql import SQLITE_FUNCTIONS, json_dialect, sql_string
from api.compiled.plan import (
    ConnectionPlan,
    Denied,
    FieldIndex,
    ObjectPlan,
    Planner,
    Protected,
    Related,
)
from api.context import Context
from api.disclosure import Facts, access_log_rows
from api.relay import ListingRequest, decode_global_id
from domain.privacy.models import AccessLogEntry
from domain.settings import Settings
from kernel import bulk
from kernel.base import utcnow
from kernel.db import current_statement_counter
from kernel.errors import DomainError, Forbidden, NotFound
from kernel.metrics import DOCUMENT_CACHE, PLAN_CACHE, STATEMENT_CACHE
from kernel.tracing import sql_span
from privacy.keys import KeyProvider

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

log = logging.getLogger("lendgraph.compiled")

# Documents kept parsed and validated: bounded in count and in bytes, and a document
# larger than this is never kept (it falls through to the reference executor).
DOCUMENTS_MAX = 512
DOCUMENT_BYTES_MAX = 32 * 1024
PLANS_MAX = 2048
STATEMENTS_PER_PLAN = 64


class Fallback(Exception):
    """This request is answered by the reference executor."""


@dataclass(frozen=True, slots=True)
class RootListPlan:
    key: str
    node: FieldNode
    definition: GraphQLField
    root: RootList
    connection: ConnectionPlan
    arguments: Sequence[Any]  # strawberry arguments of the field


@dataclass(frozen=True, slots=True)
class RootNodePlan:
    key: str
    node: FieldNode
    definition: GraphQLField
    by_type: Mapping[str, ObjectPlan | None]
    arguments: Sequence[Any]


@dataclass(frozen=True, slots=True)
class RootTypenamePlan:
    key: str


RootPlan = RootListPlan | RootNodePlan | RootTypenamePlan


@dataclass
class OperationPlan:
    roots: list[RootPlan]
    bindings: Mapping[str, tuple[GraphQLField, FieldNode, Any]]
    nested_arguments: Mapping[str, Sequence[Any]]
    operation_name: str | None
    statements: OrderedDict[Hashable, CompiledStatement] = field(default_factory=OrderedDict)


@dataclass(frozen=True, slots=True)
class Document:
    node: DocumentNode
    fragments: Mapping[str, FragmentDefinitionNode]


_NOT_COMPILABLE = object()
_TOO_DEEP: Any = object()


class CompiledReads:
    def __init__(
        self,
        schema: Any,  # api.schema.LendGraphSchema
        settings: Settings,
        engine: AsyncEngine,
        rules: Sequence[Any],
    ) -> None:
        self.schema = schema
        self.graphql: GraphQLSchema = schema._schema
        self.settings = settings
        self.engine = engine
        self.json = json_dialect(engine.dialect.name)
        self.rules = (*specified_rules, *rules)
        if not settings.is_development:  # as the DisableIntrospection extension adds it
            self.rules = (*self.rules, NoSchemaIntrospectionCustomRule)
        self.index = FieldIndex.of(schema)
        self.documents: OrderedDict[str, Document | None] = OrderedDict()
        self.plans: OrderedDict[Hashable, Any] = OrderedDict()
        self._functions_on: set[int] = set()
        self.tracer: Tracer | None = None  # set by the view when traces are on

    # ------------------------------------------------------------ caches

    def document(self, query: str) -> Document | None:
        """The parsed document (None: not parsed); validation is per viewer (``valid``)."""
        found = self.documents.get(query, _NOT_COMPILABLE)
        if found is not _NOT_COMPILABLE:
            # A miss is counted by the document cache it falls through to.
            DOCUMENT_CACHE.hit()
            self.documents.move_to_end(query)
            return found  # type: ignore[return-value]
        document: Document | None = None
        if len(query) <= DOCUMENT_BYTES_MAX:
            try:
                node = self.schema.documents.parse(query, max_tokens=self.settings.max_tokens)
            except GraphQLError:
                node = None
            if node is not None:
                fragments = {
                    d.name.value: d
                    for d in node.definitions
                    if isinstance(d, FragmentDefinitionNode)
                }
                document = Document(node, fragments)
            self.documents[query] = document
            if len(self.documents) > DOCUMENTS_MAX:
                self.documents.popitem(last=False)
        return document

    def valid(self, context: Context, query: str, document: Document) -> bool:
        """Valid as Strawberry validates it for this viewer (api.documents: the same cache,
        the same rules, the cost budget the viewer's), so the two executors accept
        exactly the same documents; the cache keeps each verdict."""
        rules = self.schema.budgets.rules_for(context.viewer, self.rules)
        return not self.schema.documents.validate(self.graphql, query, document.node, rules)

    # ------------------------------------------------------------ planning

    def plan(
        self,
        context: Context,
        document: Document,
        operation: OperationDefinitionNode,
        variables: Any,
    ) -> OperationPlan:
        planner = Planner(self.graphql, self.index, context, document.fragments, variables)
        query_type = self.graphql.query_type
        assert query_type is not None
        roots: list[RootPlan] = []
        for key, nodes in planner.collect(query_type, [operation.selection_set]).items():
            node = nodes[0]
            name = node.name.value
            if name == "__typename":
                roots.append(RootTypenamePlan(key))
                continue
            planner.check("Query", name)
            definition = query_type.fields[name]
            strawberry_field = self.index.fields[("Query", name)]
            if name in ROOT_LISTS:
                if len(nodes) > 1:
                    raise NotCompilable("a list asked for twice under one key")
                root = ROOT_LISTS[name]
                connection = planner.connection(
                    get_named_type(definition.type).name, root.target, nodes
                )
                roots.append(
                    RootListPlan(
                        key, node, definition, root, connection, strawberry_field.arguments
                    )
                )
            elif name == "node":
                if len(nodes) > 1:
                    raise NotCompilable("node asked for twice under one key")
                by_type: dict[str, ObjectPlan | None] = {}
                for type_name in NODE_TYPES:
                    try:
                        by_type[type_name] = planner.object(type_name, nodes)
                    except NotCompilable:
                        by_type[type_name] = None
                roots.append(
                    RootNodePlan(key, node, definition, by_type, strawberry_field.arguments)
                )
            else:
                raise NotCompilable(f"Query.{name}")
        nested_arguments = {
            name: self.index.fields[
                (parent_type(definition, self.graphql), node.name.value)
            ].arguments
            for name, (definition, node, _relation) in planner.bindings.items()
        }
        return OperationPlan(
            roots,
            dict(planner.bindings),
            nested_arguments,
            operation.name.value if operation.name else None,
        )

    # ------------------------------------------------------------ a request

    async def answer(self, context: Context, body: Any) -> dict[str, Any] | None:
        """The response to a GraphQL request body, or None for the reference executor."""
        if not isinstance(body, dict):
            return None
        query = body.get("query")
        raw_variables = body.get("variables") or {}
        operation_name = body.get("operationName")
        if not isinstance(query, str) or not isinstance(raw_variables, dict):
            return None
        if operation_name is not None and not isinstance(operation_name, str):
            return None
        document = self.document(query)
        if document is None or not self.valid(context, query, document):
            return None
        operation = _operation(document.node, operation_name)
        if operation is None or operation.operation is not OperationType.QUERY:
            return None
        variables = get_variable_values(
            self.graphql, operation.variable_definitions or (), raw_variables
        )
        if isinstance(variables, list):
            return None
        key = (
            query,
            operation_name,
            context.authorizer.version,
            context.principal,
            _shape(variables.coerced),
        )
        plan = self.plans.get(key)
        if plan is None:
            PLAN_CACHE.miss()
            try:
                plan = self.plan(context, document, operation, variables)
            except NotCompilable:
                plan = _NOT_COMPILABLE
            self.plans[key] = plan
            if len(self.plans) > PLANS_MAX:
                self.plans.popitem(last=False)
        else:
            PLAN_CACHE.hit()
        if plan is _NOT_COMPILABLE:
            return None
        assert isinstance(plan, OperationPlan)
        context.request.state.operation = plan.operation_name
        try:
            return await self.run(context, plan, variables)
        except (Fallback, NotCompilable, DomainError):
            return None
        except Exception:
            # A fault of this path must not cost the request: the reference answers it.
            # Development responses say which executor answered (extensions.debug).
            log.exception("compiled read failed; answered by the reference executor")
            return None

    async def run(self, context: Context, plan: OperationPlan, variables: Any) -> dict[str, Any]:
        values: dict[str, Any] = viewer_values(context.viewer)
        # What the facts behind reveals are read for (api.compiled.facts).
        values[PURPOSE_VALUE] = context.purpose
        values[NOW_VALUE] = utcnow()
        shape: list[Hashable] = [viewer_shape(context.viewer)]
        roots: list[tuple[RootPlan, Any]] = []
        for n, root in enumerate(plan.roots):
            if isinstance(root, RootTypenamePlan):
                roots.append((root, None))
                shape.append("typename")
                continue
            arguments = self._arguments(root.definition, root.node, root.arguments, variables)
            name = f"r{n}"
            if isinstance(root, RootListPlan):
                asked = root.root.request(self.settings, context.keys, **arguments)
                template, root_shape = _slotted_listing(asked, name)
                values[name] = asked
                roots.append((root, template))
                shape.append(root_shape)
            else:
                raw_id = arguments["id"]
                type_name, pk = decode_global_id(raw_id, expected=tuple(_node_types()))
                object_plan = root.by_type.get(type_name)
                if type_name not in NODE_TYPES or object_plan is None:
                    raise Fallback(f"node of {type_name}")
                readable = context.allows(f"{type_name}.id", "read")
                values[name] = pk
                roots.append((root, (type_name, object_plan, readable, raw_id)))
                shape.append(("node", type_name, readable))
        pages: dict[str, tuple[ListingRequest[Any], bool]] = {}
        for name, (definition, node, relation) in plan.bindings.items():
            arguments = self._arguments(definition, node, plan.nested_arguments[name], variables)
            asked = relation.request(self.settings, **arguments)
            template, page_shape = _slotted_listing(asked, name)
            values[name] = asked
            pages[name] = (template, asked.after_cursor is not None)
            shape.append(page_shape)
        if all(isinstance(root, RootTypenamePlan) for root in plan.roots):
            # Nothing to read: no round trip for a constant.
            return {"data": {root.key: "Query" for root in plan.roots}}
        statement_key = tuple(shape)
        statement = plan.statements.get(statement_key)
        if statement is not None:
            STATEMENT_CACHE.hit()
        else:
            STATEMENT_CACHE.miss()
            # Only a new shape builds: the stand-in viewer is made here, not per request.
            statement = self._build(slotted_viewer(context.viewer), roots, pages)
            plan.statements[statement_key] = statement
            if len(plan.statements) > STATEMENTS_PER_PLAN:
                plan.statements.popitem(last=False)
        if statement is _TOO_DEEP:
            raise Fallback("nested deeper than the database parses")
        # One connection for the request: the statement, then (with personal values)
        # their facts and the access log in one transaction.
        async with self.engine.connect() as connection:
            try:
                text = await self._fetch(connection, statement.sql, statement.arguments(values))
            except sqlite3.OperationalError as exc:
                if "parser stack overflow" not in str(exc):
                    raise
                # SQLite's parser holds about a hundred levels: three nested lists and more.
                plan.statements[statement_key] = _TOO_DEEP
                raise Fallback("nested deeper than SQLite parses") from exc
            return await self._finish(context, roots, orjson.loads(text), connection)

    def _arguments(
        self, definition: GraphQLField, node: FieldNode, arguments: Sequence[Any], variables: Any
    ) -> dict[str, Any]:
        raw = get_argument_values(definition, node, variables)
        return convert_arguments(
            raw,
            list(arguments),
            scalar_registry=self.schema.schema_converter.scalar_registry,
            config=self.schema.config,
        )

    def _build(
        self,
        viewer: Any,
        roots: Sequence[tuple[RootPlan, Any]],
        pages: Mapping[str, tuple[ListingRequest[Any], bool]],
    ) -> CompiledStatement:
        builder = Builder(self.json, viewer, pages, FactsInSql.for_viewer(viewer))
        pairs: list[tuple[str, ColumnElement[Any]]] = []
        for n, (root, bound) in enumerate(roots):
            if isinstance(root, RootTypenamePlan):
                pairs.append((root.key, sql_string("Query")))
            elif isinstance(root, RootListPlan):
                template: ListingRequest[Any] = bound
                listing = root.root.listing(viewer, template.flt)
                has_after = template.after_cursor is not None
                pairs.append(
                    (root.key, builder.connection(root.connection, listing, template, has_after))
                )
            else:
                _type_name, object_plan, readable, _raw = bound
                if readable:
                    pairs.append((root.key, builder.node(object_plan, Slot((f"r{n}",)))))
                else:
                    pairs.append((root.key, null()))
        # As UTF-8 bytes: neither decoded by the driver nor encoded again by orjson.
        response = self.json.utf8(self.json.object(pairs))
        return compile_statement(select(response), self.engine.dialect)

    async def _fetch(self, connection: AsyncConnection, sql: str, arguments: list[Any]) -> bytes:
        counter = current_statement_counter.get()
        if counter is not None:
            counter.count += 1
        if self.tracer is None:
            return await self._fetch_raw(connection, sql, arguments)
        # Past SQLAlchemy's cursor events, so past its instrumentation: a span of our own.
        with sql_span(self.tracer, self.json.name, sql):
            return await self._fetch_raw(connection, sql, arguments)

    async def _fetch_raw(
        self, connection: AsyncConnection, sql: str, arguments: list[Any]
    ) -> bytes:
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        if self.json.name == "postgresql":
            # No transaction: one statement needs none, and BEGIN/ROLLBACK cost two trips.
            result = await driver.fetchval(sql, *arguments)
        else:
            if id(driver) not in self._functions_on:
                await _register_async(driver)
                self._functions_on.add(id(driver))
            cursor = await driver.execute(sql, arguments)
            row = await cursor.fetchone()
            await cursor.close()
            result = row[0]
        assert isinstance(result, bytes)
        return result

    # ------------------------------------------------------------ the post-pass

    async def _finish(
        self,
        context: Context,
        roots: Sequence[tuple[RootPlan, Any]],
        data: dict[str, Any],
        connection: AsyncConnection,
    ) -> dict[str, Any]:
        finisher = Finisher(context.keys)
        for root, bound in roots:
            if isinstance(root, RootListPlan):
                finisher.connection(root.connection, data[root.key], (root.key,))
            elif isinstance(root, RootNodePlan):
                type_name, object_plan, _readable, raw_id = bound
                found = data[root.key]
                if found is None:
                    # The same answer whether the row is absent or hidden: ids leak nothing.
                    problem = NotFound(f"no {type_name} with id {raw_id}")
                    finisher.error(problem.message, root.node, (root.key,), problem.code)
                else:
                    finisher.object(object_plan, found, (root.key,))
        if finisher.protected:
            disclosure = context.disclosure
            for subject, facts in finisher.facts.items():
                disclosure.learn(subject, facts)
            unknown = [
                s
                for _, rows in finisher.protected.values()
                for _, s, _ in rows
                if disclosure.known(s) is None
            ]
            if unknown:  # break-glass viewers: read after, as the reference reads them
                async with AsyncSession(bind=connection) as session:
                    await disclosure.prefetch(unknown, session=session)
            known = disclosure.known
            for item, rows in finisher.protected.values():
                key, parse, serialize = item.key, item.parse, item.output.serialize
                shown = show_protected_many(
                    context,
                    item.extension,
                    item.access,
                    ((parse(holder[key]), s, o, known(s)) for holder, s, o in rows),
                )
                for (holder, _, _), value in zip(rows, shown, strict=True):
                    holder[key] = None if value is None else serialize(value)
            if context.reveals:  # DESIGN rule 2: every reveal logged, in one insert
                await bulk.append_rows(connection, AccessLogEntry, access_log_rows(context))
        response: dict[str, Any] = {"data": data}
        if finisher.errors:
            response["errors"] = finisher.errors
        return response


@dataclass(frozen=True, slots=True)
class Steps:
    """What the post-pass does in objects of one plan, worked out once."""

    denied: tuple[Denied, ...]
    protected: tuple[Protected, ...]
    required: tuple[str, ...]  # non-null relations: null means a hidden row
    descend: tuple[Related, ...]  # relations with something to do further down

    @property
    def idle(self) -> bool:
        return not (self.denied or self.protected or self.required or self.descend)


def steps_of(plan: ObjectPlan) -> Steps:
    found: Steps | None = plan.steps
    if found is None:
        related = [f for f in plan.fields if isinstance(f, Related)]
        descend = []
        for item in related:
            if item.connection is not None:
                children = [c for _, items in item.connection.edges for _, _, c in items if c]
                if any(not steps_of(c).idle for c in children):
                    descend.append(item)
            elif item.child is not None and not steps_of(item.child).idle:
                descend.append(item)
        found = Steps(
            denied=tuple(f for f in plan.fields if isinstance(f, Denied)),
            protected=tuple(f for f in plan.fields if isinstance(f, Protected)),
            required=tuple(r.key for r in related if not r.nullable and r.connection is None),
            descend=tuple(descend),
        )
        plan.steps = found
    return found


Path = tuple[Any, ...]
# An object holding a protected value, with the value's subject and owner.
Holder = tuple[dict[str, Any], uuid.UUID, uuid.UUID | None]


class Finisher:
    """Walks the database's answer where the plan says something remains to do.

    Paths are tuples grown per level and made lists only for an error: most walks
    (a page's non-null relations checked) record none.
    """

    def __init__(self, keys: KeyProvider) -> None:
        self.keys = keys
        self.errors: list[dict[str, Any]] = []
        # Per protected field (by identity): its plan item and the objects holding a value.
        self.protected: dict[int, tuple[Protected, list[Holder]]] = {}
        self.facts: dict[uuid.UUID, Facts] = {}  # read in the statement (api.compiled.facts)

    def error(self, message: str, node: FieldNode, path: Sequence[Any], code: str) -> None:
        formatted = GraphQLError(message, nodes=[node], path=list(path), extensions={"code": code})
        self.errors.append(dict(formatted.formatted))

    def object(self, plan: ObjectPlan, found: dict[str, Any], path: Path) -> None:
        steps = steps_of(plan)
        for key in steps.required:
            if found[key] is None:
                # The reference answers NOT_FOUND here and nulls the parent.
                raise Fallback(f"hidden row at {(*path, key)}")
        for denied in steps.denied:
            message = Forbidden(f"not allowed to read {denied.obj}").message
            self.error(message, denied.node, (*path, denied.key), Forbidden.code)
        if steps.protected:
            subject = uuid.UUID(found.pop(SUBJECT_KEY))
            owner_text = found.pop(OWNER_KEY)
            owner = None if owner_text is None else uuid.UUID(owner_text)
            facts = read_facts(found, subject, self.keys)
            if facts is not None:
                self.facts[subject] = facts
            for item in steps.protected:
                if found[item.key] is not None:
                    column = self.protected.get(id(item))
                    if column is None:
                        column = self.protected[id(item)] = (item, [])
                    column[1].append((found, subject, owner))
        for related in steps.descend:
            value = found[related.key]
            where = (*path, related.key)
            if related.connection is not None:
                self.connection(related.connection, value, where)
            elif isinstance(value, list):
                assert related.child is not None
                for n, child in enumerate(value):
                    self.object(related.child, child, (*where, n))
            elif value is not None:
                assert related.child is not None
                self.object(related.child, value, where)

    def connection(self, plan: ConnectionPlan, found: dict[str, Any], path: Path) -> None:
        for edges_key, items in plan.edges:
            for kind, key, child in items:
                if kind != "node" or child is None or steps_of(child).idle:
                    continue
                for n, edge in enumerate(found[edges_key]):
                    self.object(child, edge[key], (*path, edges_key, n, key))


# ---------------------------------------------------------------- helpers


def _node_types() -> Sequence[str]:
    # api.node imports every type module; read lazily, as the resolver's own list.
    from api.node import NODE_TYPE_NAMES

    return NODE_TYPE_NAMES


def _slotted_listing(asked: ListingRequest[Any], name: str) -> tuple[ListingRequest[Any], Hashable]:
    flt, flt_shape = slotted(asked.flt, (name, "flt"))
    after, after_shape = slotted(asked.after, (name, "after"))
    template = ListingRequest(
        flt=flt,
        keyset=asked.keyset,
        first=asked.first,
        after=after,
        after_cursor=asked.after_cursor,
    )
    shape = (asked.keyset.name, asked.first, asked.after_cursor is not None, flt_shape, after_shape)
    return template, shape


def _shape(value: Any) -> Hashable:
    """What of the variables can change a plan: presence, lengths, booleans."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, dict):
        return tuple((k, _shape(v)) for k, v in sorted(value.items()))
    if isinstance(value, list | tuple):
        return ("seq", *(_shape(v) for v in value))
    return type(value).__name__


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == name), None)


def parent_type(definition: GraphQLField, schema: GraphQLSchema) -> str:
    for type_name, graphql_type in schema.type_map.items():
        fields = getattr(graphql_type, "fields", None)
        if isinstance(fields, dict) and any(f is definition for f in fields.values()):
            return type_name
    raise NotCompilable("a field of no type")


async def _register_async(driver: Any) -> None:
    for name, arity, function in SQLITE_FUNCTIONS:
        await driver.create_function(name, arity, function, deterministic=True)
