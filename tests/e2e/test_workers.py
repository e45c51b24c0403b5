"""`resources serve --workers 2`: worker processes on one port, stopped together."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from api.composition.services import Services
from domain.resource import resource_uuid
from tests.e2e.flows import create
from tests.e2e.servers import describe_concurrently, free_port, wait_until_healthy
from tests.storage import cli_env

CLIENTS = 20


def children(pid: int) -> list[int]:
    listed = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in listed]


def test_two_workers_share_a_port_lose_no_update_and_stop_together(
    client: httpx.Client, services: Services
) -> None:
    resource = create(client)
    port = free_port()
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "api.cli.commands", "serve", "--no-projections"),
            *("--port", str(port), "--workers", "2"),
        ],
        env=cli_env(services.settings),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base)
        workers = children(process.pid)
        assert len(workers) >= 2  # (multiprocessing may add a helper of its own)

        # Each PATCH on a new connection: the kernel spreads them over the workers.
        token = client.headers["authorization"]
        statuses = describe_concurrently([base], resource["id"], token, CLIENTS)

        assert statuses == [200] * CLIENTS
        stored = services.events.recorder.select_events(resource_uuid(resource["id"]))
        assert len(stored) == 1 + CLIENTS
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    deadline = time.monotonic() + 10  # a helper process notices its parent is gone
    while any(Path(f"/proc/{worker}").exists() for worker in workers):
        assert time.monotonic() < deadline, "a worker outlived the server"
        time.sleep(0.1)


def test_workers_that_cannot_start_end_the_server_with_an_error(
    services: Services,
) -> None:
    with socket.socket() as taken:  # a port someone else listens on, without SO_REUSEPORT
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "api.cli.commands", "serve", "--no-projections"),
                *("--port", str(port), "--workers", "2"),
            ],
            env=cli_env(services.settings),
        )
        try:
            assert process.wait(timeout=60) != 0
        finally:
            process.kill()
