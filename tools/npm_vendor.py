"""Files from npm packages, fetched with the ordinary npm client and pinned by integrity.

Shared by the scripts that vendor third-party files into the package
(tools/vendor_graphiql.py, tools/vendor_report_font.py).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def npm_pack(spec: str, integrity: str, into: Path) -> tarfile.TarFile:
    """``npm pack spec`` into a folder; the tarball, once its sha512 is the pinned one.

    ``npm pack`` (not a download by address) so that ~/.npmrc's registry and proxy
    settings apply; the registry's own integrity string is what is pinned.
    """
    # The arguments are the calling script's constants, not input: S603 does not apply.
    output = subprocess.run(  # noqa: S603
        ["npm", "pack", spec, "--json", "--pack-destination", str(into)],  # noqa: S607
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    filename = json.loads(output)[0]["filename"]
    tarball = (into / filename).read_bytes()
    actual = "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    if actual != integrity:
        raise SystemExit(f"{spec}: tarball is {actual}, pinned {integrity}")
    return tarfile.open(into / filename, "r:gz")


def member(archive: tarfile.TarFile, path: str) -> bytes:
    """One file of a package tarball, by its path under package/ (never extracted as is)."""
    extracted = archive.extractfile(f"package/{path}")
    if extracted is None:
        raise SystemExit(f"{archive.name!r}: package/{path} is not a file")
    return extracted.read()


def command(description: str, check: Callable[[], list[str]], vendor: Callable[[], str]) -> None:
    """A vendoring tool's command line: ``--check`` verifies the committed files against
    their manifest and fetches nothing; without it, ``vendor`` fetches and says what."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="verify, fetch nothing")
    if parser.parse_args().check:
        problems = check()
        for problem in problems:
            print(problem, file=sys.stderr)
        raise SystemExit(1 if problems else 0)
    print(vendor())
