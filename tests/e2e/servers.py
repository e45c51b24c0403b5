"""Server processes that end-to-end tests start beside the in-process one."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import uvicorn
from opentelemetry.sdk.trace import TracerProvider

from api.composition.services import Services
from api.composition.settings import Settings
from api.http.app import create_app
from tests.storage import cli_env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_healthy(*bases: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    for base in bases:
        while True:
            try:
                httpx.get(base + "/health", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, f"the server at {base} did not start"
                time.sleep(0.1)


def describe_concurrently(
    bases: list[str], resource_id: int, token: str, clients: int
) -> list[int]:
    """`clients` PATCHes of one resource at once, each on a new connection, round-robin
    over `bases`; their status codes."""

    def describe(number: int) -> int:
        response = httpx.patch(
            f"{bases[number % len(bases)]}/api/resources/{resource_id}",
            json={"description": f"from client {number}"},
            headers={"Authorization": token},
            timeout=30,
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=clients) as pool:
        return list(pool.map(describe, range(clients)))


@contextmanager
def serving(
    services: Services,
    port: int,
    *,
    tracer_provider: TracerProvider | None = None,
    settings: Settings | None = None,
) -> Iterator[str]:
    """The app over `services` (with `settings`, if given, for the app's own), served in
    this process on a port; its base URL."""
    app = create_app(settings or services.settings, services, tracer_provider=tracer_provider)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise AssertionError("the HTTP server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def serve_process(services: Services, port: int, **env: str) -> Iterator[subprocess.Popen[bytes]]:
    """`resources serve` (its runner left to the test) on `port`, with the test's settings
    and `env`, healthy when entered; stopped with SIGTERM, as an orchestrator stops it."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "api.cli.commands",
            "serve",
            "--no-projections",
            "--port",
            str(port),
        ],
        env={**cli_env(services.settings), **env},
    )
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}")
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
