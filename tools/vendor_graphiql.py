"""Fetch GraphiQL and what its page needs from the npm registry into api/ide/static/vendor.

The development IDE at ``GET /graphql`` must work on a machine without internet, so its
JavaScript and CSS ship inside the package instead of coming from a CDN. This script
is how those files got there, and how to get them again:

    python tools/vendor_graphiql.py            # re-fetch, verify, rewrite VERSIONS.json
    python tools/vendor_graphiql.py --check    # verify the committed files, no network

Each package is fetched with ``npm pack name@version`` (the ordinary npm client, so
registry settings and proxies in ~/.npmrc apply) and its tarball must match the
``integrity`` pinned below, the registry's own sha512, before anything is extracted.
The versions are the ones the installed Strawberry's own GraphiQL page pins
(strawberry/static/graphiql.html), whose SRI hashes the same files satisfy; js-cookie,
which that page uses only for Django's CSRF cookie, is left out (LendGraph takes a
bearer token, never a cookie).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from npm_vendor import command, member, npm_pack, sha256_hex

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "api" / "ide" / "static" / "vendor"


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    integrity: str  # the registry's sha512 of the tarball (``npm view name@version dist``)
    licence: str  # SPDX, as the package.json says
    files: dict[str, str]  # path in the tarball's package/ -> path under its vendor folder
    licence_file: str | None = "LICENSE"  # in the tarball; None: it ships none
    licence_from: str | None = None  # otherwise: the package whose LICENSE text applies
    note: str = ""
    extra_licences: dict[str, str] = field(default_factory=dict)  # file -> package@version

    @property
    def folder(self) -> str:
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}"


PACKAGES = [
    Package(
        name="react",
        version="18.2.0",
        integrity="sha512-/3IjMdb2L9QbBdWiW5e3P2/npwMBaU9mHCSCUzNln0ZCYbcfTsGbTJrU/kGemdH2IWmB2ioZ+zkxtmq6g09fGQ==",
        licence="MIT",
        files={"umd/react.production.min.js": "react.production.min.js"},
    ),
    Package(
        name="react-dom",
        version="18.2.0",
        integrity="sha512-6IMTriUmvsjHUjNtEDudZfuDQUoWXVxKHhlEGSk81n4YFS+r/Kl99wXiwlVXtPBtJenozv2P+hxDsw9eA7Xo6g==",
        licence="MIT",
        files={"umd/react-dom.production.min.js": "react-dom.production.min.js"},
    ),
    Package(
        name="graphiql",
        version="3.8.3",
        integrity="sha512-cuPDYtXVKV86Pu5PHBX642Odi/uVEE2y1Jxq5rGO/Qy1G2lRp7ZZ7a/T30RzxhuLSWo9zUbzq0P3U49//H0Ugw==",
        licence="MIT",
        files={"graphiql.min.js": "graphiql.min.js", "graphiql.min.css": "graphiql.min.css"},
        note=(
            "The UMD bundle carries @graphiql/react and its npm dependencies "
            "(graphql, codemirror, markdown-it, graphql-ws, …; see the `sources` of "
            "graphiql.min.js.map in the tarball). Its CSS embeds its fonts as data: URIs."
        ),
    ),
    Package(
        name="@graphiql/plugin-explorer",
        version="1.0.2",
        integrity="sha512-9j+kg2UjtLZD5EBmGjeWHkoVVxtbShYg2DzbUVebibnZYZM/iMBEF4vaccXJIAm5KaomIPLx0aoNs4LbODyc3Q==",
        licence="MIT",
        files={"dist/index.umd.js": "index.umd.js", "dist/style.css": "style.css"},
        # The tarball has no licence file; it is published from the graphql/graphiql
        # repository (package.json "repository"), whose MIT LICENSE graphiql ships.
        licence_file=None,
        licence_from="graphiql",
        note=(
            "The tarball ships no licence file: its package.json says MIT and "
            "github.com/graphql/graphiql, whose LICENSE (the one in graphiql's tarball) "
            "is copied here. The UMD bundle carries graphiql-explorer 0.9.0 (MIT, "
            "github.com/onegraph/graphiql-explorer), whose LICENSE is copied as "
            "LICENSE.graphiql-explorer."
        ),
        extra_licences={"LICENSE.graphiql-explorer": "graphiql-explorer@0.9.0"},
    ),
]

# Tarballs fetched only for a licence text, pinned like the rest.
LICENCE_ONLY = {
    "graphiql-explorer@0.9.0": (
        "sha512-fZC/wsuatqiQDO2otchxriFO0LaWIo/ovF/CQJ1yOudmY0P7pzDiP+l9CEHUiWbizk3e99x6DQG4XG1VxA+d6A=="
    ),
}


def fetch() -> dict[str, object]:
    manifest: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        licences: dict[str, bytes] = {}
        for spec, integrity in LICENCE_ONLY.items():
            with npm_pack(spec, integrity, tmp) as archive:
                licences[spec] = member(archive, "LICENSE")
        staged = tmp / "vendor"
        for package in PACKAGES:
            folder = staged / package.folder
            folder.mkdir(parents=True)
            files: dict[str, str] = {}
            spec = f"{package.name}@{package.version}"
            with npm_pack(spec, package.integrity, tmp) as archive:
                for source, target in package.files.items():
                    data = member(archive, source)
                    (folder / target).write_bytes(data)
                    files[target] = sha256_hex(data)
                if package.licence_file is not None:
                    licences[spec] = member(archive, package.licence_file)
            if package.licence_from is not None:
                source_package = next(p for p in PACKAGES if p.name == package.licence_from)
                licence = licences[f"{source_package.name}@{source_package.version}"]
            else:
                licence = licences[spec]
            (folder / "LICENSE").write_bytes(licence)
            files["LICENSE"] = sha256_hex(licence)
            for target, origin in package.extra_licences.items():
                (folder / target).write_bytes(licences[origin])
                files[target] = sha256_hex(licences[origin])
            manifest[package.folder] = {
                "name": package.name,
                "version": package.version,
                "licence": package.licence,
                "tarball": package.integrity,
                "note": package.note,
                "files": dict(sorted(files.items())),
            }
        # Replace the folder only once every package verified and extracted.
        if VENDOR.exists():
            shutil.rmtree(VENDOR)
        shutil.copytree(staged, VENDOR)
    return manifest


def write_docs(manifest: dict[str, object]) -> None:
    (VENDOR / "VERSIONS.json").write_text(json.dumps(manifest, indent=2) + "\n")
    lines = [
        "# Vendored GraphiQL",
        "",
        "The development IDE's files, served by the service itself under `/graphql/ide/`",
        "so GraphiQL works without internet. Generated by `tools/vendor_graphiql.py`",
        "(which also re-checks them: `--check`); do not edit by hand.",
        "",
        "| package | version | licence | file | sha256 |",
        "| --- | --- | --- | --- | --- |",
    ]
    notes = []
    for folder, entry in manifest.items():
        assert isinstance(entry, dict)
        for name, digest in entry["files"].items():
            lines.append(
                f"| {entry['name']} | {entry['version']} | {entry['licence']} "
                f"| `{folder}/{name}` | `{digest}` |"
            )
        if entry["note"]:
            notes.append(f"- **{entry['name']}**: {entry['note']}")
    lines += ["", "Tarballs are checked against the registry's sha512 before use.", ""]
    lines += [*notes, ""]
    (VENDOR / "README.md").write_text("\n".join(lines))


def check() -> list[str]:
    """What differs between the committed files and VERSIONS.json (empty: nothing)."""
    manifest = json.loads((VENDOR / "VERSIONS.json").read_text())
    problems = []
    for folder, entry in manifest.items():
        for name, digest in entry["files"].items():
            path = VENDOR / folder / name
            if not path.is_file():
                problems.append(f"{folder}/{name}: missing")
            elif sha256_hex(path.read_bytes()) != digest:
                problems.append(f"{folder}/{name}: sha256 differs from VERSIONS.json")
    return problems


def vendor() -> str:
    write_docs(fetch())
    return f"vendored {len(PACKAGES)} packages into {VENDOR.relative_to(ROOT)}"


def main() -> None:
    command(__doc__.split("\n\n")[0], check, vendor)


if __name__ == "__main__":
    main()
