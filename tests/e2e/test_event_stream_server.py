"""The live stream as `resources serve` runs it: a client that stops reading is
disconnected rather than buffered without bound, and SIGTERM ends every stream
cleanly; either way the client resumes with Last-Event-ID and loses nothing."""

from __future__ import annotations

import re
import signal
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.composition.services import Services
from tests.e2e.flows import create
from tests.e2e.servers import free_port, serve_process
from tests.feed import caught_up, running, wait_until
from tests.sse import StreamReader

PROJECT = 4
BUFFER = 20


def rss_kib(pid: int) -> int:
    found = re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text())
    assert found is not None
    return int(found.group(1))


def metric(base: str, name: str) -> float:
    text = httpx.get(base + "/metrics", timeout=10).text
    found = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def positions(client: httpx.Client, services: Services) -> list[int]:
    wait_until(lambda: caught_up(services))
    found: list[int] = []
    after = 0
    while True:
        page = client.get("/api/events", params={"after": after, "limit": 1000}).json()
        found += [event["position"] for event in page["data"]["events"]]
        after = page["cursor"]["after"]
        if not page["cursor"]["has_more"]:
            return found


def ids_in(raw: bytes) -> list[int]:
    """The ids of the complete frames in what a stream sent."""
    complete = raw[: raw.rfind(b"\n\n") + 2] if b"\n\n" in raw else b""
    return [int(found) for found in re.findall(rb"^id: (\d+)$", complete, re.MULTILINE)]


def resumed(base: str, key: str, last: int, count: int) -> list[int]:
    """The ids a stream resumed after `last` sends, until `count` have come."""
    reader = StreamReader(
        base + "/api/events/stream",
        headers={"Authorization": f"Bearer {key}", "Last-Event-ID": str(last)},
    )
    try:
        return [int(frame.id or 0) for frame in reader.events(count, timeout=30)]
    finally:
        reader.close()


@pytest.fixture
def key(services: Services) -> str:
    return services.keys.create(PROJECT, "user-id")[1]


def test_a_client_that_stops_reading_is_disconnected_and_resumes_losing_nothing(
    services: Services, key: str
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    with (
        running(services),
        serve_process(services, port, STREAM_BUFFER=str(BUFFER)) as server,
        httpx.Client(base_url=base, headers=headers, timeout=30) as client,
    ):
        resource = create(client, name="big")
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", port))
        request = f"GET /api/events/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
        sock.sendall(request.encode() + b"\r\n")
        time.sleep(0.5)
        rss_before = rss_kib(server.pid)
        # Events of ~20 KB each (a description changed from one 10,000-character text to
        # another), and the client reads none of them.
        written = 0
        while metric(base, "resources_event_streams_closed_slow_total") < 1:
            text = chr(ord("a") + written % 26) * 10_000
            assert client.patch(f"/api/resources/{resource['id']}", json={"description": text})
            written += 1
            assert written < 3000, "the stream was never closed"
        assert metric(base, "resources_event_streams_open") == 0
        # Its buffer went with it: the server holds no more than before, give or take.
        assert rss_kib(server.pid) - rss_before < 60_000

        sock.settimeout(10)
        raw = b""
        try:
            while chunk := sock.recv(1 << 16):
                raw += chunk
        except ConnectionResetError:
            pass  # aborted: what was in flight may be cut anywhere
        sock.close()
        received = ids_in(raw)
        everything = positions(client, services)
        assert received == everything[: len(received)]
        rest = everything[len(received) :]
        assert rest, "the stream was closed only after it had sent everything"
        assert resumed(base, key, received[-1] if received else 0, len(rest)) == rest


def test_sigterm_ends_streams_cleanly_and_they_resume_on_the_next_server(
    services: Services, key: str
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {key}"}
    with running(services), httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        with serve_process(services, port) as server:
            for number in range(3):
                create(client, name=f"before {number}")
            reader = StreamReader(base + "/api/events/stream", headers=headers)
            seen = [int(frame.id or 0) for frame in reader.events(3)]
            stopped_at = time.monotonic()
            server.send_signal(signal.SIGTERM)
            assert reader.ended.wait(10), "the stream outlived SIGTERM"
            assert reader.error is None, reader.error  # ended, not cut
            # uvicorn stops, then ends by the signal it was sent, as a service manager expects.
            assert server.wait(timeout=20) in (0, -signal.SIGTERM)
            assert time.monotonic() - stopped_at < 10
            reader.close()
        with serve_process(services, port):
            after: list[dict[str, Any]] = [
                create(client, name=f"after {number}") for number in range(2)
            ]
            everything = positions(client, services)
            assert everything[:3] == seen
            assert resumed(base, key, seen[-1], len(everything) - 3) == everything[3:]
            assert len(after) == len(everything) - 3
