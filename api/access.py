"""Field and operation access, decided in one place.

Every field of every GraphQL type is classified where the type is declared; the
classification is attached to the field together with :class:`FieldAccess`, the
one extension that allows, masks or denies it. Every mutation declares its
permission with :func:`mutation`, which attaches :class:`MutationPermission`.

Both ask Casbin (``domain.identity.authorization``) with the object ``Type.field``
or ``Mutation.name``: ``read`` to see a field at all, ``reveal`` to see a personal
or sensitive value unmasked, ``write`` to call a mutation. A decision is made once
per request per field and memoised in the request context, so what is paid per
row is one dictionary lookup. An unclassified field makes the schema fail to build.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import strawberry
from graphql import GraphQLUnionType, get_named_type
from strawberry import relay
from strawberry.extensions import FieldExtension
from strawberry.types.field import StrawberryField
from strawberry.utils.str_converters import to_camel_case

from api.verdicts import Access as Access  # decided here, held by the context
from api.verdicts import FieldKey
from kernel.errors import DomainError, Forbidden, InvalidInput, Unauthenticated
from privacy.classification import Classification
from privacy.vault import unseal

if TYPE_CHECKING:
    from strawberry.types import Info

    from api.context import Context
    from api.disclosure import Facts

T = TypeVar("T")

PROTECTED = frozenset({Classification.PERSONAL, Classification.SENSITIVE})


def decide(context: Context, obj: str, classification: Classification) -> Access:
    """Casbin's answer for one field: read, then (for personal data) reveal."""
    if not context.allows(obj, "read"):
        return Access.DENY
    if classification in PROTECTED and not context.allows(obj, "reveal"):
        return Access.MASK
    return Access.ALLOW


class FieldAccess(FieldExtension):
    def __init__(
        self,
        type_name: str,
        field_name: str,
        classification: Classification,
        *,
        generic: bool = False,
        sealed_in: str | None = None,
        column: str | None = None,
    ) -> None:
        self.key: FieldKey = (type_name, field_name)
        self.obj = f"{type_name}.{field_name}"  # the Casbin object, as disclosure names it
        self.field_name = field_name
        self.classification = classification
        # A sealed field holds ciphertext of table ``sealed_in``, column ``column``, row
        # ``source.pk``, sealed under the data key of ``source.subject_pk`` if it has one,
        # else of the row itself.
        self.sealed_in = sealed_in
        self.column = column
        # A generic type (Connection[T], Edge[T]) is served under each specialised
        # name (ApplicationConnection, ...); the policy speaks of those names.
        self.generic = generic

    def _access(self, info: Info[Context, Any]) -> Access:
        # Strawberry exposes the GraphQL parent type only on the raw graphql-core info.
        key = (info._raw_info.parent_type.name, self.field_name) if self.generic else self.key
        context = info.context
        access = context.field_access.get(key)
        if access is None:
            access = decide(context, f"{key[0]}.{key[1]}", self.classification)
            context.field_access[key] = access
        if access is Access.DENY:
            raise Forbidden(f"not allowed to read {key[0]}.{key[1]}")
        return access

    def resolve(
        self, next_: Callable[..., Any], source: Any, info: Info[Context, Any], **kwargs: Any
    ) -> Any:
        access = self._access(info)
        value = next_(source, info, **kwargs)
        if self.classification in PROTECTED and value is not None:
            facts = info.context.disclosure.known(_subject_of(source))
            if facts is not None:  # prefetched with its page: decided here, synchronously
                return self._show(value, source, info.context, access, facts)
            return self._disclose(value, source, info.context, access)
        return value

    async def _disclose(self, value: Any, source: Any, context: Context, access: Access) -> Any:
        subject_id = _subject_of(source)
        facts = await context.disclosure.facts(subject_id) if subject_id is not None else None
        return self._show(value, source, context, access, facts)

    def _show(
        self, value: Any, source: Any, context: Context, access: Access, facts: Facts | None
    ) -> Any:
        return show_protected(
            context,
            self,
            access,
            value,
            subject_id=_subject_of(source),
            owner_id=getattr(source, "owner_id", None),
            facts=facts,
            row_id=getattr(source, "pk", None),
        )

    async def resolve_async(
        self,
        next_: Callable[..., Awaitable[Any]],
        source: Any,
        info: Info[Context, Any],
        **kwargs: Any,
    ) -> Any:
        access = self._access(info)
        result = next_(source, info, **kwargs)
        if inspect.isasyncgen(result):  # a subscription: decided once, for the whole stream
            return result
        value = await result
        if self.classification in PROTECTED and value is not None:
            return await self._disclose(value, source, info.context, access)
        return value


def show_protected(
    context: Context,
    field: FieldAccess,
    access: Access,
    value: Any,
    *,
    subject_id: uuid.UUID | None,
    owner_id: uuid.UUID | None,
    facts: Facts | None,
    row_id: uuid.UUID | None = None,
) -> Any:
    """One value, as :func:`show_protected_many` shows it (the field extension's case).

    ``row_id``: the row a sealed value is bound to, when it is not the subject's own
    (a collection note is sealed under its enterprise's key, bound to its own row).
    """
    return show_protected_many(
        context, field, access, ((value, subject_id, owner_id, facts),), row_ids=(row_id,)
    )[0]


Shown = tuple[Any, "uuid.UUID | None", "uuid.UUID | None", "Facts | None"]


def show_protected_many(
    context: Context,
    field: FieldAccess,
    access: Access,
    values: Iterable[Shown],
    *,
    row_ids: Sequence[uuid.UUID | None] | None = None,
) -> list[Any]:
    """Open sealed values (here and only here), then show each as disclosure decides.

    ``values``: (value, subject id, owner id, the subject's facts) for one field. Both
    executors call this for every personal or sensitive value they serve: the field
    extension above one value at a time, the compiled read path's post-pass a page's
    column at once, which pays what depends on the field alone once.
    """
    show = context.disclosure.shower(field.obj, field.field_name, revealable=access is Access.ALLOW)
    table, column = field.sealed_in, field.column
    shown: list[Any] = []
    for n, (value, subject_id, owner_id, facts) in enumerate(values):
        if table is not None:
            assert column is not None
            assert subject_id is not None
            if facts is None or facts.key is None:  # erased: its key is gone, and the value
                shown.append(None)
                continue
            row_id = (row_ids[n] if row_ids is not None else None) or subject_id
            value = unseal(facts.key, value, table=table, column=column, row_id=row_id)
        shown.append(show(value, subject_id, owner_id, facts))
    return shown


def _subject_of(source: Any) -> uuid.UUID | None:
    """Whose personal data a row holds: its ``subject_pk`` when it names one (a row about
    another subject, sealed under that subject's key), else the row itself."""
    subject: uuid.UUID | None = getattr(source, "subject_pk", None) or getattr(source, "pk", None)
    return subject


class MutationPermission(FieldExtension):
    """The permission a mutation declares: ``write`` on ``Mutation.<name>``."""

    def __init__(self, name: str) -> None:
        self.object = f"Mutation.{name}"

    def _check(self, context: Context) -> None:
        if not context.allows(self.object, "write"):
            if context.viewer.is_anonymous:
                raise Unauthenticated("sign in first")
            raise Forbidden(f"not allowed to call {self.object.split('.', 1)[1]}")

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


class InputRefusals(FieldExtension):
    """A bad value refused anywhere in a mutation comes back as its ``InvalidInput``
    member, with the field, not only the refusals a resolver catches itself (an id that
    does not decode, say). Mutations whose result has no such member keep the error."""

    def _member(self, info: Info[Context, Any], error: DomainError) -> Any:
        named = get_named_type(info._raw_info.return_type)
        if not isinstance(named, GraphQLUnionType) or not any(
            t.name == "InvalidInput" for t in named.types
        ):
            raise error
        from api.identity.types import InvalidInputError  # its module builds on this one

        return InvalidInputError.of(error)

    def resolve(
        self, next_: Callable[..., Any], source: Any, info: Info[Context, Any], **kwargs: Any
    ) -> Any:
        try:
            return next_(source, info, **kwargs)
        except InvalidInput as error:
            if error.code != InvalidInput.code:  # a refusal with a member of its own
                raise
            return self._member(info, error)

    async def resolve_async(
        self,
        next_: Callable[..., Awaitable[Any]],
        source: Any,
        info: Info[Context, Any],
        **kwargs: Any,
    ) -> Any:
        try:
            return await next_(source, info, **kwargs)
        except InvalidInput as error:
            if error.code != InvalidInput.code:
                raise
            return self._member(info, error)


def mutation(name: str, *, description: str) -> Any:
    """Declare a mutation and its permission in one place: ``@mutation("login", ...)``."""
    return strawberry.mutation(
        name=name,
        description=description,
        extensions=[MutationPermission(name), InputRefusals()],
    )


def _field_name(field: StrawberryField) -> str:
    return field.graphql_name or field.python_name


def classified(
    *,
    public: Iterable[str] = (),
    internal: Iterable[str] = (),
    personal: Iterable[str] = (),
    sensitive: Iterable[str] = (),
    sealed_in: str | None = None,
    sealed: Iterable[str] = (),
) -> Callable[[type[T]], type[T]]:
    """Classify every field of a Strawberry type (python names) and guard it.

    Apply above ``@strawberry.type``. Raises at import time if a field is left out
    or a name does not exist, so an unclassified field can never be served.
    """
    sealed_fields = frozenset(sealed)
    if sealed_fields and sealed_in is None:
        raise TypeError("sealed fields need sealed_in, the table that holds them")
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
        # Per-context query mixins (EnterpriseQueries, ...) are composed into Query.
        owner = "Query" if definition.name.endswith("Queries") else definition.name
        # A relay NodeID attribute is not served; the global ``id`` stands for it.
        hidden = cls.resolve_id_attr() if issubclass(cls, relay.Node) else None
        for field in definition.fields:
            if field.python_name == hidden:
                continue
            name = _field_name(field)
            level = remaining.pop(name, None)
            if level is None:
                raise TypeError(f"{definition.name}.{name} has no classification")
            graphql_name = field.graphql_name or to_camel_case(field.python_name)
            is_sealed = field.python_name in sealed_fields
            if is_sealed and level not in PROTECTED:
                raise TypeError(f"{definition.name}.{name} is sealed, so personal or sensitive")
            field.extensions.append(
                FieldAccess(
                    owner,
                    graphql_name,
                    level,
                    generic=definition.is_graphql_generic,
                    sealed_in=sealed_in if is_sealed else None,
                    column=field.python_name if is_sealed else None,
                )
            )
            field.metadata = {**(field.metadata or {}), "classification": level}
        if remaining:
            raise TypeError(f"{definition.name} has no fields named {sorted(remaining)}")
        return cls

    return apply


def protected_fields(cls: type[Any]) -> frozenset[str]:
    """The GraphQL names of a classified type's personal and sensitive fields."""
    return frozenset(
        field.graphql_name or to_camel_case(field.python_name)
        for field in cls.__strawberry_definition__.fields
        if (field.metadata or {}).get("classification") in PROTECTED
    )
