"""Log records: JSON lines that carry the request id, and never a signed URL's secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from api.observability.logs import (
    ACTING,
    REQUEST_ID,
    bind_principal,
    bind_request,
    configure,
    log_request,
)
from application.access import Principal


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    try:
        configure("INFO", "json", stream=stream)
        yield stream
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        REQUEST_ID.set(None)
        ACTING.set(None)
        structlog.reset_defaults()


def last_line(stream: io.StringIO) -> dict[str, Any]:
    line: dict[str, Any] = json.loads(stream.getvalue().strip().splitlines()[-1])
    return line


def test_an_error_in_a_request_is_logged_with_its_request_id_and_traceback(
    logged: io.StringIO,
) -> None:
    bind_request("req-7")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("api.http.errors").exception("unhandled error on %s %s", "PATCH", "/x")

    line = last_line(logged)
    assert (line["level"], line["request_id"]) == ("error", "req-7")
    assert line["event"] == "unhandled error on PATCH /x"
    assert "RuntimeError: boom" in line["exception"]
    assert line["timestamp"].endswith("Z")


def test_a_signed_url_in_a_record_is_redacted(logged: io.StringIO) -> None:
    logging.getLogger("any").info(
        "handed out", extra={"url": "http://h/api/resources/1/content?expires=9&signature=abc"}
    )

    line = last_line(logged)
    assert "signature=abc" not in json.dumps(line)
    assert line["url"].startswith("http://h/api/resources/1/content?")


def test_a_record_made_during_a_request_names_its_key_and_project(logged: io.StringIO) -> None:
    bind_request("req-8")
    bind_principal(Principal(key_id=3, project_id=4, user_id="u"))
    logging.getLogger("application.service").warning("the resource kept changing")

    line = last_line(logged)
    assert (line["request_id"], line["key_id"], line["project_id"]) == ("req-8", 3, 4)


def test_the_request_line_is_the_same_line_by_either_way_of_writing_it(
    logged: io.StringIO,
) -> None:
    """The request line skips the standard record and structlog when the handler is the
    one `configure` made; with a filter on the logger it takes the standard way."""
    fields = {
        "request_id": "req-9",
        "method": "PATCH",
        "route": "/api/resources/{resource_id}",
        "status": 200,
        "duration_ms": 1.25,
        "key_id": 3,
        "project_id": 4,
    }
    log_request(200, fields)
    fast = last_line(logged)
    requests = logging.getLogger("api.requests")

    def passes(record: logging.LogRecord) -> bool:
        return True

    requests.addFilter(passes)
    try:
        log_request(503, fields | {"status": 503})
    finally:
        requests.removeFilter(passes)
    standard = last_line(logged)

    assert fast.pop("timestamp").endswith("Z")
    assert standard.pop("timestamp").endswith("Z")
    assert (fast.pop("level"), standard.pop("level")) == ("info", "error")
    assert fast == standard | {"status": 200}
    assert fast == {"event": "request", "logger": "api.requests", **fields}


def test_at_warning_only_requests_answered_with_a_5xx_are_logged() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    try:
        configure("WARNING", "json", stream=stream)
        fields = {"request_id": "req-10", "method": "GET", "route": "/api/resources"}
        log_request(200, fields | {"status": 200})
        log_request(503, fields | {"status": 503})
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        structlog.reset_defaults()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["status"], line["level"]) for line in lines] == [(503, "error")]


def test_lines_go_to_standard_error_as_it_is_when_they_are_written(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A test runner swaps sys.stderr per test and closes the old one: a server thread
    that logs later writes to the new one, not to a closed file."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    first, second = io.StringIO(), io.StringIO()
    try:
        monkeypatch.setattr("sys.stderr", first)
        configure("INFO", "json")
        first.close()
        monkeypatch.setattr("sys.stderr", second)
        log_request(200, {"request_id": "req-11", "method": "GET", "status": 200})
        logging.getLogger("api.http.errors").warning("database unavailable")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
        structlog.reset_defaults()
    lines = [json.loads(line) for line in second.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["request", "database unavailable"]
