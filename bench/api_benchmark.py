"""GraphQL latency against a floor: a plain Starlette endpoint serving the same data.

Seeds a database, then times a page of applications with enterprise, product and
institution through GraphQL and through a hand-written endpoint that runs the same four
queries and serialises the same fields. Prints medians, p90 and the ratio; both run
in-process over httpx's ASGI transport, so the network is not measured.

    python bench/api_benchmark.py [--enterprises N] [--rounds R] [--database-url URL] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from common import bench_settings, prepare, signed_in
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from api.app import create_app
from domain.identity.models import Role
from domain.models import Application, Enterprise, Institution, Product
from kernel.db import session_factory

QUERY = """
query Page($first: Int!) {
  applications(first: $first) {
    edges { node {
      id amount status termMonths
      enterprise { name industry region }
      product { name type minRate }
      institution { name code }
    } }
  }
}
"""


def floor_app(sessions: async_sessionmaker[AsyncSession]) -> Starlette:
    async def page(request: Request) -> JSONResponse:
        first = int(request.query_params["first"])
        async with sessions() as s:
            apps = (
                await s.scalars(select(Application).order_by(Application.id.desc()).limit(first))
            ).all()
            ents = {
                e.id: e
                for e in await s.scalars(
                    select(Enterprise).where(Enterprise.id.in_({a.enterprise_id for a in apps}))
                )
            }
            prods = {
                p.id: p
                for p in await s.scalars(
                    select(Product).where(Product.id.in_({a.product_id for a in apps}))
                )
            }
            insts = {
                i.id: i
                for i in await s.scalars(
                    select(Institution).where(Institution.id.in_({a.institution_id for a in apps}))
                )
            }
        edges = []
        for a in apps:
            e, p, i = ents[a.enterprise_id], prods[a.product_id], insts[a.institution_id]
            edges.append(
                {
                    "node": {
                        "id": str(a.id),
                        "amount": str(a.amount),
                        "status": a.status.name,
                        "termMonths": a.term_months,
                        "enterprise": {"name": e.name, "industry": e.industry, "region": e.region},
                        "product": {
                            "name": p.name,
                            "type": p.type.name,
                            "minRate": str(p.min_rate),
                        },
                        "institution": {"name": i.name, "code": i.code},
                    }
                }
            )
        return JSONResponse({"data": {"applications": {"edges": edges}}})

    return Starlette(routes=[Route("/page", page)])


async def _time(client: httpx.AsyncClient, send: Any, rounds: int) -> list[float]:
    for _ in range(max(3, rounds // 10)):  # warm caches and the pool
        await send(client)
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        await send(client)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _summary(samples: list[float]) -> str:
    p90 = statistics.quantiles(samples, n=10)[-1]
    return f"median {statistics.median(samples):7.2f} ms   p90 {p90:7.2f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--enterprises", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--database-url")
    parser.add_argument("--quick", action="store_true", help="a smoke run for CI")
    args = parser.parse_args()
    if args.quick:
        args.enterprises, args.rounds = 200, 20

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        engine = await prepare(url, args.enterprises)
        settings = bench_settings(url)
        graphql = create_app(settings, engine=engine)
        # A platform risk officer reads every institution's applications.
        reader = await signed_in(engine, settings, Role.PLATFORM_RISK_OFFICER, None)
        headers = {"authorization": f"Bearer {reader}"}
        combined = Starlette(
            routes=[
                Mount("/floor", app=floor_app(session_factory(engine))),
                Mount("/", app=graphql),
            ]
        )
        print(f"database {engine.dialect.name}, {args.enterprises} enterprises seeded")
        transport = httpx.ASGITransport(app=combined)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for first in (10, 100):
                body = (
                    await client.post(
                        "/graphql",
                        json={"query": QUERY, "variables": {"first": first}},
                        headers=headers,
                    )
                ).json()
                assert "errors" not in body, body
                assert len(body["data"]["applications"]["edges"]) == first
                statements = body["extensions"]["debug"]["sqlStatements"]

                async def gql(c: httpx.AsyncClient, first: int = first) -> None:
                    r = await c.post(
                        "/graphql",
                        json={"query": QUERY, "variables": {"first": first}},
                        headers=headers,
                    )
                    r.raise_for_status()

                async def floor(c: httpx.AsyncClient, first: int = first) -> None:
                    (await c.get(f"/floor/page?first={first}")).raise_for_status()

                g = await _time(client, gql, args.rounds)
                f = await _time(client, floor, args.rounds)
                ratio = statistics.median(g) / statistics.median(f)
                print(f"applications page of {first:3d}: {statements} SQL statements")
                print(f"  graphql  {_summary(g)}")
                print(f"  floor    {_summary(f)}")
                print(f"  ratio    {ratio:5.2f}x the floor (medians)")
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
