"""OpenTelemetry traces: off unless OTEL_* variables say otherwise; on, a request's
spans (HTTP, GraphQL operation, SQL) reach an OTLP/HTTP collector."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.ext.asyncio import AsyncEngine

from api.app import create_app
from kernel import metrics, tracing
from kernel.db import create_engine
from tests.api.conftest import make_settings
from tests.servers import free_port

CATALOG = {"query": "query Catalog { products(first: 2) { totalCount } }"}
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
OTEL_VARIABLES = (
    "OTEL_SDK_DISABLED",
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
)


class Collector:
    """An OTLP/HTTP trace receiver: what an OpenTelemetry collector does on /v1/traces."""

    def __init__(self, port: int) -> None:
        self.requests: list[ExportTraceServiceRequest] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                received.append(ExportTraceServiceRequest.FromString(body))
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def spans(self) -> list[tuple[dict[str, str], Span]]:
        """Every span received, with its resource's attributes."""
        found = []
        for request in self.requests:
            for resource_spans in request.resource_spans:
                resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    found.extend((resource, span) for span in scope_spans.spans)
        return found


@pytest.fixture
def collector() -> Iterator[Collector]:
    running = Collector(free_port())
    running.thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


@pytest.fixture
def no_otel(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def attributes(span: Span) -> dict[str, Any]:
    return {
        a.key: a.value.string_value or a.value.int_value or a.value.bool_value
        for a in span.attributes
    }


async def test_a_request_trace_reaches_an_otlp_collector(
    database_url: str, db: AsyncEngine, collector: Collector, no_otel: pytest.MonkeyPatch
) -> None:
    # given: traces switched on by the standard variables, sent to the collector
    port = collector.server.server_address[1]
    no_otel.setenv("OTEL_TRACES_EXPORTER", "otlp")
    no_otel.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"http://127.0.0.1:{port}/v1/traces")
    no_otel.setenv("OTEL_SERVICE_NAME", "lendgraph-under-test")
    provider = tracing.provider_from_environment()
    assert provider is not None
    engine = create_engine(database_url)  # its own: the SQL listeners leave with it
    app = create_app(make_settings(database_url), engine=engine, tracer_provider=provider)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            # when: a request that continues a caller's trace
            response = await client.post(
                "/graphql",
                json=CATALOG,
                headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
            )
        assert response.status_code == 200
        assert provider.force_flush()
    finally:
        provider.shutdown()
        tracing.uninstrument_engines()
        await engine.dispose()

    # then: the HTTP request, the operation under it and its SQL under that, one trace
    spans = collector.spans()
    assert {resource["service.name"] for resource, _ in spans} == {"lendgraph-under-test"}
    by_name = {span.name: span for _, span in spans}
    server = by_name["POST /graphql"]
    operation = by_name["query Catalog"]
    sql = [s for _, s in spans if s.kind == Span.SpanKind.SPAN_KIND_CLIENT]
    assert server.kind == Span.SpanKind.SPAN_KIND_SERVER
    assert {span.trace_id.hex() for _, span in spans} == {TRACE_ID}
    assert server.parent_span_id.hex() == PARENT_ID
    assert operation.parent_span_id == server.span_id
    assert attributes(operation)["graphql.operation.name"] == "Catalog"
    assert attributes(operation)["graphql.operation.type"] == "query"
    assert attributes(operation)["lendgraph.executor"] == "compiled"
    assert sql
    assert {span.parent_span_id for span in sql} == {operation.span_id}
    statements = [attributes(span)["db.statement"] for span in sql]
    assert any(s.startswith("SELECT") and "products" in s for s in statements)
    assert len(sql) == response.json()["extensions"]["debug"]["sqlStatements"]


def test_traces_are_off_by_default_and_cost_no_middleware(
    database_url: str, db: AsyncEngine, no_otel: pytest.MonkeyPatch
) -> None:
    # given: no OTEL_* variable
    assert not tracing.wanted()
    assert tracing.provider_from_environment() is None
    # when
    app = create_app(make_settings(database_url), engine=db)
    # then
    assert app.state.view.tracer is None
    assert all("OpenTelemetry" not in m.cls.__name__ for m in app.user_middleware)  # type: ignore[attr-defined]


def test_traces_off_import_nothing_of_opentelemetry(database_url: str) -> None:
    # given: a fresh interpreter without OTEL_* variables
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    program = (
        "import sys\n"
        "from api.app import create_app\n"
        "from tests.api.conftest import make_settings\n"
        f"create_app(make_settings({database_url!r}))\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))\n"
    )
    # when
    done = subprocess.run(  # noqa: S603  # this interpreter, a program of ours
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, check=True
    )
    # then
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("variables", "on"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, False),
    ],
)
def test_the_standard_variables_switch_traces(
    no_otel: pytest.MonkeyPatch, variables: dict[str, str], on: bool
) -> None:
    for name, value in variables.items():
        no_otel.setenv(name, value)
    assert tracing.wanted() is on


def test_an_exporter_that_is_not_installed_is_a_clear_error(
    no_otel: pytest.MonkeyPatch,
) -> None:
    no_otel.setenv("OTEL_TRACES_EXPORTER", "otlp")
    no_otel.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    with pytest.raises(tracing.TracingConfigurationError, match="http/protobuf"):
        tracing.provider_from_environment()
    no_otel.setenv("OTEL_TRACES_EXPORTER", "jaeger")
    with pytest.raises(tracing.TracingConfigurationError, match="jaeger"):
        tracing.provider_from_environment()


def test_a_job_is_a_span_of_its_own() -> None:
    # given
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use(provider)
    try:
        # when
        with metrics.job_observed("nightly_scan"):
            pass
    finally:
        tracing.use(None)
    # then
    (span,) = exporter.get_finished_spans()
    assert span.name == "job nightly_scan"
    assert span.attributes is not None
    assert span.attributes["lendgraph.job.task"] == "nightly_scan"
