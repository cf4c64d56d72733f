"""Master keys in a PKCS#11 token (a hardware security module, SoftHSM2 in tests).

Threat model: the database, its backups and this process's key file may all leak;
the master keys must not. They are generated inside the token as sensitive,
non-extractable AES-256 keys labelled by their key id, and every wrap and unwrap of a
data key is an AES-GCM operation the token performs: this process holds handles,
never key bytes. Data keys it unwrapped are cached by privacy.keystore, so a read
does not reach the token on every request.

The keyed-hash keys (blind index, masking) are needed for every write and lookup, so
they are secondary keys: the key file holds them wrapped under the current master key,
and they are unwrapped once when the provider is loaded. The key file also names the
token's live master keys; it holds nothing a thief without the token can open.

Calls into one PKCS#11 session are serialised by a lock: a session is not meant to be
used by two threads at once, and the token is reached from the event loop's thread and
from the threads SQLAlchemy's sync bridges run in.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pkcs11
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.exceptions import MultipleObjectsReturned, NoSuchKey, PKCS11Error
from pkcs11.mechanisms import GCMParams

from privacy.keys import (
    NONCE_BYTES,
    HashKeys,
    KeyConfigurationError,
    UnwrapFailed,
    fingerprint_in,
    hash_keys_from_json,
    hash_keys_json,
    new_kid,
    read_file,
    write_text,
)

PROVIDER = "pkcs11"


@dataclass(frozen=True)
class _Token:
    token: Any
    session: Any
    lock: threading.Lock


@functools.lru_cache(maxsize=4)
def _open_token(library: str, label: str, pin: str) -> _Token:
    """One logged-in session per token and process: PKCS#11 initialises a library once
    per process and logs a token in once for all of that process's sessions."""
    try:
        token = pkcs11.lib(library).get_token(token_label=label)
        session = token.open(user_pin=pin, rw=True)
    except (PKCS11Error, RuntimeError, OSError) as exc:
        raise KeyConfigurationError(
            f"PKCS#11 token {label!r} ({library}) does not open: {exc!r}"
        ) from None
    return _Token(token, session, threading.Lock())


def _make_key(opened: _Token) -> str:
    """A new master key generated in the token, sensitive and never extractable; its id."""
    kid = new_kid()
    try:
        with opened.lock:
            opened.session.generate_key(
                KeyType.AES,
                256,
                label=kid,
                store=True,
                template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False},
            )
    except PKCS11Error as exc:
        raise KeyConfigurationError(f"no master key made in the token: {exc!r}") from None
    return kid


def _hash_context(name: str) -> bytes:
    return b"hash|" + name.encode()


class Pkcs11Keys:
    """The key provider of a PKCS#11 token: wraps and unwraps inside it."""

    def __init__(self, opened: _Token, *, current: str, kids: Sequence[str]) -> None:
        self._opened = opened
        self._session = opened.session
        self._lock = opened.lock
        self._current = current
        self._kids = (current, *(k for k in kids if k != current))
        self._handles = {kid: self._find(kid) for kid in self._kids}
        token = opened.token
        serial = bytes(token.serial).hex() if token.serial else token.label
        self._fingerprints = {kid: f"pkcs11|{serial}|{kid}".encode() for kid in self._kids}
        self.hash_keys: HashKeys | None = None

    @classmethod
    def open(
        cls, library: Path, token_label: str, pin: str, *, current: str, kids: Sequence[str]
    ) -> Pkcs11Keys:
        return cls(_open_token(str(library), token_label, pin), current=current, kids=kids)

    def _find(self, kid: str) -> Any:
        try:
            with self._lock:
                return self._session.get_key(
                    object_class=ObjectClass.SECRET_KEY, key_type=KeyType.AES, label=kid
                )
        except NoSuchKey:
            raise KeyConfigurationError(f"master key {kid!r} is not in the token") from None
        except MultipleObjectsReturned:
            raise KeyConfigurationError(f"master key {kid!r} is in the token twice") from None

    @property
    def current_kid(self) -> str:
        return self._current

    @property
    def kids(self) -> tuple[str, ...]:
        return self._kids

    @property
    def hashing(self) -> HashKeys:
        if self.hash_keys is None:
            raise KeyConfigurationError("the keyed-hash keys are not loaded")
        return self.hash_keys

    def fingerprint(self, kid: str) -> bytes:
        return fingerprint_in(self._fingerprints, kid)

    def wrap(self, data_key: bytes, *, context: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(NONCE_BYTES)
        with self._lock:
            sealed = self._handles[self._current].encrypt(
                data_key, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, context)
            )
        return self._current, nonce + bytes(sealed)

    def unwrap(self, kid: str, wrapped: bytes, *, context: bytes) -> bytes:
        self.fingerprint(kid)
        nonce, sealed = wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:]
        try:
            with self._lock:
                return bytes(
                    self._handles[kid].decrypt(
                        sealed,
                        mechanism=Mechanism.AES_GCM,
                        mechanism_param=GCMParams(nonce, context),
                    )
                )
        except PKCS11Error as exc:  # a failed tag check is a token error
            raise UnwrapFailed(f"the key does not unwrap under {kid!r}") from exc

    # Key management: new master keys are made in the token, old ones destroyed there.

    def _like(self, *, current: str, kids: Sequence[str]) -> Pkcs11Keys:
        changed = Pkcs11Keys(self._opened, current=current, kids=kids)
        changed.hash_keys = self.hash_keys
        return changed

    def rotated(self) -> Pkcs11Keys:
        return self._like(current=_make_key(self._opened), kids=self._kids)

    def retired(self) -> Pkcs11Keys:
        """Only the current master key; the others are destroyed in the token, so no
        backup's data keys wrapped under them open again."""
        with self._lock:
            for kid in self._kids[1:]:
                self._handles[kid].destroy()
        return self._like(current=self._current, kids=())

    def with_hash_keys(self, hash_keys: HashKeys) -> Pkcs11Keys:
        changed = self._like(current=self._current, kids=self._kids)
        changed.hash_keys = hash_keys
        return changed

    def to_json(self) -> str:
        def stored(name: str, raw: bytes) -> dict[str, str]:
            kid, wrapped = self.wrap(raw, context=_hash_context(name))
            return {"kid": kid, "wrapped": base64.b64encode(wrapped).decode()}

        return json.dumps(
            {
                "provider": PROVIDER,
                "current": self._current,
                "kids": list(self._kids),
                **hash_keys_json(self.hashing, stored),
            },
            indent=2,
        )


def load(path: Path, library: Path, token_label: str, pin: str) -> Pkcs11Keys:
    """The provider named by a key file written by :meth:`Pkcs11Keys.to_json`."""
    data = read_file(path)
    if data.get("provider") != PROVIDER:
        raise KeyConfigurationError(f"key file {path} is not a PKCS#11 key file")
    keys = Pkcs11Keys.open(library, token_label, pin, current=data["current"], kids=data["kids"])

    def opened(name: str, entry: Mapping[str, str]) -> bytes:
        wrapped = base64.b64decode(entry["wrapped"])
        try:
            return keys.unwrap(entry["kid"], wrapped, context=_hash_context(name))
        except UnwrapFailed:
            raise KeyConfigurationError(
                f"key file {path}: the {name} key does not unwrap"
            ) from None

    try:
        keys.hash_keys = hash_keys_from_json(data, opened)
    except (KeyError, TypeError) as exc:
        raise KeyConfigurationError(f"key file {path} is unreadable: missing {exc}") from None
    return keys


def create(path: Path, library: Path, token_label: str, pin: str) -> Pkcs11Keys:
    """A first master key made in the token, fresh hash keys, and the key file naming them."""
    opened = _open_token(str(library), token_label, pin)
    keys = Pkcs11Keys(opened, current=_make_key(opened), kids=())
    keys.hash_keys = HashKeys.generate()
    write_text(path, keys.to_json())
    return keys
