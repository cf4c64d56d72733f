"""Calling an external data provider over HTTP: time-outs, retries, a circuit breaker.

Assumptions and failure model:

* A provider is slow, down or wrong now and then. Each attempt has a time-out
  (``provider_timeout``); connection errors, time-outs and 5xx answers are retried with
  exponential back-off (tenacity) up to ``provider_attempts`` attempts; a 404 means the
  provider knows nothing of the enterprise and is not retried.
* A provider that keeps failing is left alone for a while: after
  ``provider_breaker_threshold`` failed calls in a row its circuit opens (purgatory) and
  calls are refused at once for ``provider_breaker_seconds``, then one call is let through
  to probe it. The circuit is per process and per kind of data: each web worker learns
  on its own, which costs a few more failed calls, not a wrong answer.
* A malformed answer counts as a failure of the provider: one that keeps sending
  garbage is cut off like one that is down.
* The caller holds no database transaction while waiting (see the service).
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from typing import Protocol

import httpx
from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import OpenedState
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from domain.providers.answers import read_answer
from domain.providers.errors import NoProviderRecord, ProviderMalformed, ProviderUnavailable
from domain.providers.models import ExternalDataKind
from domain.settings import Settings

PATHS: dict[ExternalDataKind, str] = {
    ExternalDataKind.BUSINESS_REGISTRY: "registry",
    ExternalDataKind.CREDIT_BUREAU: "bureau",
    ExternalDataKind.BANK_STATEMENT: "bank-statements",
}


@dataclass(frozen=True, slots=True)
class Fetched:
    """A provider's answer, checked against its contract, and the hash of its bytes."""

    kind: ExternalDataKind
    body: bytes
    content_hash: str


class ExternalDataProvider(Protocol):
    """Anything that answers for a kind of external data about an enterprise."""

    async def fetch(self, kind: ExternalDataKind, code: str) -> Fetched: ...


class _ServerError(Exception):
    """A 5xx answer: worth another attempt."""


@dataclass(frozen=True, slots=True)
class HttpProvider:
    """The providers behind one base URL: ``GET {base}/{kind path}/{credit code}``."""

    base_url: str
    timeout: float
    attempts: int
    backoff: float
    breakers: AsyncCircuitBreakerFactory
    breaker_seconds: int

    async def fetch(self, kind: ExternalDataKind, code: str) -> Fetched:
        circuit = f"provider:{PATHS[kind]}"
        try:
            breaker = await self.breakers.get_breaker(circuit, exclude=[NoProviderRecord])
            async with breaker:
                body = await self._get(kind, code)
                read_answer(kind, body, code=code)
        except OpenedState as opened:
            wait = max(1, math.ceil(opened.opened_at + self.breaker_seconds - time.time()))
            raise ProviderUnavailable(
                f"the {kind.value} provider failed repeatedly and is being left alone; "
                f"try again in {wait} seconds",
                retry_after_seconds=wait,
            ) from None
        return Fetched(kind=kind, body=body, content_hash=hashlib.sha256(body).hexdigest())

    async def _get(self, kind: ExternalDataKind, code: str) -> bytes:
        url = f"{self.base_url.rstrip('/')}/{PATHS[kind]}/{code}"
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.backoff, max=self.backoff * 8),
            retry=retry_if_exception_type((httpx.TransportError, _ServerError)),
            reraise=True,
        )
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                async for attempt in retrying:
                    with attempt:
                        response = await client.get(url, headers={"accept": "application/json"})
                        if response.status_code >= 500:
                            raise _ServerError(response.status_code)
        except httpx.TimeoutException:
            raise ProviderUnavailable(
                f"the {kind.value} provider did not answer within {self.timeout:g} seconds "
                f"({self.attempts} attempts); nothing was stored"
            ) from None
        except (httpx.TransportError, _ServerError) as exc:
            raise ProviderUnavailable(
                f"the {kind.value} provider is unavailable ({type(exc).__name__}, "
                f"{self.attempts} attempts); nothing was stored"
            ) from None
        if response.status_code == 404:
            raise NoProviderRecord(f"the {kind.value} provider has no record of this enterprise")
        if response.status_code != 200:
            raise ProviderMalformed(
                f"the {kind.value} provider answered HTTP {response.status_code}; "
                "nothing was stored"
            )
        return response.content


class Unconfigured:
    """No provider is configured (``LENDGRAPH_PROVIDER_URL`` unset): every fetch is refused."""

    async def fetch(self, kind: ExternalDataKind, code: str) -> Fetched:
        raise ProviderUnavailable(f"no {kind.value} provider is configured on this platform")


# Circuits live as long as the process: one breaker factory per provider configuration.
_BREAKERS: dict[tuple[str, int, int], AsyncCircuitBreakerFactory] = {}


def provider_for(settings: Settings) -> ExternalDataProvider:
    """The configured provider, its circuits shared by every request of this process."""
    if settings.provider_url is None:
        return Unconfigured()
    key = (
        settings.provider_url,
        settings.provider_breaker_threshold,
        settings.provider_breaker_seconds,
    )
    breakers = _BREAKERS.get(key)
    if breakers is None:
        breakers = _BREAKERS[key] = AsyncCircuitBreakerFactory(
            default_threshold=settings.provider_breaker_threshold,
            default_ttl=settings.provider_breaker_seconds,
        )
    return HttpProvider(
        base_url=settings.provider_url,
        timeout=settings.provider_timeout,
        attempts=settings.provider_attempts,
        backoff=settings.provider_backoff,
        breakers=breakers,
        breaker_seconds=settings.provider_breaker_seconds,
    )
