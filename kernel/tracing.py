"""OpenTelemetry traces, switched on by the standard ``OTEL_*`` environment variables.

Off by default, and then free: nothing of OpenTelemetry is imported, no middleware is
added, no SQL listener is attached, and :func:`span` is a no-op context manager.

On when ``OTEL_SDK_DISABLED`` is not ``true`` and either ``OTEL_TRACES_EXPORTER``
names an exporter (``otlp``, ``console``, or any installed one; ``none`` keeps it
off) or an OTLP endpoint is set (``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``: the exporter is then ``otlp``). The SDK
itself reads the rest of its variables: ``OTEL_SERVICE_NAME`` and
``OTEL_RESOURCE_ATTRIBUTES`` (the service name defaults to ``lendgraph`` here),
``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_*``, ``OTEL_EXPORTER_OTLP_HEADERS``/``TIMEOUT``.
``otlp`` is OTLP over HTTP with protobuf (the gRPC exporter is not installed).

Spans: the HTTP request (ASGI middleware, api.app), the GraphQL operation inside it
(api.view, for both executors), each SQL statement (SQLAlchemy's engine events), and
a job (:func:`span`, through kernel.metrics.job_observed).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Tracer
    from sqlalchemy.ext.asyncio import AsyncEngine

SERVICE_NAME = "lendgraph"
_TRUE = {"true", "1", "yes", "on"}


class TracingConfigurationError(Exception):
    """An ``OTEL_*`` variable asks for an exporter this installation does not have."""


def wanted() -> bool:
    environ = os.environ
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() in _TRUE:
        return False
    exporters = _exporter_names(environ)
    if exporters is not None:
        return bool(exporters)
    endpoints = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
    return any(environ.get(name) for name in endpoints)


def _exporter_names(environ: Mapping[str, str]) -> list[str] | None:
    """The exporters named in OTEL_TRACES_EXPORTER; None when it is not set."""
    raw = environ.get("OTEL_TRACES_EXPORTER")
    if raw is None or not raw.strip():
        return None
    names = [n.strip().lower() for n in raw.split(",") if n.strip()]
    return [] if "none" in names else names


def provider_from_environment() -> TracerProvider | None:
    """A new tracer provider as the ``OTEL_*`` variables describe it; None when off."""
    if not wanted():
        return None
    from opentelemetry.sdk.resources import SERVICE_NAME as SERVICE_NAME_KEY
    from opentelemetry.sdk.resources import OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # Our name unless the environment gives one (OTEL_SERVICE_NAME or the attributes):
    # Resource.create lets what it is given override what the environment says.
    named = SERVICE_NAME_KEY in OTELResourceDetector().detect().attributes
    resource = Resource.create({} if named else {SERVICE_NAME_KEY: SERVICE_NAME})
    provider = TracerProvider(resource=resource)
    for name in _exporter_names(os.environ) or ["otlp"]:
        provider.add_span_processor(BatchSpanProcessor(_exporter(name, os.environ)))
    return provider


def _exporter(name: str, environ: Mapping[str, str]) -> SpanExporter:
    if name == "otlp":
        protocol = environ.get(
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "")
        )
        if protocol and protocol != "http/protobuf":
            raise TracingConfigurationError(
                f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol}: only http/protobuf is installed"
            )
        name = "otlp_proto_http"
    from importlib.metadata import entry_points

    found = entry_points(group="opentelemetry_traces_exporter", name=name)
    if not found:
        raise TracingConfigurationError(f"OTEL_TRACES_EXPORTER={name}: no such exporter installed")
    exporter_class = next(iter(found)).load()
    exporter: SpanExporter = exporter_class()
    return exporter


@lru_cache(maxsize=1)
def process_provider() -> TracerProvider | None:
    """The process's provider, made once from the environment (also the global one)."""
    provider = provider_from_environment()
    if provider is not None:
        from opentelemetry import trace

        trace.set_tracer_provider(provider)
        use(provider)
    return provider


_active: TracerProvider | None = None


def use(provider: TracerProvider | None) -> None:
    """Make ``provider`` the one :func:`span` reports to (None: spans off)."""
    global _active
    _active = provider


def tracer(provider: TracerProvider) -> Tracer:
    return provider.get_tracer("lendgraph")


@contextlib.contextmanager
def span(name: str, attributes: Mapping[str, Any] | None = None) -> Iterator[None]:
    """A span around the block when traces are on, the current span its parent."""
    provider = _active
    if provider is None:
        yield
        return
    with tracer(provider).start_as_current_span(name, attributes=dict(attributes or {})):
        yield


@contextlib.contextmanager
def sql_span(tracer: Tracer, system: str, statement: str) -> Iterator[None]:
    """A client span for a statement sent past SQLAlchemy, straight to the driver
    (the compiled read path), named and described as the SQL instrumentation does."""
    from opentelemetry.trace import SpanKind

    attributes = {"db.system": system, "db.statement": statement, "db.operation": "SELECT"}
    with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT, attributes=attributes):
        yield


def instrument_engine(engine: AsyncEngine, provider: TracerProvider) -> None:
    """A span for every statement the engine runs (the instrumentation's engine tracer)."""
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.instrumentation.sqlalchemy.version import __version__
    from opentelemetry.metrics import NoOpMeterProvider
    from opentelemetry.trace import get_tracer

    # Metrics are Prometheus's here (kernel.metrics); the instrumentation's own go nowhere.
    meter = NoOpMeterProvider().get_meter("lendgraph.sqlalchemy")
    connections = meter.create_up_down_counter("db.client.connections.usage")
    EngineTracer(  # type: ignore[no-untyped-call]  # the instrumentation is untyped
        get_tracer("opentelemetry.instrumentation.sqlalchemy", __version__, provider),
        engine.sync_engine,
        connections,
    )


def uninstrument_engines() -> None:
    """Detach the SQL listeners of :func:`instrument_engine` (the app's shutdown)."""
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer

    EngineTracer.remove_all_event_listeners()  # type: ignore[no-untyped-call]
