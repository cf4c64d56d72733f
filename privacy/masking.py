"""Masked forms of personal and sensitive values, for viewers who may read but not reveal.

The default strategy keeps just enough to recognise a value one already knows:
a mainland resident id keeps its region (first 6) and last 4 characters
(``110101********1234``), a mobile number its carrier prefix and last 4
(``138****5678``), an email its first character and domain, an account number its
last 4, a name its first character. Values that are not text (figures) are withheld
(null).

Masking policies (``domain.privacy.policies``) may choose another strategy per field, role
and purpose. Strategies, from least to most revealing: ``null`` (withheld),
``redact`` (a fixed marker), ``hash`` (a keyed digest: equal values stay linkable,
nothing else can be read from it), ``band`` (an amount's band, a date's year),
``partial`` (some characters kept) and ``reveal``. Every strategy is a pure function
of the value; parameters are parsed once, when the strategy is built, so what a
masked field costs per row is one call.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from privacy.keys import KeyProvider

REVEAL = "reveal"
PARTIAL = "partial"
HASH = "hash"
BAND = "band"
REDACT = "redact"
NULL = "null"

# How much of a value each strategy shows; a higher rank widens what a role sees.
RANK: Mapping[str, int] = {NULL: 0, REDACT: 1, HASH: 2, BAND: 3, PARTIAL: 4, REVEAL: 5}
STRATEGIES: frozenset[str] = frozenset(RANK)

# preset -> (keep_first, keep_last); email is shaped differently.
PRESETS: Mapping[str, tuple[int, int]] = {
    "resident_id": (6, 4),
    "mobile": (3, 4),
    "bank_card": (0, 4),
}
EMAIL = "email"
PRESET_NAMES: frozenset[str] = frozenset({*PRESETS, EMAIL})

REDACTED = "[redacted]"
HASH_CHARS = 16

_STRING_TYPES = frozenset({"String"})
_BAND_TYPES = frozenset({"Decimal", "Date"})
_FITS: Mapping[str, frozenset[str] | None] = {
    PARTIAL: _STRING_TYPES,
    HASH: _STRING_TYPES,
    REDACT: _STRING_TYPES,
    BAND: _BAND_TYPES,
    NULL: None,  # anything
    REVEAL: None,
}
_PARAMS: Mapping[str, frozenset[str]] = {
    PARTIAL: frozenset({"keep_first", "keep_last", "preset"}),
    BAND: frozenset({"edges"}),
    HASH: frozenset(),
    REDACT: frozenset(),
    NULL: frozenset(),
    REVEAL: frozenset(),
}


def rank(strategy_name: str) -> int:
    """How revealing a strategy is (null 0 ... reveal 5)."""
    return RANK[strategy_name]


def fits(strategy_name: str, graphql_type_name: str) -> bool:
    """Whether the strategy can shape values of this GraphQL scalar (``String``, ...)."""
    if strategy_name not in _FITS:
        return False
    types = _FITS[strategy_name]
    return types is None or graphql_type_name in types


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def validate(
    strategy_name: str, params: Mapping[str, Any], *, field_type: str | None = None
) -> list[str]:
    """Everything wrong with a strategy and its parameters, as readable sentences.

    With ``field_type`` (a GraphQL scalar name), also whether the strategy fits it.
    """
    if strategy_name not in STRATEGIES:
        return [f"unknown strategy {strategy_name!r}; one of {', '.join(sorted(STRATEGIES))}"]
    problems = []
    if field_type is not None and not fits(strategy_name, field_type):
        needs = " or ".join(sorted(_FITS[strategy_name] or ()))
        problems.append(f"strategy {strategy_name!r} needs a {needs} field, not {field_type}")
    unknown = sorted(set(params) - _PARAMS[strategy_name])
    if unknown:
        problems.append(
            f"unknown parameter(s) {', '.join(map(repr, unknown))} for strategy {strategy_name!r}"
        )
    if strategy_name == PARTIAL:
        preset = params.get("preset")
        if preset is not None and preset not in PRESET_NAMES:
            problems.append(f"unknown preset {preset!r}; one of {', '.join(sorted(PRESET_NAMES))}")
        if preset is not None and ("keep_first" in params or "keep_last" in params):
            problems.append("give either a preset or keep_first/keep_last, not both")
        for name in ("keep_first", "keep_last"):
            if name in params and not _is_count(params[name]):
                problems.append(f"{name} must be a whole number, 0 or more")
    if strategy_name == BAND:
        edges = params.get("edges")
        if edges is not None or field_type == "Decimal":
            parsed = [_decimal(e) for e in edges] if isinstance(edges, list) else [None]
            numbers = [n for n in parsed if n is not None]
            if not edges or len(numbers) != len(parsed):
                problems.append('edges must be a non-empty list of decimal strings, e.g. ["0"]')
            elif any(a >= b for a, b in itertools.pairwise(numbers)):
                problems.append("edges must be sorted in ascending order, without repeats")
    return problems


def mask(value: Any, field: str) -> Any:
    """The built-in default: text partially kept (see :func:`mask_text`), the rest withheld."""
    if value is None:
        return None
    if not isinstance(value, str):
        return None
    return mask_text(value)


def mask_text(text: str) -> str:
    if "@" in text:
        return _email(text)
    compact = text.replace(" ", "")
    if len(compact) == 18 and compact[:17].isdigit():
        return _keep(compact, 6, 4)
    if len(compact) == 11 and compact.isdigit():
        return _keep(compact, 3, 4)
    if len(compact) >= 8 and compact.isdigit():
        return _keep(compact, 0, 4)
    if len(text) <= 1:
        return "*"
    return text[:1] + "*" * min(len(text) - 1, 6)


def _keep(text: str, first: int, last: int) -> str:
    """The first and last characters kept, the rest starred (all starred if too short)."""
    hidden = len(text) - first - last
    if hidden <= 0:
        return "*" * len(text)
    return text[:first] + "*" * hidden + (text[-last:] if last else "")


def _email(text: str) -> str:
    local, at, domain = text.partition("@")
    return f"{local[:1]}***{at}{domain}"


def keyed_hash(keys: KeyProvider, value: str, *, object: str) -> str:
    """Equal values of one field give equal digests, under the masking key (never the
    blind-index key: a digest shown must not match a stored index); the label keeps
    each field's digests apart."""
    message = f"mask|{object}|{value}".encode()
    return hmac.new(keys.hashing.masking, message, hashlib.sha256).hexdigest()[:HASH_CHARS]


@dataclass(frozen=True)
class Strategy:
    """A strategy with its parameters, and the policy it came from.

    ``version`` is the policy's version (0 for the built-in default) and ``policy_id``
    its row (None for the default). Build only with parameters :func:`validate` accepts.
    """

    name: str
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)
    version: int = 0
    policy_id: uuid.UUID | None = None
    _edges: tuple[Decimal, ...] = field(init=False, repr=False, compare=False, hash=False)
    _keep: tuple[int, int] | None = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        edges = tuple(Decimal(str(e)) for e in self.params.get("edges") or ())
        keep: tuple[int, int] | None = None
        if self.name == PARTIAL:
            preset = self.params.get("preset")
            if isinstance(preset, str) and preset in PRESETS:
                keep = PRESETS[preset]
            elif preset is None and ("keep_first" in self.params or "keep_last" in self.params):
                keep = (
                    int(self.params.get("keep_first", 0)),
                    int(self.params.get("keep_last", 0)),
                )
        object.__setattr__(self, "_edges", edges)
        object.__setattr__(self, "_keep", keep)

    @property
    def rank(self) -> int:
        return RANK[self.name]

    def apply(self, value: Any, *, object: str, keys: KeyProvider) -> Any:
        if value is None:
            return None
        match self.name:
            case "reveal":
                return value
            case "partial":
                return self._partial(value)
            case "hash":
                return keyed_hash(keys, str(value), object=object)
            case "band":
                return self._band(value)
            case "redact":
                return REDACTED
        return None  # null, and any name this code does not know: withheld

    def _partial(self, value: Any) -> str | None:
        if not isinstance(value, str):
            return None
        if self.params.get("preset") == EMAIL:
            return _email(value) if "@" in value else _keep(value, 1, 0)
        if self._keep is None:
            return mask_text(value)
        first, last = self._keep
        if "preset" in self.params:  # the presets speak of numbers: spaces are layout
            value = "".join(value.split())
        return _keep(value, first, last)

    def _band(self, value: Any) -> Any:
        if isinstance(value, datetime):
            return value.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
        if isinstance(value, date):
            return date(value.year, 1, 1)
        if isinstance(value, bool) or not isinstance(value, Decimal | int):
            return None
        lower = Decimal(0)
        for edge in self._edges:
            if value < edge:
                break
            lower = edge
        return lower


# What a viewer who may read but not reveal sees when no policy applies.
DEFAULT = Strategy(PARTIAL)
