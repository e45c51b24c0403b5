"""Two server processes on one database: every acknowledged change is an event."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from api.composition.services import Services
from domain.resource import resource_uuid
from tests.e2e.flows import create
from tests.e2e.servers import describe_concurrently, free_port, wait_until_healthy
from tests.storage import cli_env

CLIENTS = 20


@pytest.fixture
def two_servers(services: Services) -> Iterator[list[str]]:
    env = cli_env(services.settings)
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen(
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
        )
        for port in ports
    ]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        wait_until_healthy(*bases)
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

    statuses = describe_concurrently(two_servers, resource["id"], token, CLIENTS)

    assert statuses == [200] * CLIENTS
    stored = services.events.recorder.select_events(resource_uuid(resource["id"]))
    assert len(stored) == 1 + CLIENTS
    after = client.get(f"/api/resources/{resource['id']}")
    assert after.headers["etag"] == f'"{1 + CLIENTS}"'
