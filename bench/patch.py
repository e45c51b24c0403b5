"""PATCH and GET throughput against the CRUD anchor, flatness with history, scale-out."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from bench.common import free_port, server, service_command
from bench.load import LoadResult, median, wrk

RESOURCES = 1000
ROUNDS = 3


@dataclass(frozen=True)
class Comparison:
    label: str
    service: LoadResult
    anchor: LoadResult

    @property
    def ratio(self) -> float:
        return self.service.rps / self.anchor.rps

    @property
    def p99_ratio(self) -> float:
        return self.service.p99_ms / self.anchor.p99_ms


def seed(database_url: str, data_dir: str) -> tuple[str, int, int]:
    """1,000 resources of project 4 (ids 1..1000), one with 10,000 events, one new; a key."""
    from api.services import Services
    from api.settings import Settings
    from tests.seeding import long_history
    from tests.seeding import seed as seed_resources

    services = Services(
        Settings.from_env({"DATABASE_URL": database_url, "DATA_DIR": data_dir, "SIGNING_KEY": "b"})
    )
    try:
        seed_resources(services, resources=RESOURCES, changes_each=0, links=True)
        long = long_history(services, project_id=4, events=10_000)
        new = long_history(services, project_id=4, events=1, name="new")
        _, key = services.keys.create(4, "user-id")
        return key, long.resource_id, new.resource_id
    finally:
        services.close()


@dataclass(frozen=True)
class PatchFigures:
    comparisons: list[Comparison]
    flat_new: LoadResult
    flat_long: LoadResult
    two_workers: LoadResult


def run(database_url: str, data_dir: str) -> PatchFigures:
    key, long_id, new_id = seed(database_url, data_dir)
    env = {
        "DATABASE_URL": database_url,
        "DATA_DIR": data_dir,
        "SIGNING_KEY": "b",
        "LOG_LEVEL": "WARNING",
    }
    anchor_port, service_port = free_port(), free_port()
    anchor_command = [
        sys.executable,
        "-m",
        "uvicorn",
        "bench.crud_baseline:app",
        "--port",
        str(anchor_port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    with (
        server(env, anchor_command, anchor_port, wait_for_health=False) as anchor,
        server(env, service_command(service_port), service_port) as service,
    ):
        _wait_for(anchor)
        for base, token in ((anchor, "bench-key"), (service, key)):  # warm up both
            wrk(base, "patch.lua", str(RESOURCES), token, seconds=3)
        comparisons = []
        for label, script, count, seconds in (
            ("PATCH (rename)", "patch.lua", RESOURCES, 10),
            ("GET one", "get.lua", RESOURCES, 5),
            ("GET list page", "get.lua", 0, 5),
        ):
            ours, theirs = [], []
            for _ in range(ROUNDS):
                theirs.append(wrk(anchor, script, str(count), "bench-key", seconds=seconds))
                ours.append(wrk(service, script, str(count), key, seconds=seconds))
            comparisons.append(Comparison(label, median(ours), median(theirs)))
        flat_new = wrk(service, "patch_one.lua", str(new_id), key, seconds=5, connections=1)
        flat_long = wrk(service, "patch_one.lua", str(long_id), key, seconds=5, connections=1)
    two_port = free_port()
    with server(env, service_command(two_port, workers=2), two_port) as two_workers:
        wrk(two_workers, "patch.lua", str(RESOURCES), key, seconds=3)
        two = wrk(two_workers, "patch.lua", str(RESOURCES), key, seconds=10)
    return PatchFigures(comparisons, flat_new, flat_long, two)


def _wait_for(base: str) -> None:
    import time

    import httpx

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(base + "/api/resources/1", headers={"Authorization": "Bearer bench-key"})
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the CRUD anchor did not start")
