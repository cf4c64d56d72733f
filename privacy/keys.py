"""Master keys: where they come from, behind one small interface.

Threat model: the database (and its backups) may leak. Personal values in it are
sealed with per-subject data keys, and the data keys are stored only wrapped by a
master key that never touches the database. A master key is named by a key id, so
several can be live during a rotation: the newest wraps, every listed one unwraps.
A cloud KMS fits behind :class:`KeyProvider` (wrap and unwrap by key id) later.

Sources, in order: ``LENDGRAPH_MASTER_KEYS`` (``kid:base64key,kid:base64key``, the
first is current), else a key file (``LENDGRAPH_KEY_FILE``, JSON). Development
creates the key file with fresh keys and says so; production refuses to start
without keys.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

log = logging.getLogger("lendgraph")

KEY_BYTES = 32
_KID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")


class KeyConfigurationError(Exception):
    """A key is missing or malformed; the message names it."""


class KeyProvider(Protocol):
    @property
    def current_kid(self) -> str: ...

    def master_key(self, kid: str) -> bytes: ...

    @property
    def blind_index_key(self) -> bytes: ...


@dataclass(frozen=True)
class StaticKeys:
    """Keys held in memory, read once from the environment or a key file."""

    keys: dict[str, bytes]
    current: str
    blind_index: bytes

    @property
    def current_kid(self) -> str:
        return self.current

    def master_key(self, kid: str) -> bytes:
        try:
            return self.keys[kid]
        except KeyError:
            raise KeyConfigurationError(f"master key {kid!r} is not configured") from None

    @property
    def blind_index_key(self) -> bytes:
        return self.blind_index

    def env_values(self) -> dict[str, str]:
        """These keys as the settings LENDGRAPH_MASTER_KEYS and _BLIND_INDEX_KEY read them."""
        ordered = [self.current, *(k for k in self.keys if k != self.current)]
        return {
            "master_keys": ",".join(f"{k}:{_b64(self.keys[k])}" for k in ordered),
            "blind_index_key": _b64(self.blind_index),
        }

    def to_json(self) -> str:
        return json.dumps(
            {
                "current": self.current,
                "master_keys": {k: _b64(v) for k, v in self.keys.items()},
                "blind_index_key": _b64(self.blind_index),
            },
            indent=2,
        )


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


def parse_env(master: str, blind_index: str) -> StaticKeys:
    keys: dict[str, bytes] = {}
    for part in master.split(","):
        kid, sep, value = part.strip().partition(":")
        if not sep or not _KID.match(kid):
            raise KeyConfigurationError(
                "LENDGRAPH_MASTER_KEYS must read kid:base64key[,kid:base64key]"
            )
        keys[kid] = _key(value, f"master key {kid!r}")
    current = master.split(",")[0].split(":")[0].strip()
    return StaticKeys(keys, current, _key(blind_index, "LENDGRAPH_BLIND_INDEX_KEY"))


def load_file(path: Path) -> StaticKeys:
    try:
        data = json.loads(path.read_text())
        keys = {kid: _key(v, f"master key {kid!r}") for kid, v in data["master_keys"].items()}
        current = data["current"]
        blind = _key(data["blind_index_key"], "blind_index_key")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise KeyConfigurationError(f"key file {path} is unreadable: {exc}") from None
    if current not in keys:
        raise KeyConfigurationError(f"key file {path}: current key {current!r} is not in it")
    return StaticKeys(keys, current, blind)


def new_kid(now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
    return f"mk-{stamp}-{secrets.token_hex(2)}"


def generate() -> StaticKeys:
    kid = new_kid()
    return StaticKeys({kid: secrets.token_bytes(KEY_BYTES)}, kid, secrets.token_bytes(KEY_BYTES))


def write_file(path: Path, keys: StaticKeys) -> None:
    """Write atomically, readable by the owner only."""
    temporary = path.with_name(path.name + ".new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(keys.to_json())
    os.replace(temporary, path)


def with_new_current(keys: StaticKeys) -> StaticKeys:
    kid = new_kid()
    return StaticKeys({**keys.keys, kid: secrets.token_bytes(KEY_BYTES)}, kid, keys.blind_index)


def retire_all_but_current(keys: StaticKeys) -> StaticKeys:
    return StaticKeys({keys.current: keys.keys[keys.current]}, keys.current, keys.blind_index)
