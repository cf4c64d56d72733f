"""A plan, as one SQL statement that builds the whole response (PostGraphile's way).

Relations are correlated subqueries in the select list, lists are aggregated JSON
arrays over an ordered, limited subquery, and each level carries the domain's row
rule for its table in its WHERE: one round trip whatever the depth, and no N+1.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLEnumType, GraphQLList, GraphQLNonNull, get_named_type
from sqlalchemy import Enum, Select, Text, case, cast, false, func, literal, null, select, true
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeEngine

from api.compiled.binding import NotCompilable
from api.compiled.catalog import GlobalIdOf, NestedConnection, Rows, ToMany, ToOne
from api.compiled.facts import FactsInSql
from api.compiled.json_sql import MAX_KEYS, JsonDialect, sql_string
from api.compiled.plan import (
    ConnectionPlan,
    Denied,
    ObjectPlan,
    Protected,
    Related,
    Scalar,
    Typename,
)
from api.relay import ListingRequest
from api.scalars import PLACES_OF_SCALAR
from domain.identity.viewer import Viewer
from kernel.base import ScaledDecimal, UTCDateTime
from kernel.pagination import Keyset

# Hidden keys of an object whose protected fields the post-pass shows: the subject
# (the row) and its owner. '#' cannot start a GraphQL name, so never an alias.
SUBJECT_KEY = "#s"
OWNER_KEY = "#o"


@dataclass
class Builder:
    json: JsonDialect
    viewer: Viewer  # with slots for its ids (binding.slotted_viewer)
    # Nested connections' pages, by binding name, with slots for their values.
    pages: Mapping[str, tuple[ListingRequest[Any], bool]]
    # The facts behind reveals, read in the statement (None: read after it).
    facts: FactsInSql | None = None

    # ------------------------------------------------------------ objects

    def object(self, plan: ObjectPlan, rows: Rows) -> ColumnElement[Any]:
        pairs: list[tuple[str, ColumnElement[Any]]] = []
        for item in plan.fields:
            pairs.append((item.key, self.value(item, rows)))
        if plan.protected:
            pairs.append((SUBJECT_KEY, self.json.uuid_text(rows.id)))
            owner = getattr(rows, "owner_id", None)
            pairs.append((OWNER_KEY, null() if owner is None else self.json.uuid_text(owner)))
            if self.facts is not None:
                pairs += self.facts.pairs(self.json, rows)
        if len(pairs) > MAX_KEYS:
            raise NotCompilable(f"{len(pairs)} keys in one object")
        return self.json.object(pairs)

    def value(self, item: Any, rows: Rows) -> ColumnElement[Any]:
        if isinstance(item, Typename):
            return sql_string(item.name)
        if isinstance(item, Denied):
            return null()
        if isinstance(item, Scalar):
            return self.scalar(item, rows)
        if isinstance(item, Protected):
            column: ColumnElement[Any] = getattr(rows, item.python_name)
            places = PLACES_OF_SCALAR.get(item.output.name)
            if places is not None:
                return self.json.decimal(column, _scale(column.type), places)
            return column
        assert isinstance(item, Related)
        return self.related(item, rows)

    def scalar(self, item: Scalar, rows: Rows) -> ColumnElement[Any]:
        if isinstance(item.renamed, GlobalIdOf):
            return self.json.global_id(item.renamed.type_name, getattr(rows, item.renamed.column))
        expr: ColumnElement[Any] | None = (
            item.renamed(rows) if item.renamed else getattr(rows, item.python_name, None)
        )
        if expr is None:
            raise NotCompilable(f"{item.type_name}.{item.field_name} has no column")
        output = item.output.of_type if isinstance(item.output, GraphQLNonNull) else item.output
        if isinstance(output, GraphQLList):
            raise NotCompilable(f"{item.type_name}.{item.field_name} is a list")
        named = get_named_type(output)
        kind: TypeEngine[Any] = expr.type
        if isinstance(named, GraphQLEnumType):
            enum_class = getattr(named, "wrapped_cls", None)
            if (
                enum_class is None
                or not isinstance(kind, Enum)
                or list(kind.enums) != [str(m.value) for m in enum_class]
            ):
                raise NotCompilable(f"{item.type_name}.{item.field_name}: enum storage")
            return self.json.enum(expr, enum_class)
        name = named.name
        if name in ("String", "Int", "Float") and kind.python_type in (str, int, float):
            return expr
        if name == "Boolean":
            return self.json.boolean(expr)
        if name in PLACES_OF_SCALAR and isinstance(kind, ScaledDecimal):
            # Shown in the scalar's format, whatever the column's scale.
            return self.json.decimal(expr, kind.scale, PLACES_OF_SCALAR[name])
        if name == "DateTime" and isinstance(kind, UTCDateTime):
            return self.json.datetime(expr)
        if name == "Date":
            return self.json.date(expr)
        if name == "JSON":
            return self.json.json(expr)
        raise NotCompilable(f"{item.type_name}.{item.field_name}: {name} from {kind!r}")

    # ------------------------------------------------------------ relations

    def related(self, item: Related, parent: Rows) -> ColumnElement[Any]:
        relation = item.relation
        if isinstance(relation, NestedConnection):
            assert item.connection is not None
            assert item.binding is not None
            asked, has_after = self.pages[item.binding]
            # A derived table correlates only when told to (SQLAlchemy adds the
            # parent to its FROM otherwise: every parent's children for each parent).
            listing = relation.listing(self.viewer, parent).correlate(parent)
            return self.connection(item.connection, listing, asked, has_after)
        assert item.child is not None
        source = item.child.source
        child = aliased(source.model)
        conditions = [relation.link(parent, child)]
        if source.rule is not None:
            conditions.append(source.rule(self.viewer, child))
        if isinstance(relation, ToOne):
            found = select(self.object(item.child, child)).select_from(child).where(*conditions)
            return self.json.nested(found.scalar_subquery())
        assert isinstance(relation, ToMany)
        order = relation.order(child)
        listed = (
            select(
                self.object(item.child, child).label("o"),
                func.row_number().over(order_by=order).label("n"),
            )
            .select_from(child)
            .where(*conditions)
            .order_by(*order)
            .correlate(parent)
            .subquery()
        )
        gathered = select(self.json.array(listed.c.o, listed.c.n, true())).select_from(listed)
        return self.json.nested(gathered.scalar_subquery())

    def node(self, plan: ObjectPlan, key: ColumnElement[Any] | Any) -> ColumnElement[Any]:
        """One row by primary key, under its type's row rule (``node(id:)``)."""
        rows = aliased(plan.source.model)
        conditions = [rows.id == key]
        if plan.source.rule is not None:
            conditions.append(plan.source.rule(self.viewer, rows))
        found = select(self.object(plan, rows)).select_from(rows).where(*conditions)
        return self.json.nested(found.scalar_subquery())

    # ------------------------------------------------------------ connections

    def connection(
        self,
        plan: ConnectionPlan,
        listing: Select[Any],
        asked: ListingRequest[Any],
        has_after: bool,
    ) -> ColumnElement[Any]:
        """A page of ``listing`` (the domain's rows and filters) as a connection object."""
        first = asked.first
        keyset = asked.keyset
        parts: list[tuple[str, ColumnElement[Any]]] = []
        needs_rows = bool(plan.edges) or any(
            name not in ("hasPreviousPage", "__typename")
            for _, items in plan.page_info
            for name, _ in items
        )
        page: Any = None
        if needs_rows:
            window = keyset.apply(listing, after=asked.after, limit=first + 1).subquery()
            rows = aliased(plan.target.model, window)
            order = _order(keyset, rows)
            numbered = func.row_number().over(order_by=order).label("n")
            columns: list[Any] = [numbered, func.count().over().label("fetched")]
            if plan.needs_cursor:
                columns.append(self.cursor(keyset, rows).label("cursor"))
            nodes: list[tuple[str, str, str]] = []  # (edges key, node key, column)
            for edges_key, items in plan.edges:
                for kind, key, child in items:
                    if kind == "node":
                        assert child is not None
                        label = f"node{len(nodes)}"
                        nodes.append((edges_key, key, label))
                        columns.append(self.object(child, rows).label(label))
            page = select(*columns).select_from(window).order_by(numbered).subquery()
            labels = iter(nodes)
            for edges_key, items in plan.edges:
                pairs: list[tuple[str, ColumnElement[Any]]] = []
                for kind, key, _child in items:
                    if kind == "cursor":
                        pairs.append((key, page.c.cursor))
                    elif kind == "node":
                        pairs.append((key, self.json.nested(page.c[next(labels)[2]])))
                    else:
                        pairs.append((key, sql_string(plan.edge_type)))
                edges = self.json.array(self.json.object(pairs), page.c.n, page.c.n <= first)
                parts.append((edges_key, edges))
        for info_key, info in plan.page_info:
            pairs = []
            for name, key in info:
                pairs.append((key, self.page_info(name, page, first, has_after)))
            parts.append((info_key, self.json.object(pairs)))
        for key in plan.total_count:
            counted = select(func.count()).select_from(listing.subquery())
            parts.append((key, counted.scalar_subquery()))
        for key in plan.typename:
            parts.append((key, sql_string(plan.type_name)))
        by_key = dict(parts)
        built = select(self.json.object([(key, by_key[key]) for key in plan.keys]))
        if page is not None:
            built = built.select_from(page)
        return self.json.nested(built.scalar_subquery())

    def page_info(self, name: str, page: Any, first: int, has_after: bool) -> ColumnElement[Any]:
        if name == "__typename":
            return sql_string("PageInfo")
        if name == "hasPreviousPage":
            return self.json.boolean(true() if has_after else false())
        if name == "hasNextPage":
            return self.json.boolean(func.count() > first)
        if name == "startCursor":
            return func.max(case((page.c.n == 1, page.c.cursor), else_=None))
        if name == "endCursor":
            last = self.json.least(page.c.fetched, literal(first))
            return func.max(case((page.c.n == last, page.c.cursor), else_=None))
        raise NotCompilable(f"PageInfo.{name}")

    def cursor(self, keyset: Keyset, rows: Rows) -> ColumnElement[str]:
        """``Keyset.encode`` in SQL: base64url of {"o":name,"k":[values]}, compact."""
        parts: list[ColumnElement[Any]] = [sql_string('{"o":"' + keyset.name + '","k":[')]
        for n, column in enumerate(keyset.columns):
            value = getattr(rows, column.key)
            kind = column.type
            if n:
                parts.append(sql_string(","))
            if kind.python_type is int:
                parts.append(cast(value, Text))
            elif isinstance(kind, ScaledDecimal):
                shown = self.json.decimal(value, kind.scale, kind.scale)
                parts += [sql_string('"'), shown, sql_string('"')]
            elif kind.python_type is uuid.UUID:
                parts += [sql_string('"'), self.json.uuid_text(value), sql_string('"')]
            else:
                raise NotCompilable(f"a cursor over {kind!r}")
        parts.append(sql_string("]}"))
        return self.json.base64(self.json.concat(parts), url=True)


def _order(keyset: Keyset, rows: Rows) -> list[ColumnElement[Any]]:
    columns = [getattr(rows, c.key) for c in keyset.columns]
    return [c.desc() if keyset.descending else c.asc() for c in columns]


def _scale(kind: TypeEngine[Any]) -> int:
    if not isinstance(kind, ScaledDecimal):
        raise NotCompilable(f"a decimal stored as {kind!r}")
    return kind.scale
