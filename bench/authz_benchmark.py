"""What field-level authorization adds to a page of 100 applications, and what it asks Casbin.

Seeds a database, signs in a loan officer of the busiest institution and a platform risk
officer, and times the same page (every scalar of Application, four enterprise fields of
which some are masked, product and institution) through three apps on one engine: the
normal app; the same schema built without the FieldAccess extension; and the normal app
handed a new Authorizer before every request, so the policy is loaded and every answer
asked again. Requests are interleaved round robin so the three share the machine's noise.
Prints wall-clock medians and p90, this process's CPU time per request (steadier than the
wall clock on a busy machine), the overhead of authorization, and the SQL statements and
Casbin evaluations of the first (cold) and of a warm request, as the responses report them.

    python bench/authz_benchmark.py [--enterprises N] [--requests N] [--database-url URL] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from common import (
    bench_settings,
    busiest_institution,
    guarded_fields,
    overhead,
    prepare,
    signed_in,
    summary,
    unguarded_app,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.routing import Mount

import api.schema
from api.app import create_app
from domain.identity.authorization import Authorizer
from domain.identity.models import Role
from domain.settings import Settings

PAGE = 100
QUERY = """
query Page($first: Int!) {
  applications(first: $first) {
    edges { node {
      id amount termMonths repaymentMethod purpose status createdAt submittedAt decidedAt
      enterprise { name contactPhone legalRepresentativeIdNumber annualRevenue }
      product { name }
      institution { name }
    } }
  }
}
"""


@dataclass
class Configuration:
    label: str
    app: Starlette
    cold: bool = False  # a new Authorizer before every request
    samples: list[float] = field(default_factory=list)  # wall-clock ms
    cpu: list[float] = field(default_factory=list)  # this process's CPU ms (SQLite's included)
    first: dict[str, int] = field(default_factory=dict)  # extensions.debug of the first request
    warm: dict[str, int] = field(default_factory=dict)  # ... and of the last timed one

    async def page(self, client: httpx.AsyncClient, token: str) -> dict[str, Any]:
        if self.cold:
            self.app.state.view.authorizer = Authorizer()
        started, cpu = time.perf_counter(), time.process_time()
        response = await client.post(
            f"/{self.label}/graphql",
            json={"query": QUERY, "variables": {"first": PAGE}},
            headers={"authorization": f"Bearer {token}"},
        )
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body["errors"]
        self.samples.append(elapsed * 1000)
        self.cpu.append(cpu * 1000)
        return body


def _nodes(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [edge["node"] for edge in body["data"]["applications"]["edges"]]


def _check(guarded: dict[str, Any], unguarded: dict[str, Any], cold: dict[str, Any]) -> int:
    """Proves the unguarded app skips field authorization; returns the id numbers it unmasked."""
    assert guarded["extensions"]["debug"]["authzEvaluations"] > 0
    assert unguarded["extensions"]["debug"]["authzEvaluations"] == 0
    assert _nodes(cold) == _nodes(guarded)
    masked = [n["enterprise"]["legalRepresentativeIdNumber"] or "" for n in _nodes(guarded)]
    clear = [n["enterprise"]["legalRepresentativeIdNumber"] or "" for n in _nodes(unguarded)]
    assert [n["id"] for n in _nodes(guarded)] == [n["id"] for n in _nodes(unguarded)]
    assert all("*" in value for value in masked if value), "expected id numbers masked"
    assert not any("*" in value for value in clear), "expected id numbers in the clear"
    return sum(1 for m, c in zip(masked, clear, strict=True) if c and m != c)


def _counts(debug: dict[str, int]) -> str:
    return f"{debug['sqlStatements']:3d} SQL {debug['authzEvaluations']:3d} Casbin"


async def _measure(
    settings: Settings, engine: AsyncEngine, who: str, token: str, requests: int
) -> None:
    # Fresh apps per viewer, so each one's first request meets an empty authorizer.
    configurations = [
        Configuration("with", create_app(settings, engine=engine)),
        Configuration("without", unguarded_app(settings, engine)),
        Configuration("cold", create_app(settings, engine=engine), cold=True),
    ]
    combined = Starlette(routes=[Mount(f"/{c.label}", app=c.app) for c in configurations])
    transport = httpx.ASGITransport(app=combined)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        firsts = [await c.page(client, token) for c in configurations]
        for c, body in zip(configurations, firsts, strict=True):
            c.first = body["extensions"]["debug"]
        rows = len(_nodes(firsts[0]))
        unmasked = _check(*firsts)
        for _ in range(max(3, requests // 10)):  # warm caches and the pool
            for c in configurations:
                await c.page(client, token)
        for c in configurations:
            c.samples.clear()
            c.cpu.clear()
        for n in range(requests):
            shift = n % len(configurations)
            for c in configurations[shift:] + configurations[:shift]:
                c.warm = (await c.page(client, token))["extensions"]["debug"]

    print(f"{who}: a page of {rows} applications")
    print(f"  checked: without FieldAccess 0 Casbin evaluations, {unmasked} id numbers unmasked")
    print(f"  {'':<22}{'median':>10}{'p90':>11}{'cpu med':>11}   {'first request':<18}warm request")
    names = {
        "with": "with authorization",
        "without": "without authorization",
        "cold": "cold authorizer",
    }
    for c in configurations:
        figures = summary(c.samples, c.cpu)
        print(f"  {names[c.label]:<22}{figures}   {_counts(c.first)}   {_counts(c.warm)}")
    print(f"  authorization adds    {overhead(configurations[0], configurations[1])}")
    print(f"  cold authorizer adds  {overhead(configurations[2], configurations[1])}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--enterprises", type=int, default=300)
    parser.add_argument("--requests", type=int, default=30, help="timed requests per app")
    parser.add_argument("--database-url", help="default: a fresh temporary SQLite file")
    parser.add_argument("--quick", action="store_true", help="a smoke run for CI")
    args = parser.parse_args()
    if args.quick:
        args.requests = 8

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        engine = await prepare(url, args.enterprises)
        # Strawberry's executor throughout: this measures its field extension (the
        # compiled read path decides access once per plan; api_benchmark measures it).
        settings = bench_settings(url).model_copy(update={"compiled_reads": False})
        institution_id, code = await busiest_institution(engine)
        viewers = [
            (
                f"loan officer of {code}",
                await signed_in(engine, settings, Role.LOAN_OFFICER, institution_id),
            ),
            (
                "platform risk officer",
                await signed_in(engine, settings, Role.PLATFORM_RISK_OFFICER, None),
            ),
        ]
        print(
            f"database {engine.dialect.name}, {args.enterprises} enterprises seeded, "
            f"{args.requests} timed requests per app, FieldAccess on "
            f"{guarded_fields(api.schema.build_schema(settings))} fields (0 once stripped)"
        )
        for who, token in viewers:
            await _measure(settings, engine, who, token, args.requests)
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
