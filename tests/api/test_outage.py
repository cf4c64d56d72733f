"""The database stopped under a running app: 503 with a code while it is down, and the
same app answers again once it is back (api.guards, api.errors).

Runs its own throwaway PostgreSQL server (initdb and pg_ctl), whichever database the
suite is on; skipped when those programs are not installed.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from kernel.db import create_engine
from migrations.runner import upgrade
from tests.api.conftest import make_settings

CATALOG = "query Catalog { products { totalCount } }"


@dataclass
class Server:
    data: Path
    port: int
    command_prefix: list[str]

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def ctl(self, *args: str) -> None:
        subprocess.run(  # noqa: S603 - fixed programs, arguments of our own
            [*self.command_prefix, "pg_ctl", "-D", str(self.data), "-w", "-t", "60", *args],
            check=True,
            capture_output=True,
        )

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data}"
        self.ctl("-o", options, "-l", str(self.data / "server.log"), "start")

    def stop(self) -> None:
        self.ctl("-m", "fast", "stop")


@pytest.fixture
def server() -> Iterator[Server]:
    if not (shutil.which("initdb") and shutil.which("pg_ctl")):
        pytest.skip("needs PostgreSQL's initdb and pg_ctl to run a throwaway server")
    prefix: list[str] = []
    owner = None
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: as its own user, then
        if not shutil.which("runuser"):
            pytest.skip("running as root without runuser to start PostgreSQL as another user")
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and no postgres user to start PostgreSQL as")
        prefix = ["runuser", "-u", "postgres", "--"]
    root = Path(tempfile.mkdtemp(prefix="lendgraph-outage-"))
    data = root / "data"
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    subprocess.run(  # noqa: S603 - fixed programs, arguments of our own
        [*prefix, "initdb", "-D", str(data), "-U", "postgres", "-A", "trust"],
        check=True,
        capture_output=True,
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    found = Server(data, port, prefix)
    found.start()
    try:
        yield found
    finally:
        with_status = subprocess.run(  # noqa: S603
            [*prefix, "pg_ctl", "-D", str(data), "status"], capture_output=True, check=False
        )
        if with_status.returncode == 0:
            found.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def client(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    engine = create_engine(server.url, pool_size=2)
    await upgrade(engine)
    app = create_app(make_settings(server.url, env="production"), engine=engine)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http
    finally:
        await engine.dispose()


async def ask(client: httpx.AsyncClient) -> httpx.Response:
    return await client.post(
        "/graphql", json={"query": CATALOG}, headers={"accept": "application/graphql-response+json"}
    )


async def test_an_outage_is_503_while_it_lasts_and_the_app_recovers(
    server: Server, client: httpx.AsyncClient
) -> None:
    # given: the app answers, with connections in its pool
    before = await ask(client)
    assert before.status_code == 200, before.text

    # when: the server stops under it
    await asyncio.to_thread(server.stop)
    during = [await ask(client) for _ in range(5)]

    # then: every request a GraphQL error with a code, 503 with Retry-After
    for response in during:
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"].isdigit()
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "SERVICE_UNAVAILABLE"

    # when: it is back; then: the same app answers again, within a few requests
    await asyncio.to_thread(server.start)
    after = [await ask(client) for _ in range(3)]
    assert after[-1].status_code == 200, [r.text for r in after]
    assert after[-1].json()["data"]["products"]["totalCount"] == 0
    assert all(r.status_code in (200, 503) for r in after)
