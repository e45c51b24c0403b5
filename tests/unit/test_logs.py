"""Log records: JSON lines that carry the request id, and never a signed URL's secret."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from api.logs import bind_request, configure


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
        structlog.contextvars.clear_contextvars()
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
        logging.getLogger("api.errors").exception("unhandled error on %s %s", "PATCH", "/x")

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
