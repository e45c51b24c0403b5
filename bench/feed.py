"""How soon a new event appears in the activity feed (append to visible), over HTTP."""

from __future__ import annotations

import sys
import time

import httpx

from bench.common import Latency, free_port, server, service_command

SAMPLES = 100


def run(database_url: str, data_dir: str) -> Latency:
    from api.services import Services
    from api.settings import Settings

    env = {
        "DATABASE_URL": database_url,
        "DATA_DIR": data_dir,
        "SIGNING_KEY": "bench-signing-key-of-at-least-32-bytes",
        "LOG_LEVEL": "WARNING",
    }
    services = Services(Settings.from_env(env))
    try:
        _, key = services.keys.create(1, "bench")
    finally:
        services.close()
    port = free_port()
    runner_command = [sys.executable, "-m", "api.cli", "projections", "run"]
    with (
        server(env, service_command(port), port) as base,
        server(env, runner_command, port, wait_for_health=False),
    ):
        client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"})
        samples = []
        for number in range(-10, SAMPLES):
            begun = time.perf_counter()
            created = client.post("/api/resources", json={"name": f"f{number}"}).json()
            resource_id = created["data"]["resource"]["id"]
            while True:
                feed = client.get("/api/activity", params={"resource_id": resource_id}).json()
                if feed["data"]["events"]:
                    break
                time.sleep(0.002)
            if number >= 0:  # the first ones wait for the runner to start
                samples.append((time.perf_counter() - begun) * 1000)
        return Latency.of(samples)
