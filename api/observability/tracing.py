"""OpenTelemetry traces of requests and of the database calls they make.

With OTEL_EXPORTER_OTLP_ENDPOINT set (the standard variable; the other OTEL_*
variables work too), every request is a span (Litestar's plugin) and every
statement a span beneath it (the database driver's instrumentation, in adapters/), exported over
OTLP/HTTP. Without it, nothing is instrumented and nothing is paid.
"""

from __future__ import annotations

from collections.abc import Mapping

from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from adapters.tracing import trace_database_calls

SERVICE_NAME = "resource-service"


def tracer_provider_from_env(env: Mapping[str, str]) -> TracerProvider | None:
    """A provider exporting over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set."""
    if not env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return tracer_provider(OTLPSpanExporter())


def tracer_provider(exporter: SpanExporter) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def tracing_plugin(provider: TracerProvider) -> OpenTelemetryPlugin:
    """Traces requests, and (from now on, in this process) every database statement."""
    trace_database_calls(provider)
    return OpenTelemetryPlugin(
        OpenTelemetryConfig(tracer_provider=provider, exclude=["/health", "/metrics"])
    )
