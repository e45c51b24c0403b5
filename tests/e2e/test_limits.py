"""Limits that keep one client from holding a server: slow heads, stalled uploads,
expired Idempotency-Key outcomes, and a /metrics that can ask for a token."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from api.composition.services import Services
from tests.e2e.flows import create, error
from tests.e2e.servers import free_port, wait_until_healthy
from tests.storage import cli_env


@pytest.fixture
def strict_server(services: Services) -> Iterator[str]:
    port = free_port()
    env = {
        **cli_env(services.settings),
        "PORT": str(port),
        "REQUEST_HEAD_TIMEOUT": "1",
        "UPLOAD_IDLE_TIMEOUT": "1",
        "METRICS_TOKEN": "scrape-me",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "api.cli.commands",
            "serve",
            "--no-projections",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_client_that_never_finishes_its_headers_is_dropped(strict_server: str) -> None:
    port = int(strict_server.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
        slow.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # and nothing more
        started = time.monotonic()
        assert slow.recv(1024) == b""  # closed by the server
        assert time.monotonic() - started < 5


def test_a_stalled_upload_is_dropped_and_its_bytes_discarded(
    strict_server: str, services: Services
) -> None:
    _, secret = services.keys.create(4, "user-id")
    with httpx.Client(
        base_url=strict_server, headers={"Authorization": f"Bearer {secret}"}, timeout=30
    ) as client:
        resource = create(client, size_bytes=6)

        def stalling() -> Iterator[bytes]:
            yield b"abc"
            time.sleep(3)  # past UPLOAD_IDLE_TIMEOUT
            yield b"def"

        try:
            response = httpx.put(resource["upload_url"], content=stalling(), timeout=30)
            assert error(response, 408)["code"] == "request_timeout"
        except httpx.HTTPError:
            pass  # the server may close the connection before the client reads the 408
        confirm = client.patch(f"/api/resources/{resource['id']}", json={"status": "uploaded"})
        assert error(confirm, 409)["code"] == "upload_incomplete"


def test_metrics_ask_for_the_token_when_one_is_set(strict_server: str) -> None:
    assert error(httpx.get(f"{strict_server}/metrics"), 401)["code"] == "unauthorized"
    wrong = httpx.get(f"{strict_server}/metrics", headers={"Authorization": "Bearer no"})
    assert wrong.status_code == 401
    right = httpx.get(f"{strict_server}/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert right.status_code == 200
    assert "resources_requests_total" in right.text
    assert right.headers["content-type"].count("charset") == 1


def test_a_request_that_is_not_http_gets_the_error_envelope(strict_server: str) -> None:
    port = int(strict_server.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(b"GARBAGE\x00 / HTTP/1.1\r\n\r\n")
        answer = b""
        while chunk := client.recv(4096):  # until the server closes the connection
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400")
    assert b'{"error": {"code": "bad_request"' in answer


def test_expired_idempotency_outcomes_are_swept(
    client: httpx.Client, services: Services, acting: object
) -> None:
    client.post("/api/resources", json={"name": "a"}, headers={"Idempotency-Key": "old"})
    client.post("/api/resources", json={"name": "b"}, headers={"Idempotency-Key": "new"})
    with services.datastore.transaction(commit=True) as curs:
        curs.execute(
            "UPDATE idempotency_outcomes SET created_at = now() - interval '25 hours'"
            " WHERE key = 'old'"
        )
    swept = services_sweep(services)
    assert swept == 1
    with services.datastore.get_connection() as conn:
        keys = [row["key"] for row in conn.execute("SELECT key FROM idempotency_outcomes")]
    assert keys == ["new"]


def services_sweep(services: Services) -> int:
    with services.blocking() as resources:
        return resources.call(resources.service.forget_old_outcomes)
