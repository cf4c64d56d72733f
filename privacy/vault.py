"""Envelope encryption of personal values, and blind indexes to find them.

Threat model and choices:
- Each subject (an enterprise, a person) has its own 256-bit data key. Values are
  sealed with AES-256-GCM under it; erasing the subject destroys the key, which
  makes every copy of its values unreadable (crypto-shredding).
- Data keys are stored wrapped (AES-256-GCM) by a master key named by its key id,
  which the key provider (privacy.keys) applies and never hands out; the wrap is
  bound to the subject id, so a wrapped key moved to another subject does not unwrap.
- A sealed value is bound to its table, column and row by the associated data, so a
  ciphertext copied into another row or column does not open.
- Sealed values carry a version prefix (``v1.``) so the format can change.
- Blind indexes are HMAC-SHA256 under a separate key over a normalised value, per
  column, for exact lookups without decrypting; they reveal equality, nothing else.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import os
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from privacy.keys import KeyProvider, UnwrapFailed

VERSION = "v1"
NONCE_BYTES = 12


class SealBroken(Exception):
    """The value does not open: wrong key, wrong row, tampered, or shredded."""


# Associated data per (table, column, row): a page reads the same few columns of rows it
# read before, and formatting the row id is a third of opening a value.
@functools.lru_cache(maxsize=8192)
def _aad(table: str, column: str, row_id: uuid.UUID) -> bytes:
    return f"{VERSION}|{table}|{column}|{row_id}".encode()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def _unb64(text: str) -> bytes:
    # base64.urlsafe_b64decode in one step (it converts, translates and pads in three).
    data = text.encode("ascii").translate(_FROM_URLSAFE)
    return binascii.a2b_base64(data + b"=" * (-len(data) % 4))


def new_data_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def seal(key: bytes, value: str, *, table: str, column: str, row_id: uuid.UUID) -> str:
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, value.encode(), _aad(table, column, row_id))
    return f"{VERSION}.{_b64(nonce + sealed)}"


def seal_bytes(key: bytes, data: bytes, *, table: str, column: str, row_id: uuid.UUID) -> bytes:
    """A file's content sealed like a value (nonce, then ciphertext and tag), kept as bytes:
    a file of megabytes is not made a third larger by base64."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, data, _aad(table, column, row_id))


def unseal_bytes(key: bytes, sealed: bytes, *, table: str, column: str, row_id: uuid.UUID) -> bytes:
    try:
        return AESGCM(key).decrypt(
            sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], _aad(table, column, row_id)
        )
    except (InvalidTag, ValueError) as exc:
        raise SealBroken("the content does not open") from exc


# Each data key's cipher, made once: opening a page's values made one per value (a
# third of an unseal's cost). Holds what the unwrapped data keys already are.
_cipher = functools.lru_cache(maxsize=4096)(AESGCM)


def unseal(key: bytes, token: str, *, table: str, column: str, row_id: uuid.UUID) -> str:
    version, _, body = token.partition(".")
    if version != VERSION or not body:
        raise SealBroken("not a sealed value")
    try:
        raw = _unb64(body)
        plain = _cipher(key).decrypt(
            raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(table, column, row_id)
        )
    except (InvalidTag, ValueError) as exc:
        raise SealBroken("the value does not open") from exc
    return plain.decode()


def wrap(keys: KeyProvider, data_key: bytes, *, subject_id: uuid.UUID) -> tuple[str, str]:
    """(key id, wrapped key) under the current master key, by the key provider."""
    kid, wrapped = keys.wrap(data_key, context=b"dek|" + subject_id.bytes)
    return kid, _b64(wrapped)


def unwrap(keys: KeyProvider, kid: str, wrapped: str, *, subject_id: uuid.UUID) -> bytes:
    try:
        return keys.unwrap(kid, _unb64(wrapped), context=b"dek|" + subject_id.bytes)
    except UnwrapFailed as exc:
        raise SealBroken("the data key does not unwrap") from exc


def normalise(value: str) -> str:
    return "".join(value.split()).upper()


def _index(key: bytes, value: str, column: str) -> str:
    message = f"{column}|{normalise(value)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def blind_index(keys: KeyProvider, value: str, *, column: str) -> str:
    """The index a row is written with, under the current blind-index key. Equal values
    give equal indexes per column; nothing else can be read from it."""
    return _index(keys.hashing.blind_index.key, value, column)


def blind_indexes(keys: KeyProvider, value: str, *, column: str) -> tuple[str, ...]:
    """What a lookup must match: the value's index under every live blind-index key (one
    outside a re-index)."""
    return tuple(_index(key, value, column) for key in keys.hashing.blind_index.live())
