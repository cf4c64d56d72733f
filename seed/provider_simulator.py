"""A stand-in for the external data providers: a business registry, a credit bureau
and bank statements, served over HTTP the way ``domain.providers.client`` calls them.

Its answers are synthetic and deterministic: the same seed and credit code give the
same answer on every run. It can be told to misbehave, so the whole path (time-outs,
retries, the circuit breaker, contract checks) is exercised for real:

``POST /faults`` with ``{"mode": "slow"|"fail"|"malformed"|"missing"|"ok", "times": n,
"delay": seconds}`` makes the next ``n`` calls (all of them without ``times``) answer
late, with HTTP 503, with a document that breaks the contract, or with HTTP 404.
``GET /calls`` counts the calls by path, for tests to see retries.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

MODES = ("ok", "slow", "fail", "malformed", "missing")
SOURCES = {
    "registry": "National enterprise credit information (simulated)",
    "bureau": "Enterprise credit bureau (simulated)",
    "bank-statements": "Open banking statements (simulated)",
}
_SURNAMES = ("Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu")
_GIVEN = ("Wei", "Fang", "Min", "Jing", "Lei", "Yan", "Jun", "Tao", "Hui", "Qiang")
_TRADES = ("Trading", "Manufacturing", "Technology", "Logistics", "Foods", "Textiles")


@dataclass
class Faults:
    mode: str = "ok"
    remaining: int | None = None  # None: until told otherwise
    delay: float = 10.0
    calls: dict[str, int] = field(default_factory=dict)

    def next_mode(self) -> str:
        mode = self.mode
        if self.remaining is not None:
            self.remaining -= 1
            if self.remaining <= 0:
                self.mode, self.remaining = "ok", None
        return mode


def _money(value: float) -> str:
    return str(Decimal(str(value)).quantize(Decimal("0.01")))


def answer(kind: str, code: str, *, seed: int, as_of: date) -> dict[str, Any]:
    """The answer for ``code``: a function of the seed, the kind and the code alone."""
    rng = random.Random(f"{seed}:{kind}:{code}")
    base: dict[str, Any] = {"source": SOURCES[kind], "asOf": as_of.isoformat(), "code": code}
    # One latent quality per enterprise, shared by the kinds, so the answers agree.
    quality = random.Random(f"{seed}:quality:{code}").random()
    if kind == "registry":
        return base | {
            "name": f"{rng.choice(_SURNAMES)} {rng.choice(_TRADES)} Co., Ltd.",
            "status": "active" if quality > 0.05 else rng.choice(["suspended", "revoked"]),
            "registeredCapital": _money(rng.choice([1, 2, 5, 10, 50]) * 100_000),
            "establishedOn": (as_of - timedelta(days=rng.randint(400, 9000))).isoformat(),
            "insuredEmployees": rng.randint(1, 300),
            "legalRepresentative": f"{rng.choice(_SURNAMES)} {rng.choice(_GIVEN)}",
        }
    if kind == "bureau":
        return base | {
            "score": int(380 + 470 * quality + rng.uniform(-40, 40)),
            "openCreditLines": rng.randint(0, 8),
            "overdueAccounts": max(0, int(rng.gauss(3 * (1 - quality), 1))),
            "maxDaysPastDue": max(0, int(rng.gauss(90 * (1 - quality) ** 2, 10))),
            "enquiriesLast6Months": rng.randint(0, 12),
            "outstandingDebt": _money(rng.uniform(0, 3_000_000)),
        }
    level = rng.uniform(50_000, 2_000_000)
    months = []
    balance = level * 0.5
    for back in range(12, 0, -1):
        first = (as_of.replace(day=1) - timedelta(days=28 * back)).replace(day=1)
        inflow = max(0.0, level * rng.uniform(0.6, 1.4))
        outflow = max(0.0, inflow * rng.uniform(0.85, 1.1 + 0.2 * (1 - quality)))
        balance += inflow - outflow
        months.append(
            {
                "month": first.strftime("%Y-%m"),
                "inflow": _money(inflow),
                "outflow": _money(outflow),
                "endingBalance": _money(balance),
            }
        )
    return base | {
        "accountHolder": f"{rng.choice(_SURNAMES)} {rng.choice(_GIVEN)}",
        "months": months,
    }


def create_simulator(*, seed: int = 7, as_of: date | None = None) -> Starlette:
    """The simulator's app; ``as_of`` fixes the answers' date (default: today)."""
    faults = Faults()

    async def provide(request: Request) -> Response:
        kind = request.url.path.strip("/").split("/")[0]
        code = request.path_params["code"]
        faults.calls[kind] = faults.calls.get(kind, 0) + 1
        mode = faults.next_mode()
        if mode == "slow":
            await asyncio.sleep(faults.delay)
        if mode == "fail":
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
        if mode == "missing":
            return JSONResponse({"error": "no such enterprise"}, status_code=404)
        body = answer(kind, code, seed=seed, as_of=as_of or datetime.now(UTC).date())
        if mode == "malformed":
            # A field of the contract with a value of the wrong kind.
            body = body | {"asOf": "yesterday"}
        return JSONResponse(body)

    async def set_faults(request: Request) -> Response:
        wanted = await request.json()
        mode = wanted.get("mode", "ok")
        if mode not in MODES:
            return JSONResponse({"error": f"mode must be one of {', '.join(MODES)}"}, 400)
        faults.mode = mode
        faults.remaining = wanted.get("times")
        faults.delay = float(wanted.get("delay", 10.0))
        return JSONResponse({"mode": faults.mode, "times": faults.remaining})

    async def calls(_: Request) -> Response:
        return JSONResponse(faults.calls)

    return Starlette(
        routes=[
            Route("/registry/{code}", provide),
            Route("/bureau/{code}", provide),
            Route("/bank-statements/{code}", provide),
            Route("/faults", set_faults, methods=["POST"]),
            Route("/calls", calls),
        ]
    )
