"""The response built by the database: JSON constructors and scalars, per dialect.

Every scalar is rendered in SQL exactly as the reference executor serialises it,
so the two executors answer byte for byte alike (the differential test holds them
to it): money and rates as decimal strings in their scalar's format (two and six
decimals, api.scalars.PLACES_OF_SCALAR), timestamps as Python's
``isoformat()`` in UTC, enums by member name, global ids and cursors as base64.

PostgreSQL builds with ``json_build_object`` / ``json_agg``; SQLite with
``json_object`` / ``json_group_array``, wrapping nested values in ``json()`` (a
value read from a subquery loses its JSON subtype there), and with two small
functions registered on each connection for what it lacks (base64).
"""

from __future__ import annotations

import base64
import enum
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Boolean,
    Integer,
    LargeBinary,
    String,
    Text,
    case,
    cast,
    func,
    literal_column,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.sql.elements import ColumnElement

# SQLAlchemy's precedence of / and %: a custom "/" binds as tightly, so SQL groups alike.
_DIVISION = 8
# PostgreSQL functions take at most 100 arguments: 50 keys and their values.
MAX_KEYS = 50


def sql_string(text: str) -> ColumnElement[str]:
    """A constant written into the statement (our own names, never a request's value)."""
    return literal_column("'" + text.replace("'", "''") + "'", String)


class JsonDialect:
    name: str

    def object(self, pairs: Sequence[tuple[str, ColumnElement[Any]]]) -> ColumnElement[Any]:
        raise NotImplementedError

    def nested(self, value: ColumnElement[Any]) -> ColumnElement[Any]:
        """A JSON value read back from a subquery, to place inside another."""
        return value

    def array(
        self, value: ColumnElement[Any], order: ColumnElement[Any], where: ColumnElement[bool]
    ) -> ColumnElement[Any]:
        raise NotImplementedError

    def text(self, value: ColumnElement[Any]) -> ColumnElement[str]:
        return cast(value, Text)

    def utf8(self, value: ColumnElement[Any]) -> ColumnElement[bytes]:
        """A JSON document as its UTF-8 bytes: the driver hands them over as they came,
        and orjson parses bytes as they are. As text, the driver would decode them and
        orjson encode them back, a third of the cost of parsing a page of Chinese names."""
        raise NotImplementedError

    def decimal(self, value: ColumnElement[Any], scale: int, places: int) -> ColumnElement[str]:
        """A decimal stored with ``scale`` decimals, as text with ``places`` (half up)."""
        raise NotImplementedError

    def boolean(self, value: ColumnElement[Any]) -> ColumnElement[Any]:
        return value

    def datetime(self, value: ColumnElement[Any]) -> ColumnElement[str]:
        raise NotImplementedError

    def date(self, value: ColumnElement[Any]) -> ColumnElement[str]:
        raise NotImplementedError

    def json(self, value: ColumnElement[Any]) -> ColumnElement[Any]:
        raise NotImplementedError

    def uuid_text(self, value: ColumnElement[Any]) -> ColumnElement[str]:
        raise NotImplementedError

    def base64(self, value: ColumnElement[str], *, url: bool) -> ColumnElement[str]:
        raise NotImplementedError

    def least(self, a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
        raise NotImplementedError

    def joined(self, value: ColumnElement[str]) -> ColumnElement[str]:
        """The text values of a group joined by commas (NULL for none), in no set order."""
        raise NotImplementedError

    def enum(self, value: ColumnElement[Any], members: type[enum.Enum]) -> ColumnElement[str]:
        # Stored by value, served by member name (strawberry's enum serialisation).
        return case(
            *((value == sql_string(str(m.value)), sql_string(m.name)) for m in members),
            else_=None,
        )

    def global_id(self, type_name: str, key: ColumnElement[Any]) -> ColumnElement[str]:
        text = sql_string(type_name + ":").concat(self.uuid_text(key))
        return self.base64(text, url=False)

    def concat(self, parts: Sequence[ColumnElement[Any]]) -> ColumnElement[str]:
        joined: ColumnElement[str] = parts[0]
        for part in parts[1:]:
            joined = joined.concat(part)
        return joined


class PostgresJson(JsonDialect):
    name = "postgresql"

    def utf8(self, value: ColumnElement[Any]) -> ColumnElement[bytes]:
        return func.convert_to(cast(value, Text), sql_string("UTF8"), type_=LargeBinary)

    def object(self, pairs: Sequence[tuple[str, ColumnElement[Any]]]) -> ColumnElement[Any]:
        args: list[ColumnElement[Any]] = []
        for key, value in pairs:
            args += [sql_string(key), value]
        return func.json_build_object(*args)

    def array(
        self, value: ColumnElement[Any], order: ColumnElement[Any], where: ColumnElement[bool]
    ) -> ColumnElement[Any]:
        aggregated = func.json_agg(aggregate_order_by(value, order)).filter(where)
        return func.coalesce(aggregated, literal_column("'[]'::json"))

    def decimal(self, value: ColumnElement[Any], scale: int, places: int) -> ColumnElement[str]:
        # numeric(p, s) prints its scale (150000.00); round() gives it ``places`` and
        # rounds half away from zero, as api.scalars.fixed does.
        if places == scale:
            return cast(value, Text)
        return cast(func.round(value, literal_column(str(places), Integer)), Text)

    def datetime(self, value: ColumnElement[Any]) -> ColumnElement[str]:
        utc = func.timezone(sql_string("UTC"), value)
        seconds = func.to_char(utc, sql_string('YYYY-MM-DD"T"HH24:MI:SS'))
        fraction = case(
            (
                cast(func.extract("microseconds", utc), Integer) % 1000000 != 0,
                func.to_char(utc, sql_string(".US")),
            ),
            else_=sql_string(""),
        )
        return seconds.concat(fraction).concat(sql_string("+00:00"))

    def date(self, value: ColumnElement[Any]) -> ColumnElement[str]:
        return func.to_char(value, sql_string("YYYY-MM-DD"))

    def json(self, value: ColumnElement[Any]) -> ColumnElement[Any]:
        return cast(value, postgresql.JSON)

    def uuid_text(self, value: ColumnElement[Any]) -> ColumnElement[str]:
        return cast(value, Text)

    def base64(self, value: ColumnElement[str], *, url: bool) -> ColumnElement[str]:
        encoded = func.encode(func.convert_to(value, sql_string("UTF8")), sql_string("base64"))
        # PostgreSQL breaks base64 into lines of 76; the url form also drops its padding.
        if url:
            return func.translate(encoded, literal_column("E'+/\\n='"), sql_string("-_"))
        return func.translate(encoded, literal_column("E'\\n'"), sql_string(""))

    def least(self, a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.least(a, b)

    def joined(self, value: ColumnElement[str]) -> ColumnElement[str]:
        return func.string_agg(value, sql_string(","))


class SqliteJson(JsonDialect):
    name = "sqlite"

    def utf8(self, value: ColumnElement[Any]) -> ColumnElement[bytes]:
        return cast(value, LargeBinary)  # SQLite's text is UTF-8 already

    def object(self, pairs: Sequence[tuple[str, ColumnElement[Any]]]) -> ColumnElement[Any]:
        args: list[ColumnElement[Any]] = []
        for key, value in pairs:
            args += [sql_string(key), value]
        return func.json_object(*args)

    def nested(self, value: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.json(value)

    def array(
        self, value: ColumnElement[Any], order: ColumnElement[Any], where: ColumnElement[bool]
    ) -> ColumnElement[Any]:
        # SQLite before 3.44 has no ORDER BY in an aggregate: rows arrive in the order
        # of the subquery they are read from, which the builder orders by ``order``.
        return func.json_group_array(func.json(value)).filter(where)

    def decimal(self, value: ColumnElement[Any], scale: int, places: int) -> ColumnElement[str]:
        # SQLite keeps money and rates as scaled integers (kernel.base.ScaledDecimal):
        # rescaled in integer arithmetic, half up, as kernel.formats.fixed does. A bare
        # "/" divides integers exactly there (SQLAlchemy's / would make it a float).
        magnitude: ColumnElement[Any] = func.abs(value)
        if places < scale:
            step = 10 ** (scale - places)
            magnitude = (magnitude + step // 2).op("/", precedence=_DIVISION)(step)
        elif places > scale:
            magnitude = magnitude * 10 ** (places - scale)
        unit = 10**places
        # A value that rounds to zero has no sign ("0.00", never "-0.00").
        sign = case(((value < 0) & (magnitude > 0), sql_string("-")), else_=sql_string(""))
        text = func.printf(
            sql_string(f"%s%d.%0{places}d"),
            sign,
            magnitude.op("/", precedence=_DIVISION)(unit),
            magnitude % unit,
        )
        return func.iif(value.is_(None), None, text)

    def boolean(self, value: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.json(
            case(
                (value == literal_column("1", Boolean), sql_string("true")),
                (value == literal_column("0", Boolean), sql_string("false")),
                else_=None,
            )
        )

    def datetime(self, value: ColumnElement[Any]) -> ColumnElement[str]:
        # Stored as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC (kernel.base.UTCDateTime).
        seconds = func.replace(func.substr(value, 1, 19), sql_string(" "), sql_string("T"))
        micros = func.substr(value, 21, 6)
        fraction = case(
            (func.coalesce(micros, sql_string("")).in_(["", "000000"]), sql_string("")),
            else_=sql_string(".").concat(micros),
        )
        return func.iif(
            value.is_(None), None, seconds.concat(fraction).concat(sql_string("+00:00"))
        )

    def date(self, value: ColumnElement[Any]) -> ColumnElement[str]:
        return value  # stored as 'YYYY-MM-DD'

    def json(self, value: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.json(value)

    def uuid_text(self, value: ColumnElement[Any]) -> ColumnElement[str]:
        # Stored as 32 hexadecimal digits; served in the 8-4-4-4-12 form.
        return func.lendgraph_uuid(value)

    def global_id(self, type_name: str, key: ColumnElement[Any]) -> ColumnElement[str]:
        return func.lendgraph_global_id(sql_string(type_name), key)

    def concat(self, parts: Sequence[ColumnElement[Any]]) -> ColumnElement[str]:
        # Flat: a long chain of || nests deep enough to overflow SQLite's parser stack.
        return func.printf(sql_string("%s" * len(parts)), *parts)

    def base64(self, value: ColumnElement[str], *, url: bool) -> ColumnElement[str]:
        assert url, "SQLite's global ids are made whole by lendgraph_global_id"
        return func.lendgraph_base64url(value)

    def least(self, a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
        return func.min(a, b)

    def joined(self, value: ColumnElement[str]) -> ColumnElement[str]:
        return func.group_concat(value, sql_string(","))


def _uuid(hex_digits: str | None) -> str | None:
    return None if hex_digits is None else str(uuid.UUID(hex=hex_digits))


def _global_id(type_name: str, hex_digits: str | None) -> str | None:
    if hex_digits is None:
        return None
    return base64.b64encode(f"{type_name}:{uuid.UUID(hex=hex_digits)}".encode()).decode()


def _base64url(text: str | None) -> str | None:
    return None if text is None else base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


# What SQLite lacks for the compiled read path, registered on each connection it uses.
SQLITE_FUNCTIONS = (
    ("lendgraph_uuid", 1, _uuid),
    ("lendgraph_global_id", 2, _global_id),
    ("lendgraph_base64url", 1, _base64url),
)


def json_dialect(name: str) -> JsonDialect:
    if name == "postgresql":
        return PostgresJson()
    if name == "sqlite":
        return SqliteJson()
    raise ValueError(f"no compiled reads for {name}")
