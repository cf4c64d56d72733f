"""Field access, decided in one place.

Every field of every GraphQL type is classified where the type is declared; the
classification is attached to the field together with :class:`FieldAccess`, the one
extension that allows or denies it. The decision is made once per request per
(type, field) and memoised in the request context, so the per-row cost is a
dictionary lookup. An unclassified field makes the schema fail to build.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from strawberry import relay
from strawberry.extensions import FieldExtension
from strawberry.types.field import StrawberryField

from domain.errors import Forbidden
from domain.identity.viewer import Viewer
from privacy.classification import Classification

if TYPE_CHECKING:
    from strawberry.types import Info

    from api.context import Context

T = TypeVar("T")

FieldKey = tuple[str, str]


def decide(viewer: Viewer, classification: Classification) -> bool:
    """May this viewer read a field of this classification?

    Public data is open to all. Until identity and its Casbin policy arrive, anything
    else is readable only under the development open-access switch.
    """
    if classification is Classification.PUBLIC:
        return True
    return viewer.open_access


class FieldAccess(FieldExtension):
    def __init__(self, type_name: str, field_name: str, classification: Classification) -> None:
        self.key: FieldKey = (type_name, field_name)
        self.classification = classification

    def _check(self, context: Context) -> None:
        allowed = context.field_access.get(self.key)
        if allowed is None:
            allowed = decide(context.viewer, self.classification)
            context.field_access[self.key] = allowed
        if not allowed:
            raise Forbidden(f"not allowed to read {self.key[0]}.{self.key[1]}")

    def resolve(
        self, next_: Callable[..., Any], source: Any, info: Info[Context, Any], **kwargs: Any
    ) -> Any:
        self._check(info.context)
        return next_(source, info, **kwargs)

    async def resolve_async(
        self,
        next_: Callable[..., Awaitable[Any]],
        source: Any,
        info: Info[Context, Any],
        **kwargs: Any,
    ) -> Any:
        self._check(info.context)
        return await next_(source, info, **kwargs)


def _field_name(field: StrawberryField) -> str:
    return field.graphql_name or field.python_name


def classified(
    *,
    public: Iterable[str] = (),
    internal: Iterable[str] = (),
    personal: Iterable[str] = (),
    sensitive: Iterable[str] = (),
) -> Callable[[type[T]], type[T]]:
    """Classify every field of a Strawberry type (python names) and guard it.

    Apply above ``@strawberry.type``. Raises at import time if a field is left out
    or a name does not exist, so an unclassified field can never be served.
    """
    levels: dict[str, Classification] = {}
    for names, level in (
        (public, Classification.PUBLIC),
        (internal, Classification.INTERNAL),
        (personal, Classification.PERSONAL),
        (sensitive, Classification.SENSITIVE),
    ):
        for name in names:
            if name in levels:
                raise TypeError(f"{name} is classified twice")
            levels[name] = level

    def apply(cls: type[T]) -> type[T]:
        definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
        remaining = dict(levels)
        # A relay NodeID attribute is not served; the global ``id`` stands for it.
        hidden = cls.resolve_id_attr() if issubclass(cls, relay.Node) else None
        for field in definition.fields:
            if field.python_name == hidden:
                continue
            name = _field_name(field)
            level = remaining.pop(name, None)
            if level is None:
                raise TypeError(f"{definition.name}.{name} has no classification")
            field.extensions.append(FieldAccess(definition.name, name, level))
            field.metadata = {**(field.metadata or {}), "classification": level}
        if remaining:
            raise TypeError(f"{definition.name} has no fields named {sorted(remaining)}")
        return cls

    return apply
