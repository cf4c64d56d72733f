"""Statements built once, values bound per request.

A compiled statement is built by the same domain functions that build today's
queries (row rules, filters, keyset bounds), called once with *slots* where a
request's values go: the viewer's ids, a filter's values, a cursor's key. The
statement is compiled to SQL text once; each slot becomes a positional parameter,
so every request of the same shape reuses the text (and PostgreSQL's prepared
statement), whoever sends it, as Hasura does with its session variables.

What decides the statement's shape and not only a parameter's value (which filters
are set, how many statuses, the viewer's roles) is the *shape*, part of the cache
key. A domain function that branched on a value's truth would make a statement
that is wrong for other values: a slot refuses to be tested for truth, and the
read falls back to the reference executor instead.
"""

from __future__ import annotations

import dataclasses
import enum
import uuid
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from domain.identity.viewer import Viewer

Path = tuple[str | int, ...]


class NotCompilable(Exception):
    """This operation (or this request's shape of it) is left to the reference executor."""


class Slot:
    """Where a request's value goes in a statement built for many requests."""

    __slots__ = ("path",)

    def __init__(self, path: Path) -> None:
        self.path = path

    def __bool__(self) -> bool:
        raise NotCompilable(f"the statement's shape would depend on the value at {self.path}")

    def __repr__(self) -> str:
        return f"Slot{self.path}"


_SCALARS = (str, int, float, Decimal, uuid.UUID, date, datetime, enum.Enum)


def slotted(value: Any, path: Path) -> tuple[Any, Hashable]:
    """``value`` with a slot for every scalar in it, and the shape that stays.

    Dataclasses and sequences keep their structure (and lengths) in the shape; None
    and booleans stay as they are (a filter set to ``False`` differs in shape from
    one left out); every other scalar becomes a slot named by its path.
    """
    if value is None or isinstance(value, bool):
        return value, value
    if isinstance(value, _SCALARS):
        return Slot(path), type(value).__name__
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields: dict[str, Any] = {}
        shapes: list[Hashable] = [type(value).__name__]
        for item in dataclasses.fields(value):
            fields[item.name], shape = slotted(getattr(value, item.name), (*path, item.name))
            shapes.append(shape)
        return dataclasses.replace(value, **fields), tuple(shapes)
    if isinstance(value, list | tuple):
        pairs = [slotted(v, (*path, n)) for n, v in enumerate(value)]
        return type(value)(p[0] for p in pairs), ("seq", *(p[1] for p in pairs))
    raise NotCompilable(f"cannot bind a {type(value).__name__} at {path}")


def value_at(values: Mapping[str, Any], path: Path) -> Any:
    found: Any = values[cast(str, path[0])]
    for step in path[1:]:
        found = found[step] if isinstance(step, int) else getattr(found, step)
    return found


# ---------------------------------------------------------------- the viewer


def viewer_values(viewer: Viewer) -> dict[str, Any]:
    """What of the viewer a row rule may read, as values a statement binds."""
    return {
        "viewer_user": viewer.user_id,
        "viewer_service": viewer.service_account_id,
        "viewer_institutions": tuple(sorted(viewer.institution_ids)),
    }


def viewer_shape(viewer: Viewer) -> Hashable:
    """What of the viewer row rules branch on (its ids are bound, not in the shape)."""
    roles = tuple(viewer.institution_roles[i] for i in sorted(viewer.institution_ids))
    return (
        viewer.user_id is None,
        viewer.service_account_id is None,  # a partner system: owners may refuse it
        viewer.platform_roles,
        roles,
        viewer.scopes,
    )


def slotted_viewer(viewer: Viewer) -> Viewer:
    """A viewer whose ids are slots, to build a statement for every viewer of its shape."""
    ids = sorted(viewer.institution_ids)
    roles = tuple(viewer.institution_roles[i] for i in ids)
    return Viewer(
        user_id=None if viewer.user_id is None else cast(uuid.UUID, Slot(("viewer_user",))),
        platform_roles=viewer.platform_roles,
        institution_roles={
            cast(uuid.UUID, Slot(("viewer_institutions", n))): held for n, held in enumerate(roles)
        },
        service_account_id=None
        if viewer.service_account_id is None
        else cast(uuid.UUID, Slot(("viewer_service",))),
        scopes=viewer.scopes,
    )


# ---------------------------------------------------------------- compiled text


Processor = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Parameter:
    """One positional parameter: a slot's path, or a constant already processed."""

    path: Path | None
    constant: Any
    process: Processor | None


@dataclass(frozen=True, slots=True)
class CompiledStatement:
    sql: str
    parameters: tuple[Parameter, ...]

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        out: list[Any] = []
        for parameter in self.parameters:
            if parameter.path is None:
                out.append(parameter.constant)
                continue
            value = value_at(values, parameter.path)
            out.append(value if parameter.process is None else parameter.process(value))
        return out


def compile_statement(statement: ClauseElement, dialect: Dialect) -> CompiledStatement:
    """SQL text with positional parameters, and where each parameter's value comes from."""
    compiled = cast(
        SQLCompiler, statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    )
    values = compiled.construct_params()
    parameters: list[Parameter] = []
    for name in compiled.positiontup or ():
        bind = compiled.binds.get(name)
        if bind is None:
            bind = compiled.binds[_unexpanded(name)]
        process = bind.type._cached_bind_processor(dialect)
        value = values[name]
        if isinstance(value, Slot):
            parameters.append(Parameter(path=value.path, constant=None, process=process))
        else:
            constant = value if process is None else process(value)
            parameters.append(Parameter(path=None, constant=constant, process=None))
    return CompiledStatement(sql=compiled.string, parameters=tuple(parameters))


def _unexpanded(name: str) -> str:
    # render_postcompile names the members of an IN list ``<bind>_1``, ``<bind>_2``, ...
    return name.rsplit("_", 1)[0]
