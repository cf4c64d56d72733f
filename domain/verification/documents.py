"""What an uploaded verification document may be: checked by its bytes, not its name.

Threat model: an upload is hostile. Its file name and the Content-Type the browser
sent are ignored; the type is inferred from the content's signature (``filetype``),
and only scans and photographs of papers are taken (PDF, JPEG, PNG). The size is
held to ``MAX_DOCUMENT_BYTES`` while reading, so an oversized stream is never read
whole. The bytes are then sealed (privacy.vault) before they reach the database.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import BinaryIO

import filetype

from kernel.errors import InvalidInput

MAX_DOCUMENT_BYTES = 5 * 1024 * 1024
MIN_DOCUMENT_BYTES = 64
ACCEPTED_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png"})
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Checked:
    media_type: str
    size_bytes: int
    sha256: str
    content: bytes = b""

    def encoded(self) -> str:
        return base64.b64encode(self.content).decode("ascii")


def read_checked(stream: BinaryIO, *, field: str) -> Checked:
    """The document's bytes, type and digest; InvalidInput naming ``field`` if refused."""
    chunks, size = [], 0
    while chunk := stream.read(_CHUNK):
        size += len(chunk)
        if size > MAX_DOCUMENT_BYTES:
            raise InvalidInput(
                f"a document may have at most {MAX_DOCUMENT_BYTES // (1024 * 1024)} MB", field=field
            )
        chunks.append(chunk)
    content = b"".join(chunks)
    if size < MIN_DOCUMENT_BYTES:
        raise InvalidInput("the document is empty or too small to be a scan", field=field)
    kind = filetype.guess(content)
    if kind is None or kind.mime not in ACCEPTED_TYPES:
        raise InvalidInput("a document must be a PDF, JPEG or PNG file", field=field)
    return Checked(
        media_type=kind.mime,
        size_bytes=size,
        sha256=hashlib.sha256(content).hexdigest(),
        content=content,
    )
