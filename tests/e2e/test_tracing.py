"""With tracing on, a request is a span and its database statements are spans beneath it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from adapters.tracing import stop_tracing_database_calls
from api.composition.services import Services
from tests.e2e.flows import create
from tests.e2e.servers import free_port, serving


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    yield exporter
    stop_tracing_database_calls()


def ancestors(span: ReadableSpan, spans: dict[int, ReadableSpan]) -> Iterator[ReadableSpan]:
    while span.parent is not None and span.parent.span_id in spans:
        span = spans[span.parent.span_id]
        yield span


def test_a_patch_span_has_its_database_spans_beneath_it(
    services: Services, exporter: InMemorySpanExporter
) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    _, secret = services.keys.create(4, "user-id")
    port = free_port()
    with (
        serving(services, port, tracer_provider=provider) as base,
        httpx.Client(
            base_url=base, headers={"Authorization": f"Bearer {secret}"}, timeout=30
        ) as client,
    ):
        resource = create(client)
        exporter.clear()
        assert (
            client.patch(
                f"/api/resources/{resource['id']}", json={"name": "traced.txt"}
            ).status_code
            == 200
        )

    spans = {span.context.span_id: span for span in exporter.get_finished_spans()}
    (request,) = [
        span
        for span in spans.values()
        if span.parent is None and span.name.startswith("PATCH /api/resources/")
    ]
    database = [
        span
        for span in spans.values()
        if (span.attributes or {}).get("db.system") == "postgresql"
        and span.context.trace_id == request.context.trace_id
    ]
    assert database, [span.name for span in spans.values()]
    assert all(request in ancestors(span, spans) for span in database)
