"""One log format for the server, the projection runner and the command line.

structlog renders every record — ours, uvicorn's, Litestar's, the library's —
as JSON lines when the output is not a terminal (or LOG_FORMAT=json), and as
readable text on a terminal (LOG_FORMAT=text forces it). Records made during
a request carry its request id (and, once the key is known, its key id and
project), so an audit entry leads to its request, and a 500 to its traceback.
Signed query strings never reach a line.

The request line written after every response is the hottest record: in JSON it
is encoded by msgspec and written straight to the handler's stream (~5 µs),
where the standard record, structlog's processors and its JSON renderer cost
~50 µs — a tenth of a GET. It is the same line, key for key.
"""

from __future__ import annotations

import logging
import logging.config
import sys
from collections.abc import MutableMapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

import msgspec
import structlog

from api.observability.redaction import redact
from application.access import Principal

Event = MutableMapping[str, Any]

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
"""The id of the request being served (each request is a task with a context of its own)."""
ACTING: ContextVar[Principal | None] = ContextVar("acting", default=None)
"""The principal the current request acts for, once known (its log line shows it)."""


def bind_principal(principal: Principal) -> None:
    """The use cases' `on_principal`: later lines of this request name its key and project."""
    ACTING.set(principal)


_json_handler: list[logging.StreamHandler[Any]] = []
"""The handler `configure` made, when it renders JSON: the request line's fast path."""
_encode = msgspec.json.Encoder().encode


def _request_context(_: Any, __: str, event: Event) -> Event:
    """A record made during a request carries its id and, once known, its key and project."""
    request_id = REQUEST_ID.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    principal = ACTING.get()
    if principal is not None:
        event.setdefault("key_id", principal.key_id)
        event.setdefault("project_id", principal.project_id)
    return event


def _redact_signed_urls(_: Any, __: str, event: Event) -> Event:
    for name, value in event.items():
        if isinstance(value, str) and "?" in value:
            event[name] = redact(value)
    return event


def _drop_uvicorn_color(_: Any, __: str, event: Event) -> Event:
    event.pop("color_message", None)
    return event


def renders_json(log_format: str | None) -> bool:
    if log_format:
        return log_format.lower() == "json"
    return not sys.stderr.isatty()


class _StandardError(logging.StreamHandler[IO[str]]):
    """A handler to whatever `sys.stderr` is when a record comes, as logging's own
    last resort writes: a test runner swaps it per test and closes the old one, and a
    server thread that logs after its test ended would find a closed file."""

    @property
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, _: IO[str]) -> None:
        pass  # StreamHandler's own setting of it: the property has the say


def configure(level: str, log_format: str | None = None, stream: IO[str] | None = None) -> None:
    """Routes every logger through structlog's formatter, at `level`, to `stream`
    (standard error unless told)."""
    shared: list[Any] = [
        _request_context,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_uvicorn_color,
        _redact_signed_urls,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if renders_json(log_format)
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler: logging.StreamHandler[Any] = (
        _StandardError() if stream is None else logging.StreamHandler(stream)
    )
    handler.setFormatter(formatter)
    _json_handler[:] = [handler] if renders_json(log_format) else []
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "litestar", "eventsourcing"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
        logger.setLevel(level)
    # Requests are logged by the service itself, with what an operator needs.
    logging.getLogger("uvicorn.access").disabled = True
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def bind_request(request_id: str) -> None:
    """From here on, this request's records carry its id (each request is a task of its
    own, so the binding ends with it)."""
    REQUEST_ID.set(request_id)


_requests = logging.getLogger("api.requests")


def log_request(status: int, fields: dict[str, Any]) -> None:
    """The line that closes a request: level error for a 5xx, else info."""
    level = logging.ERROR if status >= 500 else logging.INFO
    if not _requests.isEnabledFor(level):
        return
    root = logging.getLogger()
    handler = _json_handler[0] if _json_handler else None
    if (
        handler is None
        or root.handlers != [handler]
        or _requests.handlers
        or _requests.filters
        or handler.filters
    ):  # not the configuration `configure` made: the standard way, whatever it is
        _requests.log(level, "request", extra=fields)
        return
    line = {
        "event": "request",
        **fields,
        "level": logging.getLevelName(level).lower(),
        "logger": _requests.name,
        "timestamp": datetime.now(UTC),
    }
    text = _encode(line).decode() + "\n"
    handler.acquire()  # as StreamHandler.emit: one line at a time from any thread
    try:
        handler.stream.write(text)
        handler.flush()
    finally:
        handler.release()
