"""What two things beside the write path cost: the projection runner, and URL signing.

- The runner (`resources projections run`, which `resources serve` starts beside
  the server) is started on a store, left to settle, and stopped (SIGSTOP); a
  known number of events is appended; then it is let go (SIGCONT) and its CPU
  time (from /proc) is read once it has projected them all: catching up, in
  batches of up to 500. What it costs live, one PATCH at a time, is in the PATCH
  section (its CPU over the PATCHes of the `make run` variant).
- Signing a download URL (`UrlSigner.content_url`, what each answer about an
  uploaded file in the file store calls once, and a list page once per file) is
  timed in this process with timeit.
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
import timeit
from dataclasses import dataclass

from api.composition.services import Services
from api.composition.signing import UrlSigner
from bench.common import cpu_seconds, free_port, fresh_database, server_process
from bench.patch import UPSTREAM, env_of, open_services
from bench.seeding import seed_uploaded_files

CATCH_UP_RESOURCES = 2_000
RENAMES_EACH = 8
"""Each resource: registered, renamed 8 times, its upload confirmed: 10 events."""


@dataclass(frozen=True)
class RunnerCost:
    events: int
    cpu_seconds: float
    wall_seconds: float

    @property
    def ms_per_thousand(self) -> float:
        return self.cpu_seconds / self.events * 1_000_000

    @property
    def rate(self) -> float:
        return self.events / self.wall_seconds


def runner_catch_up(server_url: str) -> RunnerCost:
    database_url = fresh_database(server_url, "bench_costs")
    data_dir = tempfile.mkdtemp()
    services = open_services(database_url, data_dir)
    command = [sys.executable, "-m", "api.cli.commands", "projections", "run"]

    def position() -> tuple[int, int]:
        head = services.events.projecting_recorder.max_notification_id() or 0
        return services.activity.max_tracking_id(UPSTREAM) or 0, head

    try:
        env = env_of(database_url, data_dir)
        with server_process(env, command, free_port(), wait_for_health=False) as (_, runner):
            _settle(runner.pid, services)
            os.kill(runner.pid, signal.SIGSTOP)
            try:
                start, _ = position()
                seed_uploaded_files(
                    services, resources=CATCH_UP_RESOURCES, renames_each=RENAMES_EACH
                )
                cpu = cpu_seconds(runner.pid)
            finally:
                os.kill(runner.pid, signal.SIGCONT)
            started = time.perf_counter()
            deadline = time.monotonic() + 300
            done, head = position()
            while done < head:
                if time.monotonic() > deadline or runner.poll() is not None:
                    raise RuntimeError(f"the projection runner stopped at {done} of {head}")
                time.sleep(0.02)
                done, head = position()
            wall = time.perf_counter() - started
            used = cpu_seconds(runner.pid) - cpu
        return RunnerCost(events=done - start, cpu_seconds=used, wall_seconds=wall)
    finally:
        services.close()


def _settle(pid: int, services: Services, timeout: float = 60.0) -> None:
    """Waits until the runner holds its lock and has stopped using CPU (its start-up)."""
    deadline = time.monotonic() + timeout
    while not any(s.kind == "async" and s.runner == "active" for s in services.projection_status()):
        if time.monotonic() > deadline:
            raise RuntimeError("the projection runner did not start")
        time.sleep(0.1)
    last = cpu_seconds(pid)
    while True:
        time.sleep(0.3)
        now = cpu_seconds(pid)
        if now - last < 0.02 or time.monotonic() > deadline:
            return
        last = now


def signing_us() -> float:
    """Microseconds per `UrlSigner.content_url` call: the best of five timeit runs."""
    signer = UrlSigner(b"k" * 64, "http://127.0.0.1:8000", 3600)
    number = 20_000
    timer = timeit.Timer(lambda: signer.content_url("GET", 123_456))
    return min(timer.repeat(repeat=5, number=number)) / number * 1_000_000
