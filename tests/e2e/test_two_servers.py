"""Two server processes on one database: every acknowledged change is an event."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from api.services import Services
from domain.resource import resource_uuid
from tests.e2e.flows import create
from tests.storage import cli_env

CLIENTS = 20


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def two_servers(services: Services) -> Iterator[list[str]]:
    env = cli_env(services.settings)
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "api.cli", "serve", "--no-projections", "--port", str(port)],
            env=env,
        )
        for port in ports
    ]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + 30
        for base in bases:
            while True:
                try:
                    httpx.get(base + "/health", timeout=1)
                    break
                except httpx.HTTPError:
                    assert time.monotonic() < deadline, "a server did not start"
                    time.sleep(0.1)
        yield bases
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=20)


def test_two_servers_on_one_database_lose_no_update(
    client: httpx.Client, services: Services, two_servers: list[str]
) -> None:
    resource = create(client)
    token = client.headers["authorization"]

    def describe(number: int) -> int:
        base = two_servers[number % 2]
        response = httpx.patch(
            f"{base}/api/resources/{resource['id']}",
            json={"description": f"from client {number}"},
            headers={"Authorization": token},
            timeout=30,
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        statuses = list(pool.map(describe, range(CLIENTS)))
    assert statuses == [200] * CLIENTS
    stored = services.resources.recorder.select_events(resource_uuid(resource["id"]))
    assert len(stored) == 1 + CLIENTS
    after = client.get(f"/api/resources/{resource['id']}")
    assert after.headers["etag"] == f'"{1 + CLIENTS}"'
