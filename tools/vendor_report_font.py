"""Fetch the portfolio report's CJK font from the npm registry into domain/analytics/fonts.

``lendgraph report portfolio`` draws borrower names, Chinese in the seed's default
locale, and writes every character of its charts as a path, so that whoever opens the
report needs no font. Drawing them needs one with the glyphs, on any machine: Noto Sans
SC Regular (SIL Open Font License 1.1), shipped whole and unmodified (10.6 MB). It
has every character of GB2312 (7,445) and every Han character of GBK (20,923), all but
16 of the CJK Unified Ideographs and all but 10 of Extension A: every name the seed
makes, and any a user types in that locale short of a rare Extension B character, which
then draws as a box and is reported as a missing glyph. A subset cut to the
seed's own characters would draw a newly registered enterprise's name as boxes.

    python tools/vendor_report_font.py            # re-fetch and verify, rewrite VERSIONS.json
    python tools/vendor_report_font.py --check    # verify the committed file, no network

The file is Google Fonts' build of Noto Sans SC 2.004 as the npm package
@expo-google-fonts/noto-sans-sc publishes it; the tarball must match the integrity
pinned here, and the font the sha256 below, before anything is written.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from npm_vendor import command, member, npm_pack, sha256_hex

ROOT = Path(__file__).resolve().parents[1]
FONTS = ROOT / "domain" / "analytics" / "fonts"

PACKAGE = "@expo-google-fonts/noto-sans-sc"
VERSION = "0.4.3"
INTEGRITY = (  # the registry's sha512 of the tarball (npm view <package>@<version> dist)
    "sha512-9rAwdFTFHbO/u6Cs0gj2jZbW74TGIiaFNQnXYH2s5wA1bzVkwb"
    "aviL4t8YUV642eGYjg86eH6DkAEQmfNHDncQ=="
)
FONT_IN_PACKAGE = "400Regular/NotoSansSC_400Regular.ttf"
LICENCE_IN_PACKAGE = "LICENSE_FONT"  # the font's OFL; the package's LICENSE is for its JS
FONT = "NotoSansSC-Regular.ttf"
FONT_SHA256 = "d45f67f0a7c0ca3f256950777ce6a61cc7ce5f9696d02900cbbaac25f8aa7d16"


def fetch() -> None:
    with (
        tempfile.TemporaryDirectory() as scratch,
        npm_pack(f"{PACKAGE}@{VERSION}", INTEGRITY, Path(scratch)) as archive,
    ):
        font = member(archive, FONT_IN_PACKAGE)
        licence = member(archive, LICENCE_IN_PACKAGE)
    if sha256_hex(font) != FONT_SHA256:
        raise SystemExit(f"{FONT_IN_PACKAGE}: sha256 {sha256_hex(font)}, pinned {FONT_SHA256}")
    FONTS.mkdir(parents=True, exist_ok=True)
    (FONTS / FONT).write_bytes(font)
    (FONTS / "OFL.txt").write_bytes(licence)
    manifest = {
        FONT: {
            "family": "Noto Sans SC",
            "style": "Regular",
            "font_version": "2.004",
            "licence": "OFL-1.1",
            "from": f"{PACKAGE}@{VERSION}/{FONT_IN_PACKAGE}",
            "tarball": INTEGRITY,
            "sha256": FONT_SHA256,
        },
        "OFL.txt": {
            "from": f"{PACKAGE}@{VERSION}/{LICENCE_IN_PACKAGE}",
            "sha256": sha256_hex(licence),
        },
    }
    (FONTS / "VERSIONS.json").write_text(json.dumps(manifest, indent=2) + "\n")


def check() -> list[str]:
    manifest = json.loads((FONTS / "VERSIONS.json").read_text())
    problems = []
    for name, entry in manifest.items():
        path = FONTS / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif sha256_hex(path.read_bytes()) != entry["sha256"]:
            problems.append(f"{name}: sha256 differs from VERSIONS.json")
    return problems


def vendor() -> str:
    fetch()
    return f"vendored {FONT} into {FONTS.relative_to(ROOT)}"


def main() -> None:
    command(__doc__.split("\n\n")[0], check, vendor)


if __name__ == "__main__":
    main()
