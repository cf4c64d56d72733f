"""Documents parsed and validated once per process, in a cache bounded in bytes.

Threat model: anyone may post a document, and every distinct text is a new cache
entry. A cache bounded only in entries let 60 distinct 10 MB documents (one long
comment each) grow a worker by 850 MB. Here an entry is charged for the syntax tree
its text makes (about 120 bytes per character of a dense document, measured), the
cache holds at most ``max_bytes`` of them, and a document longer than
``max_document_chars`` is parsed for its request and never kept, so large unique
documents cannot push the working set out either.

Validation is cached with the document (keyed by the rule set), without suggestions
outside development and with at most ``max_errors`` errors: a document of 50 unknown
directives costs 50 checks once, not 50 errors per request.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    ValuesOfCorrectTypeRule,
    parse,
    validate,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from api.scalars import ArgumentValuesRule
from kernel.metrics import DOCUMENT_CACHE

if TYPE_CHECKING:
    from api.cost import CostBudgets

AST_BYTES_PER_CHAR = 128
OPERATION_RESOLUTION_FAILURE = "OPERATION_RESOLUTION_FAILURE"

Rules = tuple[type[ASTValidationRule], ...]


@dataclass
class _Entry:
    document: DocumentNode
    charge: int
    errors: dict[Rules, list[GraphQLError]] = field(default_factory=dict)


class DocumentCache:
    def __init__(
        self, *, max_bytes: int, max_document_chars: int, hide_suggestions: bool, max_errors: int
    ) -> None:
        self.max_bytes = max_bytes
        self.max_document_chars = max_document_chars
        self.hide_suggestions = hide_suggestions
        self.max_errors = max_errors
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def parse(self, query: str, *, max_tokens: int | None) -> DocumentNode:
        entry = self._entries.get(query)
        if entry is not None:
            self.hits += 1
            DOCUMENT_CACHE.hit()
            self._entries.move_to_end(query)
            return entry.document
        self.misses += 1
        DOCUMENT_CACHE.miss()
        document = parse(query, max_tokens=max_tokens)  # a syntax error is never kept
        charge = len(query) * AST_BYTES_PER_CHAR
        if len(query) <= self.max_document_chars and charge <= self.max_bytes:
            self._entries[query] = _Entry(document, charge)
            self.bytes += charge
            while self.bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self.bytes -= evicted.charge
        return document

    def validate(
        self, schema: GraphQLSchema, query: str, document: DocumentNode, rules: Rules
    ) -> list[GraphQLError]:
        entry = self._entries.get(query)
        if entry is not None and entry.document is document and rules in entry.errors:
            return entry.errors[rules]
        # Strawberry's own rules for its Maybe and @oneOf inputs, as its validation adds;
        # the specification's rule for literals as api.scalars words it.
        checks = tuple(ArgumentValuesRule if r is ValuesOfCorrectTypeRule else r for r in rules)
        errors = validate(
            schema,
            document,
            (*checks, MaybeNullValidationRule, OneOfInputValidationRule),
            max_errors=self.max_errors,
            hide_suggestions=self.hide_suggestions,
        )
        if entry is not None and entry.document is document:
            entry.errors[rules] = errors
        return errors


class CachedDocuments(SchemaExtension):
    """Strawberry's parse and validate steps through a :class:`DocumentCache`.

    Also the one request error validation cannot see, since it depends on the
    request's operationName: a document of several operations needs one named
    (GraphQL spec, GetOperation), it is never the first by default.
    """

    def __init__(self, *, cache: DocumentCache, budgets: CostBudgets | None = None) -> None:
        self.cache = cache
        self.budgets = budgets

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        assert context.query is not None  # Strawberry refuses a request without one first
        context.graphql_document = self.cache.parse(
            context.query, max_tokens=context.parse_options.get("max_tokens")
        )
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        assert context.query is not None
        assert document is not None
        rules = tuple(context.validation_rules)
        viewer = getattr(context.context, "viewer", None)
        if self.budgets is not None and viewer is not None:
            rules = self.budgets.rules_for(viewer, rules)  # the cost budget is the viewer's
        errors = self.cache.validate(context.schema._schema, context.query, document, rules)
        # Strawberry falls back to the first operation when none is named; the private
        # attribute is the only record of whether the request named one.
        named = getattr(context, "_provided_operation_name", None) is not None
        if not errors and not named and _operations(document) > 1:
            errors = [
                GraphQLError(
                    "The document has several operations: send operationName to choose one.",
                    extensions={"code": OPERATION_RESOLUTION_FAILURE},
                )
            ]
        context.pre_execution_errors = errors
        yield


def _operations(document: DocumentNode) -> int:
    return sum(isinstance(d, OperationDefinitionNode) for d in document.definitions)
