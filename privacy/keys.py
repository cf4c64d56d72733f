"""Master keys behind one interface that wraps and unwraps, and never hands a key out.

Threat model: the database (and its backups) may leak. Personal values in it are
sealed with per-subject data keys, and the data keys are stored only wrapped by a
master key that never touches the database. A master key is named by a key id, so
several can be live during a rotation: the newest wraps, every listed one unwraps.

A :class:`KeyProvider` is asked to wrap or unwrap a data key; it never returns a
master key. Two providers:

- :class:`StaticKeys`, the embedded default: master keys read from
  ``LENDGRAPH_MASTER_KEYS`` (``kid:base64key,kid:base64key``, the first is current) or
  from the local key file (``LENDGRAPH_KEY_FILE``, JSON, 0600). Development creates the
  file and says so; production refuses to start without keys.
- :class:`privacy.hsm.Pkcs11Keys`: master keys are non-extractable AES keys in a
  PKCS#11 token (an HSM; SoftHSM2 in tests), labelled by their key id; wrapping and
  unwrapping happen inside the token.

The keyed-hash keys are secondary keys, separate from each other (:class:`HashKeys`):
the blind-index key (versioned: lookups try every live version while a re-index moves
rows to the newest) and the masking-hash key (a masked digest is never stored, so it is
replaced at once). With PKCS#11 they are kept in the key file wrapped by a master key
and unwrapped once per process; the local provider keeps them beside its master keys.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

log = logging.getLogger("lendgraph")

KEY_BYTES = 32
NONCE_BYTES = 12
_KID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
# The version a lone (unversioned) blind-index key gets, as every key before versions.
FIRST_INDEX_VERSION = "bi0"


class KeyConfigurationError(Exception):
    """A key is missing or malformed; the message names it."""


class UnwrapFailed(Exception):
    """A wrapped key does not open under the master key it names (tampered or moved)."""


@dataclass(frozen=True)
class IndexKeys:
    """Blind-index keys by version: the current one indexes writes, all find rows."""

    current: str
    keys: Mapping[str, bytes]

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise KeyConfigurationError(f"blind-index key {self.current!r} is not configured")

    @property
    def key(self) -> bytes:
        return self.keys[self.current]

    def live(self) -> tuple[bytes, ...]:
        """Every version's key, the current first (what a lookup must try)."""
        return (self.key, *(k for v, k in self.keys.items() if v != self.current))

    def with_new_current(self) -> IndexKeys:
        version = new_kid(prefix="bi")
        return IndexKeys(version, {**self.keys, version: secrets.token_bytes(KEY_BYTES)})

    def only_current(self) -> IndexKeys:
        return IndexKeys(self.current, {self.current: self.key})


@dataclass(frozen=True)
class HashKeys:
    """The keyed-hash keys: blind indexes and masking digests never share a key."""

    blind_index: IndexKeys
    masking: bytes

    @classmethod
    def generate(cls) -> HashKeys:
        version = new_kid(prefix="bi")
        return cls(
            IndexKeys(version, {version: secrets.token_bytes(KEY_BYTES)}),
            secrets.token_bytes(KEY_BYTES),
        )


class KeyProvider(Protocol):
    """Wraps and unwraps data keys under master keys it never exports."""

    @property
    def current_kid(self) -> str: ...

    @property
    def kids(self) -> tuple[str, ...]:
        """Every master key id that unwraps, the current first."""
        ...

    @property
    def hashing(self) -> HashKeys: ...

    def wrap(self, data_key: bytes, *, context: bytes) -> tuple[str, bytes]:
        """``data_key`` wrapped under the current master key, bound to ``context``."""
        ...

    def unwrap(self, kid: str, wrapped: bytes, *, context: bytes) -> bytes:
        """The data key; KeyConfigurationError for an unknown kid, UnwrapFailed if it
        does not open."""
        ...

    def fingerprint(self, kid: str) -> bytes:
        """Names the master key ``kid`` is here, for caches of what it unwrapped
        (KeyConfigurationError for an unknown kid); reveals nothing of the key."""
        ...


def fingerprint_in(fingerprints: Mapping[str, bytes], kid: str) -> bytes:
    """A provider's fingerprint of ``kid``; KeyConfigurationError when it has no such key."""
    try:
        return fingerprints[kid]
    except KeyError:
        raise KeyConfigurationError(f"master key {kid!r} is not configured") from None


@dataclass(frozen=True)
class StaticKeys:
    """Master keys held in memory, read once from the environment or the local key file."""

    keys: dict[str, bytes]
    current: str
    hash_keys: HashKeys
    _fingerprints: dict[str, bytes] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise KeyConfigurationError(f"current master key {self.current!r} is not configured")
        prints = {k: hashlib.sha256(b"lendgraph-kid|" + v).digest() for k, v in self.keys.items()}
        object.__setattr__(self, "_fingerprints", prints)

    @property
    def current_kid(self) -> str:
        return self.current

    @property
    def kids(self) -> tuple[str, ...]:
        return (self.current, *(k for k in self.keys if k != self.current))

    @property
    def hashing(self) -> HashKeys:
        return self.hash_keys

    def fingerprint(self, kid: str) -> bytes:
        return fingerprint_in(self._fingerprints, kid)

    def wrap(self, data_key: bytes, *, context: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(NONCE_BYTES)
        return self.current, nonce + AESGCM(self.keys[self.current]).encrypt(
            nonce, data_key, context
        )

    def unwrap(self, kid: str, wrapped: bytes, *, context: bytes) -> bytes:
        self.fingerprint(kid)  # unknown: KeyConfigurationError
        try:
            return AESGCM(self.keys[kid]).decrypt(
                wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], context
            )
        except (InvalidTag, ValueError) as exc:
            raise UnwrapFailed(f"the key does not unwrap under {kid!r}") from exc

    def rotated(self) -> StaticKeys:
        """These keys and a new current master key."""
        kid = new_kid()
        return StaticKeys({**self.keys, kid: secrets.token_bytes(KEY_BYTES)}, kid, self.hash_keys)

    def retired(self) -> StaticKeys:
        """Only the current master key."""
        return StaticKeys({self.current: self.keys[self.current]}, self.current, self.hash_keys)

    def with_hash_keys(self, hash_keys: HashKeys) -> StaticKeys:
        return StaticKeys(self.keys, self.current, hash_keys)

    def env_values(self) -> dict[str, str]:
        """These keys as the settings LENDGRAPH_MASTER_KEYS, _BLIND_INDEX_KEY and
        _MASKING_KEY read them."""
        return {
            "master_keys": ",".join(f"{k}:{_b64(self.keys[k])}" for k in self.kids),
            "blind_index_key": _versions_text(self.hash_keys.blind_index),
            "masking_key": _b64(self.hash_keys.masking),
        }

    def to_json(self) -> str:
        return json.dumps(
            {
                "provider": "local",
                "current": self.current,
                "master_keys": {k: _b64(v) for k, v in self.keys.items()},
                **hash_keys_json(self.hash_keys, lambda name, raw: {"key": _b64(raw)}),
            },
            indent=2,
        )


def _versions_text(index: IndexKeys) -> str:
    ordered = [index.current, *(v for v in index.keys if v != index.current)]
    return ",".join(f"{v}:{_b64(index.keys[v])}" for v in ordered)


def hash_keys_json(hash_keys: HashKeys, stored: Any) -> dict[str, Any]:
    """The hash keys as the key file holds them; ``stored(name, raw)`` writes one key."""
    index = hash_keys.blind_index
    return {
        "blind_index": {
            "current": index.current,
            "keys": {v: stored(f"blind_index|{v}", raw) for v, raw in index.keys.items()},
        },
        "masking": stored("masking", hash_keys.masking),
    }


def hash_keys_from_json(data: Mapping[str, Any], opened: Any) -> HashKeys:
    """Read what :func:`hash_keys_json` wrote; ``opened(name, entry)`` reads one key."""
    if "blind_index" not in data:  # a file from before versions: one key for both
        return legacy_hash_keys(_key(data["blind_index_key"], "blind_index_key"))
    index = data["blind_index"]
    keys = {v: opened(f"blind_index|{v}", entry) for v, entry in index["keys"].items()}
    return HashKeys(IndexKeys(index["current"], keys), opened("masking", data["masking"]))


def legacy_hash_keys(blind_index: bytes) -> HashKeys:
    """A lone blind-index key, as configured before the masking key was its own: the
    masking key is derived from it (HKDF, its own label), so the two never coincide;
    ``lendgraph keys rotate-masking`` gives it an independent one."""
    masking = HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=b"lendgraph masking hash"
    ).derive(blind_index)
    return HashKeys(IndexKeys(FIRST_INDEX_VERSION, {FIRST_INDEX_VERSION: blind_index}), masking)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _key(text: str, name: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise KeyConfigurationError(f"{name} is not valid base64") from None
    if len(raw) != KEY_BYTES:
        raise KeyConfigurationError(f"{name} must be {KEY_BYTES} bytes (got {len(raw)})")
    return raw


def _pairs(text: str, name: str) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for part in text.split(","):
        kid, sep, value = part.strip().partition(":")
        if not sep or not _KID.match(kid):
            raise KeyConfigurationError(f"{name} must read id:base64key[,id:base64key]")
        found[kid] = _key(value, f"{name} {kid!r}")
    return found


def parse_env(master: str, blind_index: str, masking: str | None = None) -> StaticKeys:
    """Keys from the environment. ``blind_index`` is one base64 key or ``version:base64``
    pairs, newest first; without ``masking`` it is derived (see legacy_hash_keys)."""
    keys = _pairs(master, "LENDGRAPH_MASTER_KEYS")
    current = next(iter(keys))
    if ":" in blind_index:
        versions = _pairs(blind_index, "LENDGRAPH_BLIND_INDEX_KEY")
        hash_keys = HashKeys(IndexKeys(next(iter(versions)), versions), b"")
    else:
        hash_keys = legacy_hash_keys(_key(blind_index, "LENDGRAPH_BLIND_INDEX_KEY"))
    if masking is not None:
        hash_keys = replace(hash_keys, masking=_key(masking, "LENDGRAPH_MASKING_KEY"))
    elif not hash_keys.masking:
        hash_keys = replace(hash_keys, masking=legacy_hash_keys(hash_keys.blind_index.key).masking)
    return StaticKeys(keys, current, hash_keys)


def read_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise KeyConfigurationError(f"key file {path} is unreadable: {exc}") from None
    if not isinstance(data, dict):
        raise KeyConfigurationError(f"key file {path} is not a JSON object")
    return data


def load_file(path: Path) -> StaticKeys:
    data = read_file(path)
    if data.get("provider", "local") != "local":
        raise KeyConfigurationError(
            f"key file {path} belongs to the {data['provider']!r} provider; "
            "set LENDGRAPH_KEY_PROVIDER to match"
        )
    try:
        keys = {kid: _key(v, f"master key {kid!r}") for kid, v in data["master_keys"].items()}
        hash_keys = hash_keys_from_json(data, lambda name, entry: _key(entry["key"], f"{name} key"))
        return StaticKeys(keys, data["current"], hash_keys)
    except (KeyError, TypeError, AttributeError) as exc:
        raise KeyConfigurationError(f"key file {path} is unreadable: missing {exc}") from None


def new_kid(now: datetime | None = None, *, prefix: str = "mk") -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
    return f"{prefix}-{stamp}-{secrets.token_hex(2)}"


def generate() -> StaticKeys:
    kid = new_kid()
    return StaticKeys({kid: secrets.token_bytes(KEY_BYTES)}, kid, HashKeys.generate())


def write_text(path: Path, text: str) -> None:
    """Write atomically, readable by the owner only."""
    temporary = path.with_name(path.name + ".new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(temporary, path)


def write_file(path: Path, keys: StaticKeys) -> None:
    write_text(path, keys.to_json())
