"""Traces of the database statements: the psycopg instrumentation, process-wide."""

from __future__ import annotations

from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
from opentelemetry.trace import TracerProvider


def trace_database_calls(provider: TracerProvider) -> None:
    """Every psycopg connection made from now on, in this process, traces its statements
    (as spans beneath the current one: the request's)."""
    instrumentor = PsycopgInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=provider, skip_dep_check=True)


def stop_tracing_database_calls() -> None:
    PsycopgInstrumentor().uninstrument()
