"""Puts the operation's name where the request log line can read it."""

from __future__ import annotations

from collections.abc import Iterator

from strawberry.extensions import SchemaExtension


class OperationName(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        context = self.execution_context.context
        request = getattr(context, "request", None)
        if request is not None:
            request.state.operation = self.execution_context.operation_name
            request.state.operation_type = self.execution_context.operation_type.value
        yield
