"""Request metrics and the X-Request-ID echo, in one cheap hook on every response.

Litestar's Prometheus middleware builds a `Request`, label dicts and a wrapped
`send` per request, and records a handler's exception as a 200 (the error
response is sent outside it). Here the app's `before_request` hook notes when
the request reached its handler (`start_clock`), and its `before_send` hook — which sees every
response, errors included — echoes the request id, and on the last body
message counts the request by method, route template and the status actually
sent. Each label set's metric children are looked up once and kept.
"""

from __future__ import annotations

import time
from typing import Any

from litestar.types import Message, Scope
from prometheus_client import Counter, Histogram

from api.observability.logs import ACTING, log_request
from api.observability.request_ids import HEADER, request_id_of

APP_NAME = "resources"
EXCLUDED = "/metrics"
_LABELS = ("method", "path", "status_code", "app_name")
_STARTED = "request_metrics.started"
_STATUS = "request_metrics.status"
_HEADER = HEADER.encode()

# Process-wide, as Prometheus expects; created once however many apps a process builds.
REQUESTS = Counter("resources_requests", "Requests answered", _LABELS)
ERRORS = Counter("resources_requests_error", "Requests answered with a 5xx status", _LABELS)
DURATION = Histogram(
    "resources_request_duration_seconds", "Time from routing to the last byte", _LABELS
)

_children: dict[tuple[str, str, int], tuple[Any, Any, Any | None]] = {}


def _children_for(method: str, path: str, status: int) -> tuple[Any, Any, Any | None]:
    key = (method, path, status)
    children = _children.get(key)
    if children is None:
        values = (method, path, str(status), APP_NAME)
        children = (
            REQUESTS.labels(*values),
            DURATION.labels(*values),
            ERRORS.labels(*values) if status >= 500 else None,
        )
        _children[key] = children
    return children


def start_clock(scope: Scope) -> None:
    """Notes when a routed request reached its handler (from the app's before_request).

    A hook rather than a middleware: any route middleware makes Litestar wrap each
    route in a second exception handler, two more layers per request.
    """
    scope.setdefault("state", {})[_STARTED] = time.perf_counter()


async def on_send(message: Message, scope: Scope) -> None:
    """`before_send`: X-Request-ID on every response; metrics once it is sent."""
    if message["type"] == "http.response.start":
        headers = message.get("headers")
        pair = (_HEADER, request_id_of(scope).encode("latin-1"))
        message["headers"] = [*headers, pair] if headers else [pair]
        scope.setdefault("state", {})[_STATUS] = message["status"]
    elif message["type"] == "http.response.body" and not message.get("more_body", False):
        state = scope.get("state", {})
        started = state.get(_STARTED)
        if started is None:  # not routed (an unknown path) or already counted
            return
        del state[_STARTED]
        path = str(scope.get("path_template", ""))
        if path == EXCLUDED:
            return
        status = int(state.get(_STATUS, 500))
        method = str(scope.get("method", "GET"))
        total, duration, errors = _children_for(method, path, status)
        seconds = time.perf_counter() - started
        total.inc()
        duration.observe(seconds)
        if errors is not None:
            errors.inc()
        _log_request(scope, method, path, status, seconds)


def _log_request(scope: Scope, method: str, path: str, status: int, seconds: float) -> None:
    """One line per request: what an operator needs to find it, and whom it acted for."""
    principal = ACTING.get()
    log_request(
        status,
        {
            "request_id": request_id_of(scope),
            "method": method,
            "route": path,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "key_id": principal.key_id if principal is not None else None,
            "project_id": principal.project_id if principal is not None else None,
        },
    )
