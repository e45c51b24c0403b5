"""History page, ?version and ?as_of on a resource with 10,000 events, over HTTP."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx

from bench.common import Latency, free_port, server, service_command

EVENTS = 10_000
SAMPLES = 500


def seed(database_url: str, data_dir: str) -> tuple[int, str, datetime, datetime]:
    """One resource with EVENTS events (renames), appended in batches; and a key."""
    from api.composition.services import Services
    from api.composition.settings import Settings
    from tests.seeding import long_history

    services = Services(
        Settings.from_env(
            {
                "DATABASE_URL": database_url,
                "DATA_DIR": data_dir,
                "SIGNING_KEY": "bench-signing-key-of-at-least-32-bytes",
            }
        )
    )
    try:
        resource = long_history(services, project_id=1, events=EVENTS)
        started = resource.created_on
        _, key = services.keys.create(1, "bench")
        return resource.resource_id, key, started, resource.modified_on
    finally:
        services.close()


def measure(
    base: str, key: str, resource_id: int, started: datetime, ended: datetime
) -> dict[str, Latency]:
    client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    span = (ended - started).total_seconds()
    path = f"/api/resources/{resource_id}"
    requests: dict[str, Callable[[], httpx.Response]] = {
        "history page (20 events)": lambda: client.get(
            path + "/history", params={"page": random.randint(1, EVENTS // 20), "per_page": 20}
        ),
        "GET ?version=N": lambda: client.get(path, params={"version": random.randint(1, EVENTS)}),
        "GET ?as_of=T": lambda: client.get(
            path,
            params={"as_of": (started + timedelta(seconds=random.uniform(0, span))).isoformat()},
        ),
        "GET (current)": lambda: client.get(path),
    }
    figures = {}
    for label, request in requests.items():
        for _ in range(20):
            request()
        samples = []
        for _ in range(SAMPLES):
            begun = time.perf_counter()
            response = request()
            samples.append((time.perf_counter() - begun) * 1000)
            assert response.status_code == 200, response.text
        figures[label] = Latency.of(samples)
    return figures


def run(database_url: str, data_dir: str) -> dict[str, Latency]:
    resource_id, key, started, ended = seed(database_url, data_dir)
    port = free_port()
    env = {
        "DATABASE_URL": database_url,
        "DATA_DIR": data_dir,
        "SIGNING_KEY": "bench-signing-key-of-at-least-32-bytes",
        "LOG_LEVEL": "WARNING",
    }
    with server(env, service_command(port), port) as base:
        return measure(base, key, resource_id, started, ended.astimezone(UTC))
