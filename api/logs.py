"""One log format for the server, the projection runner and the command line.

structlog renders every record — ours, uvicorn's, Litestar's, the library's —
as JSON lines when the output is not a terminal (or LOG_FORMAT=json), and as
readable text on a terminal (LOG_FORMAT=text forces it). Records made during
a request carry its request id (and, once the key is known, its key id and
project), so an audit entry leads to its request, and a 500 to its traceback.
Signed query strings never reach a line.
"""

from __future__ import annotations

import logging
import logging.config
import sys
from collections.abc import MutableMapping
from typing import IO, Any

import structlog

from api.redaction import redact

Event = MutableMapping[str, Any]


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


def configure(level: str, log_format: str | None = None, stream: IO[str] | None = None) -> None:
    """Routes every logger through structlog's formatter, at `level`, to `stream`
    (standard error unless told)."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
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
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
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
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id=request_id)


def bind_principal(key_id: int, project_id: int) -> None:
    structlog.contextvars.bind_contextvars(key_id=key_id, project_id=project_id)


def request_fields() -> dict[str, Any]:
    return structlog.contextvars.get_contextvars()
