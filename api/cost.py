"""Query cost: how many objects a document can make, refused above a budget before it runs.

Threat model: the depth, alias and token limits bound a document's size, not its
answer. ``first`` multiplies along every path, so thirty aliases of a hundred loans,
each with its schedule and its enterprise's hundred applications, built 129,000
objects in one request, held the event loop for seconds and grew the worker by
440 MB. This rule estimates, from the document alone (so that every executor that
validates with the project's rules enforces it, and the validation cache keeps the
verdict), the number of values the answer can hold:

- every selected field counts once per object it is selected on;
- a field with ``first`` multiplies what is under it by ``first`` (a literal, else the
  variable's default, else the page size maximum; absent, the field's default, else
  the connection default), and a connection's ``edges`` take that count;
- a list the schema does not bound with an argument counts as ``LIST_SIZES`` says, or
  ``DEFAULT_LIST_SIZE``: a stated guess, since the document cannot say more.

Budgets are per caller (``CostBudgets``): anonymous callers and SME owners get less
than staff and partner systems. Each budget is its own rule class, made once, so the
validation cache keeps one verdict per document and budget; the executors validate a
request with the rule of its viewer's budget (``CostBudgets.rules_for``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    VariableNode,
    VisitorAction,
)
from graphql.language import SKIP
from graphql.type.introspection import SchemaMetaFieldDef, TypeMetaFieldDef, TypeNameMetaFieldDef

from api.relay import DEFAULT_PAGE_SIZE
from domain.identity.viewer import Viewer

QUERY_TOO_COSTLY = "QUERY_TOO_COSTLY"

# Lists without an argument to bound them. A loan's schedule and repayments run to its
# term (at most 600 months, typically 12 to 60); the rest are short by nature.
LIST_SIZES: dict[tuple[str, str], int] = {
    ("Loan", "schedule"): 60,
    ("Loan", "repayments"): 60,
}
DEFAULT_LIST_SIZE = 10
# The most rows any field answers for ``first`` (the page size maximum is at most this).
FIRST_MAX = 1000
# No estimate grows past this: a fragment bomb stays an integer of sane size.
CEILING = 10**12

_META_FIELDS = {
    "__typename": TypeNameMetaFieldDef,
    "__schema": SchemaMetaFieldDef,
    "__type": TypeMetaFieldDef,
}


class _Estimate:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        defaults: dict[str, int | None],
        page_size_max: int,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.defaults = defaults
        self.page_size_max = page_size_max
        # A fragment spread twice in each of many fragments doubles at each step: each
        # fragment is priced once per (fragment, page).
        self.memo: dict[tuple[str, int | None], int] = {}

    def selections(
        self,
        node: SelectionSetNode,
        parent: Any,
        page: int | None,
        visiting: frozenset[str],
    ) -> int:
        # Fragments on distinct object types exclude each other (a node is a Loan or an
        # Application): the dearest of them counts, not their sum.
        common = 0
        by_type: dict[str, int] = {}
        for selection in node.selections:
            on = parent
            if isinstance(selection, FieldNode):
                cost = self.field(selection, parent, page)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                on = self.schema.get_type(condition.name.value) if condition else parent
                cost = self.selections(selection.selection_set, on, page, visiting)
            elif isinstance(selection, FragmentSpreadNode):
                on, cost = self.spread(selection.name.value, page, visiting)
            else:
                continue
            if isinstance(on, GraphQLObjectType) and on is not parent:
                by_type[on.name] = min(by_type.get(on.name, 0) + cost, CEILING)
            else:
                common = min(common + cost, CEILING)
        return min(common + max(by_type.values(), default=0), CEILING)

    def spread(self, name: str, page: int | None, visiting: frozenset[str]) -> tuple[Any, int]:
        fragment = self.fragments.get(name)
        if fragment is None or name in visiting:  # unknown or cyclic: other rules report it
            return None, 0
        on = self.schema.get_type(fragment.type_condition.name.value)
        key = (name, page)
        if key not in self.memo:
            self.memo[key] = self.selections(fragment.selection_set, on, page, visiting | {name})
        return on, self.memo[key]

    def field(self, node: FieldNode, parent: Any, page: int | None) -> int:
        name = node.name.value
        definition = _META_FIELDS.get(name)
        if definition is None and isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            definition = parent.fields.get(name)
        if definition is None:
            return 0  # an unknown field: FieldsOnCorrectTypeRule reports it
        first = self.first(node, definition.args)
        count = 1
        of_type: GraphQLOutputType = definition.type
        while isinstance(of_type, GraphQLNonNull | GraphQLList):
            if isinstance(of_type, GraphQLList):
                if first is not None:
                    size = first
                elif page is not None:
                    size = page  # a connection's edges: as many as it was asked for
                else:
                    size = LIST_SIZES.get((parent.name, name), DEFAULT_LIST_SIZE)
                count *= size
            of_type = of_type.of_type
        if node.selection_set is None:
            return min(count, CEILING)
        # ``first`` on a field that is not itself a list sizes the lists under it.
        below = first if first is not None and count == 1 else None
        inner = self.selections(node.selection_set, of_type, below, frozenset())
        return min(1 + count * inner, CEILING)

    def first(self, node: FieldNode, args: dict[str, Any]) -> int | None:
        if "first" not in args:
            return None
        given = next((a.value for a in node.arguments or () if a.name.value == "first"), None)
        value: int | None
        if isinstance(given, IntValueNode):
            value = int(given.value)
        elif isinstance(given, VariableNode):
            default = self.defaults.get(given.name.value)
            value = self.page_size_max if default is None else default
        else:  # absent or null: the field's default, else the connection's
            declared = args["first"].default_value
            value = declared if isinstance(declared, int) else DEFAULT_PAGE_SIZE
        # Below one a field refuses to run; no field answers more than FIRST_MAX rows.
        return max(0, min(value, FIRST_MAX))


def estimate(
    schema: GraphQLSchema,
    operation: OperationDefinitionNode,
    fragments: dict[str, FragmentDefinitionNode],
    *,
    page_size_max: int,
) -> int:
    """The number of values an operation's answer can hold, by the rules above."""
    defaults: dict[str, int | None] = {}
    for variable in operation.variable_definitions or ():
        default = variable.default_value
        defaults[variable.variable.name.value] = (
            int(default.value) if isinstance(default, IntValueNode) else None
        )
    root = {
        "query": schema.query_type,
        "mutation": schema.mutation_type,
        "subscription": schema.subscription_type,
    }[operation.operation.value]
    if root is None:
        return 0
    walk = _Estimate(schema, fragments, defaults, page_size_max)
    return walk.selections(operation.selection_set, root, None, frozenset())


class QueryCostRule(ValidationRule):
    """What every budget's rule is (``cost_rule`` makes them)."""

    budget: int


def cost_rule(budget: int, *, page_size_max: int) -> type[QueryCostRule]:
    """A validation rule refusing operations estimated above ``budget``.

    Made once per process (the validation cache is keyed by the rule classes).
    """

    class QueryCost(QueryCostRule):
        def enter_operation_definition(
            self, node: OperationDefinitionNode, *_args: Any
        ) -> VisitorAction:
            fragments = {
                d.name.value: d
                for d in self.context.document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            cost = estimate(self.context.schema, node, fragments, page_size_max=page_size_max)
            if cost > budget:
                self.report_error(
                    GraphQLError(
                        f"The operation could produce about {cost} values, over the budget "
                        f"of {budget}: ask for fewer rows (first) or fewer nested lists.",
                        node,
                        extensions={"code": QUERY_TOO_COSTLY, "cost": cost, "budget": budget},
                    )
                )
            return SKIP  # priced whole here; nothing below needs visiting

    return QueryCost


class CostBudgets:
    """The budget of each caller: the largest among its roles' budgets.

    ``by_caller`` names "anonymous" or roles; a role it does not name gets ``default``,
    and no budget exceeds it (so the schema-wide rule, at ``default``, never refuses what
    a caller's own rule lets through).
    """

    def __init__(self, default: int, by_caller: Mapping[str, int], *, page_size_max: int) -> None:
        self.default = default
        self.by_caller = {name: min(budget, default) for name, budget in by_caller.items()}
        self.page_size_max = page_size_max
        self._rules: dict[int, type[QueryCostRule]] = {}
        self.widest = self.rule(default)

    def budget_for(self, viewer: Viewer) -> int:
        if viewer.is_anonymous:
            return self.by_caller.get("anonymous", self.default)
        roles = set(viewer.platform_roles)
        for institution_roles in viewer.institution_roles.values():
            roles |= institution_roles
        if not roles:  # signed in without a role: as much as anonymous
            return self.by_caller.get("anonymous", self.default)
        return max(self.by_caller.get(role.value, self.default) for role in roles)

    def rule(self, budget: int) -> type[QueryCostRule]:
        found = self._rules.get(budget)
        if found is None:
            found = self._rules[budget] = cost_rule(budget, page_size_max=self.page_size_max)
        return found

    def rules_for(self, viewer: Viewer, rules: Sequence[type[Any]]) -> tuple[type[Any], ...]:
        """``rules`` with the cost rule replaced by the one of the viewer's budget."""
        own = self.rule(self.budget_for(viewer))
        return tuple(own if issubclass(rule, QueryCostRule) else rule for rule in rules)
