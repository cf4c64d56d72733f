"""What privacy costs on a page of 100 enterprises with every personal field asked for.

Seeds a database (and a few consents, so both lawful bases of a reveal occur), signs in
a loan officer of the busiest institution (reveals some fields of the rows it has a
contract or consent for, masks the rest) and a privacy officer (sees every enterprise,
reveals everything), and times the same page through three apps on one engine: the
normal app; the normal app with the access-log INSERT replaced by nothing; and the same
schema built without the FieldAccess extension, so no access decision, no decryption,
no masking and no access log (sealed values come back as the ciphertext stored).
Requests are interleaved round robin so the three share the machine's noise. Prints
wall-clock medians and p90, this process's CPU time per request, the SQL statements of
the first and of a warm request, the access-log rows each request writes, the full
(generation 2) garbage collections that fell in its requests (their pauses make a p90
far above the median), what the responses show (checked value by value against the
plaintext), the overhead, and what the crypto alone costs timed outside any request.

    python bench/privacy_benchmark.py [--enterprises N] [--requests N] [--database-url URL]
                                      [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import tempfile
import time
import uuid
from collections import Counter
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
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Mount
from strawberry import relay

import api.schema
from api.app import create_app
from domain.enterprises.models import SEALED_COLUMNS
from domain.identity.models import Role
from domain.identity.viewer import Viewer
from domain.lending import repository as lending
from domain.models import Application, Enterprise
from domain.privacy import consent
from domain.privacy.models import AccessLogEntry
from domain.settings import Settings
from kernel.base import utcnow
from kernel.db import session_factory
from privacy import vault
from privacy.keys import KeyProvider
from privacy.masking import mask
from privacy.models import DataKey

PAGE = 100
QUERY = """
query Page($first: Int!) {
  enterprises(first: $first) {
    edges { node {
      id name legalRepresentativeName legalRepresentativeIdNumber contactPhone contactEmail
      bankAccountNumber annualRevenue
    } }
  }
}
"""
# The personal and sensitive fields asked for: GraphQL name -> column.
PROTECTED = {
    "legalRepresentativeName": "legal_representative_name",
    "legalRepresentativeIdNumber": "legal_representative_id_number",
    "contactPhone": "contact_phone",
    "contactEmail": "contact_email",
    "bankAccountNumber": "bank_account_number",
    "annualRevenue": "annual_revenue",
}
SHOWN = ("revealed", "masked", "withheld", "null")


class FullCollections:
    """Generation-2 garbage collections and their pauses, counted as they happen: they land
    on whichever request is running, and explain most of a p90 far above the median."""

    def __init__(self) -> None:
        self.count, self.ms, self._started = 0, 0.0, 0.0

    def callback(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.count += 1
            self.ms += (time.perf_counter() - self._started) * 1000


FULL_GC = FullCollections()


async def _no_access_log(request: Request) -> None:
    """Stands in for GraphQLView.log_reveals: the reveals are collected, never written."""


def unlogged_app(settings: Settings, engine: AsyncEngine) -> Starlette:
    app = create_app(settings, engine=engine)
    app.state.view.log_reveals = _no_access_log  # this instance only
    return app


async def _grant_consents(engine: AsyncEngine, institution_id: uuid.UUID) -> int:
    """Every other applicant to the institution without an active loan with it consents
    (the seed records no consent), so both lawful bases occur among the officer's rows."""
    async with session_factory(engine)() as s, s.begin():
        applicants = (
            await s.execute(
                select(Enterprise.id, Enterprise.owner_id)
                .where(
                    Enterprise.id.in_(
                        select(Application.enterprise_id).where(
                            Application.institution_id == institution_id
                        )
                    ),
                    Enterprise.owner_id.is_not(None),
                )
                .order_by(Enterprise.id)
            )
        ).all()
        contracted = await lending.active_loan_institutions(s, [a.id for a in applicants])
        without = [a for a in applicants if institution_id not in contracted.get(a.id, set())]
        for applicant in without[::2]:
            await consent.grant(
                s,
                viewer=Viewer(user_id=applicant.owner_id),
                subject_id=applicant.id,
                purpose="credit_assessment",
                recipient_institution_id=institution_id,
                expires_at=None,
                text_version="bench-1",
                channel="bench",
            )
    return len(without[::2])


@dataclass
class Configuration:
    label: str
    name: str
    app: Starlette
    samples: list[float] = field(default_factory=list)  # wall-clock ms
    cpu: list[float] = field(default_factory=list)  # this process's CPU ms (SQLite's included)
    first: int = 0  # SQL statements of the first request
    warm: int = 0  # ... and of the last timed one
    logged: int = 0  # access_log rows one request writes
    full_gcs: int = 0  # generation-2 collections during its requests
    full_gc_ms: float = 0.0  # ... and their pauses

    async def page(self, client: httpx.AsyncClient, token: str) -> dict[str, Any]:
        collections, paused = FULL_GC.count, FULL_GC.ms
        started, cpu = time.perf_counter(), time.process_time()
        response = await client.post(
            f"/{self.label}/graphql",
            json={"query": QUERY, "variables": {"first": PAGE}},
            headers={"authorization": f"Bearer {token}"},
        )
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        self.full_gcs += FULL_GC.count - collections
        self.full_gc_ms += FULL_GC.ms - paused
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        assert "errors" not in body, body["errors"]
        self.samples.append(elapsed * 1000)
        self.cpu.append(cpu * 1000)
        return body


def _nodes(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [edge["node"] for edge in body["data"]["enterprises"]["edges"]]


def _pk(node: dict[str, Any]) -> uuid.UUID:
    return uuid.UUID(relay.GlobalID.from_id(node["id"]).node_id)


def _statements(body: dict[str, Any]) -> int:
    return int(body["extensions"]["debug"]["sqlStatements"])


@dataclass
class Stored:
    """The page's rows as stored, their plaintext, and the data keys that open them."""

    rows: dict[uuid.UUID, Enterprise]
    plain: dict[uuid.UUID, dict[str, Any]]
    wrapped: list[tuple[uuid.UUID, str, str]]  # (subject, master key id, wrapped data key)
    keys: dict[uuid.UUID, bytes]


async def _stored(engine: AsyncEngine, keys: KeyProvider, ids: list[uuid.UUID]) -> Stored:
    async with session_factory(engine)() as s:
        rows = {e.id: e for e in await s.scalars(select(Enterprise).where(Enterprise.id.in_(ids)))}
        wrapped = [
            (k.subject_id, k.kid, k.wrapped)
            for k in await s.scalars(select(DataKey).where(DataKey.subject_id.in_(ids)))
            if k.kid is not None and k.wrapped is not None
        ]
    opened = {pk: vault.unwrap(keys, kid, key, subject_id=pk) for pk, kid, key in wrapped}
    plain: dict[uuid.UUID, dict[str, Any]] = {}
    for pk, row in rows.items():
        values: dict[str, Any] = {}
        for name, column in PROTECTED.items():
            value = getattr(row, column)
            if column in SEALED_COLUMNS and value is not None:
                value = vault.unseal(
                    opened[pk], value, table="enterprises", column=column, row_id=pk
                )
            values[name] = None if value is None else str(value)
        plain[pk] = values
    return Stored(rows=rows, plain=plain, wrapped=wrapped, keys=opened)


def _shown(body: dict[str, Any], stored: Stored) -> dict[str, Counter[str]]:
    """Per field, how many values came back revealed, masked, withheld, or null in store."""
    per_field: dict[str, Counter[str]] = {name: Counter() for name in PROTECTED}
    for node in _nodes(body):
        plain = stored.plain[_pk(node)]
        for name in PROTECTED:
            value, clear = node[name], plain[name]
            if clear is None:
                kind = "null"
            elif value == clear:
                kind = "revealed"
            elif value is None:
                kind = "withheld"
            elif value == mask(clear, name):
                kind = "masked"
            else:
                raise AssertionError(f"{name}: {value!r} is neither {clear!r} nor its mask")
            per_field[name][kind] += 1
    return per_field


def _check_off(body: dict[str, Any], stored: Stored) -> tuple[int, int]:
    """Proves the unguarded app opens nothing: sealed values come back as the stored
    ciphertext. Returns (sealed values seen as ciphertext, unsealed values as stored)."""
    ciphertext = as_stored = 0
    for node in _nodes(body):
        pk = _pk(node)
        row, plain = stored.rows[pk], stored.plain[pk]
        for name, column in PROTECTED.items():
            raw = getattr(row, column)
            if raw is None:
                assert node[name] is None
                continue
            if column in SEALED_COLUMNS:
                assert node[name] == raw, node[name]
                assert raw.startswith(f"{vault.VERSION}."), raw
                assert node[name] != plain[name]
                ciphertext += 1
            else:
                assert node[name] == str(raw)
                as_stored += 1
    return ciphertext, as_stored


async def _bases(
    engine: AsyncEngine, institution_id: uuid.UUID | None, ids: list[uuid.UUID]
) -> str:
    """The lawful basis each row of the page has for an institution's staff."""
    if institution_id is None:
        return "every row: platform oversight under a platform role"
    async with session_factory(engine)() as s:
        consents = await consent.consented(
            s, subject_ids=ids, purpose="credit_assessment", now=utcnow()
        )
        contracts = await lending.active_loan_institutions(s, ids)
    basis: Counter[str] = Counter()
    for pk in ids:
        if None in consents[pk] or institution_id in consents[pk]:
            basis["consent"] += 1
        elif institution_id in contracts.get(pk, set()):
            basis["an active loan"] += 1
        else:
            basis["none"] += 1
    return ", ".join(f"{basis[b]} {b}" for b in ("consent", "an active loan", "none"))


async def _access_log_rows(engine: AsyncEngine) -> int:
    async with session_factory(engine)() as s:
        return int(await s.scalar(select(func.count()).select_from(AccessLogEntry)) or 0)


def _crypto(keys: KeyProvider, stored: Stored, repeats: int) -> tuple[float, float, int]:
    """Median ms to unwrap the page's data keys and to unseal its sealed values, outside
    any request: (unwrap ms, unseal ms, sealed values)."""
    sealed = [
        (pk, column, getattr(row, column))
        for pk, row in stored.rows.items()
        for column in PROTECTED.values()
        if column in SEALED_COLUMNS and getattr(row, column) is not None
    ]
    unwraps, unseals = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        for pk, kid, key in stored.wrapped:
            vault.unwrap(keys, kid, key, subject_id=pk)
        unwraps.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        for pk, column, value in sealed:
            vault.unseal(stored.keys[pk], value, table="enterprises", column=column, row_id=pk)
        unseals.append((time.perf_counter() - started) * 1000)
    return statistics.median(unwraps), statistics.median(unseals), len(sealed)


async def _measure(
    settings: Settings,
    engine: AsyncEngine,
    who: str,
    token: str,
    institution_id: uuid.UUID | None,
    requests: int,
) -> None:
    on, unlogged, off = configurations = [
        Configuration("on", "privacy on", create_app(settings, engine=engine)),
        Configuration("unlogged", "on, no access log", unlogged_app(settings, engine)),
        Configuration("off", "privacy off", unguarded_app(settings, engine)),
    ]
    combined = Starlette(routes=[Mount(f"/{c.label}", app=c.app) for c in configurations])
    transport = httpx.ASGITransport(app=combined)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        firsts = []
        for c in configurations:  # one at a time, so each one's log rows can be counted
            before = await _access_log_rows(engine)
            body = await c.page(client, token)
            c.logged = await _access_log_rows(engine) - before
            c.first = _statements(body)
            firsts.append(body)
        ids = [_pk(node) for node in _nodes(firsts[0])]
        assert [_pk(node) for node in _nodes(firsts[2])] == ids
        assert _nodes(firsts[1]) == _nodes(firsts[0])
        stored = await _stored(engine, settings.keys(), ids)
        shown = _shown(firsts[0], stored)
        ciphertext, as_stored = _check_off(firsts[2], stored)
        revealed = sum(counts["revealed"] for counts in shown.values())
        assert on.logged == revealed, (on.logged, revealed)
        assert unlogged.logged == off.logged == 0
        bases = await _bases(engine, institution_id, ids)

        for _ in range(max(3, requests // 10)):  # warm caches and the pool
            for c in configurations:
                await c.page(client, token)
        for c in configurations:
            c.samples.clear()
            c.cpu.clear()
            c.full_gcs, c.full_gc_ms = 0, 0.0
        for n in range(requests):
            shift = n % len(configurations)
            for c in configurations[shift:] + configurations[:shift]:
                c.warm = _statements(await c.page(client, token))
    unwrap, unseal, sealed = _crypto(settings.keys(), stored, repeats=max(5, requests // 2))

    total = Counter[str]()
    for counts in shown.values():
        total.update(counts)
    print(f"{who}: a page of {len(ids)} enterprises, {len(PROTECTED)} protected fields each")
    print(f"  lawful basis of the rows: {bases}")
    print(
        f"  checked: privacy off returns {ciphertext} sealed values as the stored ciphertext "
        f"and {as_stored} unsealed ones (annualRevenue) as stored; without the access log "
        "the page is the same"
    )
    print(
        "  privacy on shows: "
        + ", ".join(f"{total[k]} {k}" for k in SHOWN)
        + f" in store; {on.logged} access_log rows per request"
    )
    for name, counts in shown.items():
        print(f"    {name:<28}" + "".join(f"{counts[k]:4d} {k:<10}" for k in SHOWN).rstrip())
    print(
        f"  {'':<20}{'median':>10}{'p90':>11}{'cpu med':>11}"
        "   SQL first  SQL warm  log rows   full GCs"
    )
    for c in configurations:
        print(
            f"  {c.name:<20}{summary(c.samples, c.cpu)}   {c.first:9d} {c.warm:9d} {c.logged:9d}"
            f"   {c.full_gcs:3d} {c.full_gc_ms:6.0f} ms"
        )
    print(f"  privacy adds      {overhead(on, off)}")
    print(f"  the log adds      {overhead(on, unlogged)}")
    print(f"  checks alone add  {overhead(unlogged, off)}")
    print(
        f"  crypto alone, outside a request: unwrap {len(stored.wrapped)} data keys "
        f"{unwrap:5.2f} ms, unseal {sealed} values {unseal:5.2f} ms "
        f"({unseal / max(sealed, 1) * 1000:4.1f} us each)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--enterprises", type=int, default=300)
    parser.add_argument("--requests", type=int, default=40, help="timed requests per app")
    parser.add_argument("--database-url", help="default: a fresh temporary SQLite file")
    parser.add_argument("--quick", action="store_true", help="a smoke run for CI")
    args = parser.parse_args()
    if args.quick:
        args.requests = 8
    gc.callbacks.append(FULL_GC.callback)

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        engine = await prepare(url, args.enterprises)
        # Strawberry's executor throughout: the three apps differ in its field extension and
        # its access-log insert (the compiled read path writes the log in its own transaction).
        settings = bench_settings(url).model_copy(update={"compiled_reads": False})
        institution_id, code = await busiest_institution(engine)
        consents = await _grant_consents(engine, institution_id)
        viewers = [
            (
                f"loan officer of {code}",
                await signed_in(engine, settings, Role.LOAN_OFFICER, institution_id),
                institution_id,
            ),
            (
                "privacy officer",
                await signed_in(engine, settings, Role.PRIVACY_OFFICER, None),
                None,
            ),
        ]
        print(
            f"database {engine.dialect.name}, {args.enterprises} enterprises seeded, "
            f"{consents} consents to {code} granted, {args.requests} timed requests per app, "
            f"FieldAccess on {guarded_fields(api.schema.build_schema(settings))} fields "
            "(0 once stripped)"
        )
        for who, token, institution in viewers:
            await _measure(settings, engine, who, token, institution, args.requests)
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
