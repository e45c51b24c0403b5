"""Rebuild speed and memory for the `resources` read model, against the library's runner.

Seeds the store (resources with ten events each), then:
- times `resources projections rebuild resources` in a process of its own, at two
  sizes, reading its peak memory (it must not grow with the number of events);
- runs the library's `ProjectionRunner` — a `PostgresTrackingRecorder` view whose
  row writes and tracking record share one transaction per event — over the same
  store for a while, and reports the ratio of the two rates.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
from eventsourcing.application import Application
from eventsourcing.dispatch import singledispatchmethod
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from eventsourcing.projection import Projection, ProjectionRunner

from adapters.read_models.resources import ResourcesProjection
from adapters.read_models.tables import create_table_statements
from projections.resources import RESOURCES

BASELINE_SECONDS = 20.0


@dataclass(frozen=True)
class RebuildRun:
    events: int
    seconds: float
    rate: float
    peak_rss_mib: float
    swap_ms: float


def seed(database_url: str, data_dir: str, resources: int) -> int:
    from api.composition.services import Services
    from api.composition.settings import Settings
    from tests.seeding import seed as seed_events

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
        return seed_events(services, resources=resources, changes_each=9)
    finally:
        services.close()


def timed_rebuild(database_url: str, data_dir: str) -> RebuildRun:
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DATA_DIR": data_dir,
        "SIGNING_KEY": "bench-signing-key-of-at-least-32-bytes",
        "LOG_LEVEL": "WARNING",
    }
    launcher = (
        "import resource, sys\n"
        "from api.cli.commands import main\n"
        "code = main(['projections', 'rebuild', 'resources', '--restart'])\n"
        "print('PEAK_KIB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
        "sys.exit(code)\n"
    )
    finished = subprocess.run(
        [sys.executable, "-c", launcher], env=env, capture_output=True, text=True, check=False
    )
    if finished.returncode != 0:
        raise RuntimeError(f"the rebuild failed: {finished.stderr.strip()[-600:]}")
    lines = finished.stdout.strip().splitlines()
    peak_kib = int(lines[-1].split()[1])
    summary = lines[-2]
    events = int(summary.split("rebuilt ")[1].split(" events")[0].replace(",", ""))
    seconds = float(summary.split(" in ")[1].split(" s ")[0])
    swap_ms = float(summary.split("swapped in ")[1].split(" ms")[0])
    return RebuildRun(
        events=events,
        seconds=seconds,
        rate=events / seconds,
        peak_rss_mib=peak_kib / 1024,
        swap_ms=swap_ms,
    )


class StoreReader(Application[UUID]):
    """The service's event store, as the library's runner reads it."""

    name = "Resources"


class BaselineView(PostgresTrackingRecorder):
    """A read-model table and its tracking record, written in one transaction per event."""

    table = "resources_baseline"

    def __init__(self, datastore: PostgresDatastore, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.sql_create_statements.extend(create_table_statements(RESOURCES, self.table))
        self.projection: ResourcesProjection | None = None
        # The runner starts processing in its own thread as soon as it exists,
        # before the benchmark has handed the view its projection.
        self.ready = threading.Event()

    def apply(self, event: Aggregate.Event, tracking: Tracking) -> None:
        self.ready.wait()
        assert self.projection is not None
        stored = self.projection.mapper.to_stored_event(event)
        with self.datastore.transaction(commit=True) as curs:
            self.projection.apply_stored(curs, [stored])
            self._insert_tracking(curs, tracking)


class BaselineProjection(Projection[BaselineView]):
    name = "baseline"
    topics: tuple[str, ...] = ()

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        if isinstance(domain_event, Aggregate.Event):
            self.view.apply(domain_event, tracking)
        else:
            self.view.insert_tracking(tracking)


def library_runner_rate(database_url: str) -> tuple[int, float]:
    """Events the library's runner projects in BASELINE_SECONDS, and its rate."""
    from psycopg.conninfo import conninfo_to_dict

    from adapters.database import eventsourcing_env

    env = eventsourcing_env(database_url, pool_size=2)
    params = conninfo_to_dict(database_url)
    del params
    with ProjectionRunner(
        application_class=StoreReader,
        projection_class=BaselineProjection,
        view_class=BaselineView,
        env={**env, "CREATE_TABLE": "y"},
    ) as runner:
        view = runner.projection.view
        view.projection = ResourcesProjection(runner.app.mapper, table=BaselineView.table)
        view.ready.set()
        started = time.perf_counter()
        first = view.max_tracking_id("Resources") or 0
        time.sleep(BASELINE_SECONDS)
        done = (view.max_tracking_id("Resources") or 0) - first
        seconds = time.perf_counter() - started
    return done, done / seconds


def run(database_url: str, data_dir: str, sizes: tuple[int, ...]) -> list[RebuildRun]:
    """Rebuilds at each size (in resources, ten events each), growing the store."""
    runs = []
    seeded = 0
    for size in sizes:
        seeded += seed(database_url, data_dir, size - seeded // 10)
        runs.append(timed_rebuild(database_url, data_dir))
    return runs


@dataclass(frozen=True)
class SwapWait:
    requests: int
    p50_ms: float
    longest_ms: float
    """The slowest request while the rebuild ran, its swap included."""
    swap_ms: float
    failed: int


def requests_during_a_rebuild(database_url: str, data_dir: str) -> SwapWait:
    """Renames and reads through a server while a rebuild of `resources` runs and swaps:
    what the swap costs the requests that meet it."""
    from api.composition.services import Services
    from api.composition.settings import Settings
    from bench.common import free_port, server, service_command

    env = {
        "DATABASE_URL": database_url,
        "DATA_DIR": data_dir,
        "SIGNING_KEY": "bench-signing-key-of-at-least-32-bytes",
        "LOG_LEVEL": "WARNING",
    }
    services = Services(Settings.from_env(env), pool_size=1)
    try:
        _, key = services.keys.create(4, "bench")
    finally:
        services.close()
    port = free_port()
    latencies: list[float] = []
    failed = 0
    failures: list[str] = []
    stop = threading.Event()

    def load(base: str, offset: int) -> None:
        nonlocal failed
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            number = 0
            while not stop.is_set():
                number += 1
                resource_id = 1 + (offset + number) % 1000
                started = time.perf_counter()
                if number % 2:
                    response = client.patch(
                        f"/api/resources/{resource_id}", json={"name": f"swap-{offset}-{number}"}
                    )
                else:
                    response = client.get(f"/api/resources/{resource_id}")
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    failed += 1
                    failures.append(f"{response.status_code} {response.text[:160]}")

    with server(env, service_command(port), port) as base:
        threads = [threading.Thread(target=load, args=(base, n * 100)) for n in range(4)]
        for thread in threads:
            thread.start()
        try:
            rebuilt = timed_rebuild(database_url, data_dir)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
    ordered = sorted(latencies)
    if failures:
        print(f"  failed requests, first of {len(failures)}: {failures[0]}", file=sys.stderr)
    return SwapWait(
        requests=len(ordered),
        p50_ms=ordered[len(ordered) // 2] if ordered else 0.0,
        longest_ms=ordered[-1] if ordered else 0.0,
        swap_ms=rebuilt.swap_ms,
        failed=failed,
    )
