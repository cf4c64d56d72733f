"""GraphiQL from the package: the IDE page loads only this service's files, each served
with its type and a long cache life, checked against the pinned versions; none of it in
production. (The page at work in a real browser: tests/api/test_graphiql_browser.py.)"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from api.ide import CONTENT_SECURITY_POLICY, PREFIX, STATIC

VENDOR = STATIC / "vendor"


class _References(HTMLParser):
    """Every URL the page would load: script src, link href, anything with src/href."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []
        self.inline_scripts = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("src", "href"):
            if values.get(name):
                self.urls.append((tag, values[name] or ""))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1


async def _page(http: httpx.AsyncClient) -> tuple[httpx.Response, _References]:
    response = await http.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    references = _References()
    references.feed(response.text)
    return response, references


async def test_the_ide_page_loads_only_files_of_this_service(http: httpx.AsyncClient) -> None:
    # when
    response, references = await _page(http)

    # then: every reference is a path on this origin, under the IDE's prefix
    assert references.urls, "the page references no files"
    for tag, url in references.urls:
        parts = urlsplit(url)
        assert not parts.scheme, (tag, url)
        assert not parts.netloc, (tag, url)
        assert parts.path.startswith(f"{PREFIX}/"), (tag, url)
    assert "unpkg" not in response.text
    assert "cdn" not in response.text.lower()
    # and no inline script: the policy below could not allow one
    assert references.inline_scripts == 0
    tags = [tag for tag, _ in references.urls]
    assert tags.count("script") == 5
    assert tags.count("link") == 4  # three style sheets and the icon


async def test_the_ide_page_may_reach_no_other_host(http: httpx.AsyncClient) -> None:
    # when
    response, _ = await _page(http)

    # then
    policy = response.headers["content-security-policy"]
    assert policy == CONTENT_SECURITY_POLICY
    directives = {part.split()[0]: part.split()[1:] for part in policy.split("; ") if part.strip()}
    for name in ("default-src", "script-src", "connect-src", "style-src", "img-src"):
        sources = directives[name]
        assert sources[0] == "'self'", name
        # no host, no scheme that fetches (data: is inline content, not a request)
        assert all(s in {"'self'", "'unsafe-inline'", "data:"} for s in sources), name
    assert directives["script-src"] == ["'self'"]  # no inline script, no eval
    assert directives["connect-src"] == ["'self'"]


async def test_every_file_the_page_loads_is_served_with_its_type(
    http: httpx.AsyncClient,
) -> None:
    # given
    _, references = await _page(http)
    expected = {"script": "text/javascript", "link": ("text/css", "image/svg+xml")}

    for tag, url in references.urls:
        # when
        response = await http.get(url)

        # then
        assert response.status_code == 200, url
        media_type = response.headers["content-type"].split(";")[0]
        assert media_type.startswith(expected[tag]), (url, media_type)
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.headers["x-content-type-options"] == "nosniff"
        version = parse_qs(urlsplit(url).query)["v"][0]
        assert hashlib.sha256(response.content).hexdigest().startswith(version)


async def test_a_file_is_gzipped_when_the_browser_takes_it(http: httpx.AsyncClient) -> None:
    # given
    path = f"{PREFIX}/vendor/graphiql-3.8.3/graphiql.min.js"
    original = (VENDOR / "graphiql-3.8.3" / "graphiql.min.js").read_bytes()

    # when
    request = http.build_request("GET", path, headers={"accept-encoding": "gzip"})
    response = await http.send(request, stream=True)
    raw = b"".join([chunk async for chunk in response.aiter_raw()])
    await response.aclose()

    # then
    assert response.headers["content-encoding"] == "gzip"
    assert len(raw) < len(original) / 3
    assert gzip.decompress(raw) == original


async def test_a_file_is_not_cached_for_ever_under_another_version(
    http: httpx.AsyncClient,
) -> None:
    # when
    stale = await http.get(f"{PREFIX}/lendgraph/graphiql.js?v=0000000000000000")
    unversioned = await http.get(f"{PREFIX}/lendgraph/graphiql.js")

    # then: the current file, which the next page load names by its own version
    for response in (stale, unversioned):
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-cache"


async def test_a_known_file_revalidates_by_its_etag(http: httpx.AsyncClient) -> None:
    # given
    first = await http.get(f"{PREFIX}/lendgraph/graphiql.css")

    # when
    again = await http.get(
        f"{PREFIX}/lendgraph/graphiql.css", headers={"if-none-match": first.headers["etag"]}
    )

    # then
    assert again.status_code == 304
    assert again.content == b""


@pytest.mark.parametrize(
    "path",
    [
        "vendor/VERSIONS.json",  # package data, not a file the page loads
        "vendor/graphiql-3.8.3/LICENSE",
        "vendor/../../__init__.py",
        "nothing.js",
    ],
)
async def test_nothing_else_is_served(http: httpx.AsyncClient, path: str) -> None:
    # when
    response = await http.get(f"{PREFIX}/{path}")

    # then
    assert response.status_code == 404


async def test_the_vendored_files_are_the_pinned_ones() -> None:
    # given: what tools/vendor_graphiql.py fetched and recorded
    manifest = json.loads((VENDOR / "VERSIONS.json").read_text())

    # then: every file is there, unchanged, with its licence beside it
    assert {entry["name"] for entry in manifest.values()} == {
        "react",
        "react-dom",
        "graphiql",
        "@graphiql/plugin-explorer",
    }
    for folder, entry in manifest.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", entry["version"]), folder
        assert entry["tarball"].startswith("sha512-")
        assert "LICENSE" in entry["files"]
        assert "MIT License" in (VENDOR / folder / "LICENSE").read_text()
        for name, digest in entry["files"].items():
            assert hashlib.sha256((VENDOR / folder / name).read_bytes()).hexdigest() == digest
    readme = (VENDOR / "README.md").read_text()
    for entry in manifest.values():
        for digest in entry["files"].values():
            assert digest in readme


async def test_the_ide_and_its_files_are_not_served_in_production(
    production: httpx.AsyncClient,
) -> None:
    # when
    page = await production.get("/graphql", headers={"accept": "text/html"})
    asset = await production.get(f"{PREFIX}/vendor/graphiql-3.8.3/graphiql.min.js")

    # then
    assert page.status_code == 404
    assert asset.status_code == 404
