"""GraphiQL served by the service itself, so the development IDE works without internet.

Strawberry's own IDE page loads React and GraphiQL from a CDN; on a machine without
internet it stays a blank "Loading…". Here the same pinned files ship with the package
(``static/vendor``, fetched and checked by ``tools/vendor_graphiql.py``), are served
under ``/graphql/ide/`` and the page that uses them is LendGraph's own, with a
Content-Security-Policy that lets it reach no host but this one.

Asset URLs carry the first characters of the file's sha256 (``?v=…``): a URL names one
content for ever, so it is cached for a year without revalidation; a request for any
other version still gets the current file, but not cacheable.
"""

from __future__ import annotations

import gzip
import hashlib
import html
from dataclasses import dataclass, field
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

STATIC = Path(__file__).parent / "static"
PREFIX = "/graphql/ide"

# Only files the page uses are served (the licences and VERSIONS stay package data).
MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}

# In load order: React before the GraphiQL bundle that expects it as a global, the
# explorer plugin after GraphiQL (it reads window.GraphiQL.React), the page's own last.
SCRIPTS = (
    "vendor/react-18.2.0/react.production.min.js",
    "vendor/react-dom-18.2.0/react-dom.production.min.js",
    "vendor/graphiql-3.8.3/graphiql.min.js",
    "vendor/graphiql-plugin-explorer-1.0.2/index.umd.js",
    "lendgraph/graphiql.js",
)
STYLES = (
    "vendor/graphiql-3.8.3/graphiql.min.css",
    "vendor/graphiql-plugin-explorer-1.0.2/style.css",
    "lendgraph/graphiql.css",
)
ICON = "lendgraph/favicon.svg"

# Every source is this origin: nothing the page loads, runs or calls comes from another
# host. data: is allowed for fonts and images because graphiql.min.css embeds its fonts
# and a few icons as data: URIs (content, not requests). Inline style is allowed because
# GraphiQL's dialogs insert a <style> element (react-remove-scroll-bar) that takes no
# nonce we could set; CSS cannot run script, and what it loads is held to font-src and
# img-src. Inline script and eval stay forbidden.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)

YEAR = 365 * 24 * 3600
VERSION_LENGTH = 16  # hex digits of the sha256 in an asset's URL


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    version: str  # the start of the sha256 of body
    _gzipped: list[bytes] = field(default_factory=list, compare=False)

    @property
    def etag(self) -> str:
        return f'"{self.version}"'

    def gzipped(self) -> bytes:
        """The body compressed once, on first demand (graphiql.min.js: 3.5 MB to 0.9 MB)."""
        if not self._gzipped:
            self._gzipped.append(gzip.compress(self.body, compresslevel=6, mtime=0))
        return self._gzipped[0]


def _load(root: Path) -> dict[str, Asset]:
    assets = {}
    for path in sorted(root.rglob("*")):
        media_type = MEDIA_TYPES.get(path.suffix)
        if media_type is None or not path.is_file():
            continue
        body = path.read_bytes()
        version = hashlib.sha256(body).hexdigest()[:VERSION_LENGTH]
        assets[path.relative_to(root).as_posix()] = Asset(body, media_type, version)
    return assets


def _accepts_gzip(request: Request) -> bool:
    for coding in request.headers.get("accept-encoding", "").split(","):
        name, _, params = coding.strip().partition(";")
        if name.strip().lower() == "gzip" and params.replace(" ", "") != "q=0":
            return True
    return False


class GraphiQLAssets:
    """The IDE's page and the files it loads, read from the package once."""

    def __init__(self, root: Path = STATIC) -> None:
        self.assets = _load(root)
        missing = [name for name in (*SCRIPTS, *STYLES, ICON) if name not in self.assets]
        if missing:  # a broken install: say so at start, not as a blank page
            raise FileNotFoundError(f"GraphiQL files missing from {root}: {missing}")

    def url(self, request: Request, name: str) -> str:
        root_path = request.scope.get("root_path", "")
        return f"{root_path}{PREFIX}/{name}?v={self.assets[name].version}"

    def page(self, request: Request) -> HTMLResponse:
        def attribute(name: str) -> str:
            return html.escape(self.url(request, name), quote=True)

        styles = "\n".join(
            f'    <link rel="stylesheet" href="{attribute(name)}">' for name in STYLES
        )
        scripts = "\n".join(f'    <script src="{attribute(name)}"></script>' for name in SCRIPTS)
        document = f"""<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>LendGraph GraphiQL</title>
    <link rel="icon" type="image/svg+xml" href="{attribute(ICON)}">
{styles}
  </head>
  <body>
    <div id="graphiql" class="graphiql-container">Loading…</div>
{scripts}
  </body>
</html>
"""
        return HTMLResponse(
            document,
            headers={
                "content-security-policy": CONTENT_SECURITY_POLICY,
                "cache-control": "no-cache",  # it names the current assets' versions
                "x-content-type-options": "nosniff",
                "referrer-policy": "no-referrer",
            },
        )

    async def serve(self, request: Request) -> Response:
        """GET /graphql/ide/{path}: one of the files the page loads."""
        asset = self.assets.get(request.path_params["path"])
        if asset is None:
            return PlainTextResponse("Not Found", status_code=404)
        cacheable = request.query_params.get("v") == asset.version
        headers = {
            "etag": asset.etag,
            "cache-control": f"public, max-age={YEAR}, immutable" if cacheable else "no-cache",
            "x-content-type-options": "nosniff",
            "vary": "accept-encoding",
        }
        if asset.etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        body = asset.body
        if _accepts_gzip(request):
            body = asset.gzipped()
            headers["content-encoding"] = "gzip"
        return Response(body, media_type=asset.media_type, headers=headers)
