"""The app without field-level access: what the benchmarks measure the guarded app against.

Imported by the benchmark scripts in this folder (run as ``python bench/<script>.py``,
which puts this folder on the import path).
"""

from __future__ import annotations

import copy
from typing import Any
from unittest import mock

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from strawberry.types.base import StrawberryObjectDefinition
from strawberry.types.field import StrawberryField

import api.schema
from api.access import FieldAccess
from api.app import create_app
from domain.settings import Settings


class UnguardedSchema(api.schema.LendGraphSchema):
    """The schema build_schema makes, converted from fields stripped of FieldAccess.

    Strawberry chains a field's extensions into its resolver while converting the field,
    so dropping them from a schema already built changes nothing. ``get_fields`` is what
    conversion reads every type's fields through (specialised connections included); the
    copies leave the shared type definitions, and so the normal app, untouched.
    """

    def get_fields(self, type_definition: StrawberryObjectDefinition) -> list[StrawberryField]:
        fields = []
        for guarded in super().get_fields(type_definition):
            kept = [e for e in guarded.extensions if not isinstance(e, FieldAccess)]
            if len(kept) == len(guarded.extensions):
                fields.append(guarded)
                continue
            stripped = copy.copy(guarded)
            stripped.extensions = kept
            fields.append(stripped)
        return fields


def guarded_fields(schema: api.schema.LendGraphSchema) -> int:
    """How many fields of the built schema carry FieldAccess."""
    count = 0
    for graphql_type in schema._schema.type_map.values():
        for graphql_field in getattr(graphql_type, "fields", {}).values():
            definition = (graphql_field.extensions or {}).get("strawberry-definition")
            extensions = getattr(definition, "extensions", None) or ()
            count += any(isinstance(e, FieldAccess) for e in extensions)
    return count


def unguarded_app(settings: Settings, engine: AsyncEngine) -> Starlette:
    app = create_app(settings, engine=engine)
    # build_schema itself, so extensions and config stay those of the normal app.
    with mock.patch.object(api.schema, "LendGraphSchema", UnguardedSchema):
        schema = api.schema.build_schema(settings)
    assert isinstance(schema, UnguardedSchema)
    assert guarded_fields(schema) == 0, "FieldAccess survived the rebuild"
    app.state.view.schema = schema
    view = app.state.view
    contextualise = view.get_context

    async def get_context(request: Any, response: Any) -> Any:
        # Without field access nothing is disclosed: skip the page's prefetch of
        # data keys and consents too, so "off" costs what serving stored values costs.
        context = await contextualise(request, response)

        async def nothing(subject_ids: Any) -> None:
            return None

        context.disclosure.prefetch = nothing
        return context

    view.get_context = get_context
    return app
