"""How soon a new event appears in the activity feed (append to visible), over HTTP.

`run`: one client, nothing else running: from a POST's request to its event in
`GET /api/activity`, 100 times.

`under_load`: the service as `make run` serves it (its projection runner beside it,
uploaded files, LOG_LEVEL=INFO), PATCHed by the in-repo generator paced at
`RATE` renames a second (each one appends one event) for `LOAD_SECONDS`.
Meanwhile `SAMPLERS` clients each POST a new resource every `SAMPLE_EVERY`
seconds (appends too) and read `GET /api/activity?resource_id=` every `POLL`
seconds until its event is there: the time from the POST's answer to the answer
that shows the event. The appends a second reached are read from the store's head
over the same window as the samples.
"""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from bench.common import (
    Latency,
    child_process,
    free_port,
    server,
    server_process,
    service_command,
    settle,
)
from bench.load import LoadResult, paced, wrk

SAMPLES = 100
RATE = 1000
"""PATCHes a second the load is paced at: with the samples' POSTs, ~1,000 appends a second."""
LOAD_SECONDS = 30
CONNECTIONS = 64
SAMPLERS = 4
SAMPLE_EVERY = 0.4
"""Seconds between one sampler's POSTs: with `SAMPLERS`, 10 samples a second."""
POLL = 0.01
SAMPLE_TIMEOUT = 10.0
"""A sample whose event is not in the feed this long after its POST's answer counts as missing."""
RAMP_SECONDS = 2.0
"""The samples start this long after the load, and stop as long before its end."""


def run(database_url: str, data_dir: str) -> Latency:
    from api.composition.services import Services
    from api.composition.settings import Settings

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
    runner_command = [sys.executable, "-m", "api.cli.commands", "projections", "run"]
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


@dataclass(frozen=True)
class FeedUnderLoad:
    latency: Latency
    """From an append's answer to the answer of the first read that shows its event."""
    missing: int
    """Samples whose event was not in the feed within `SAMPLE_TIMEOUT`."""
    appends_per_second: float
    """Events appended a second while the samples ran (the store's head, before and after)."""
    load: LoadResult
    """The paced PATCHes (their latency from sending, not from when they were due)."""


def under_load(database_url: str, data_dir: str) -> FeedUnderLoad:
    from bench.patch import FILES, RESOURCES, Target, env_of, open_services, seed_files

    services = open_services(database_url, data_dir)
    try:
        key = seed_files(services)
        env = env_of(database_url, data_dir)
        env["LOG_LEVEL"] = "INFO"  # as make run: every request writes its log line
        port = free_port()
        with server_process(env, service_command(port, projections=True), port) as (
            base,
            process,
        ):
            target = Target(FILES, base, key, services, process.pid, None)
            target.runner_pid = child_process(process.pid, "projections run")
            target.caught_up()  # the seeded events
            wrk(base, "patch.lua", str(RESOURCES), key, seconds=3)  # warm up
            target.caught_up()
            settle(database_url)
            recorder = services.events.projecting_recorder
            with ThreadPoolExecutor(max_workers=1 + SAMPLERS) as pool:
                load = pool.submit(
                    paced,
                    *(base, "patch.lua", str(RESOURCES), key),
                    seconds=LOAD_SECONDS,
                    connections=CONNECTIONS,
                    rate=RATE,
                )
                time.sleep(RAMP_SECONDS)  # the generator starts, the load reaches its pace
                first, began = recorder.max_notification_id() or 0, time.perf_counter()
                until = began + LOAD_SECONDS - 2 * RAMP_SECONDS
                samplers = [
                    pool.submit(
                        _samples, base, key, began + number * SAMPLE_EVERY / SAMPLERS, until
                    )
                    for number in range(SAMPLERS)
                ]
                time.sleep(max(0.0, until - time.perf_counter()))
                last, ended = recorder.max_notification_id() or 0, time.perf_counter()
                samples = [
                    sample
                    for sampler in samplers
                    for sample in sampler.result(timeout=SAMPLE_TIMEOUT + 60)
                ]
                result = load.result(timeout=LOAD_SECONDS + 60)
        seen = [sample for sample in samples if sample is not None]
        return FeedUnderLoad(
            latency=Latency.of(seen),
            missing=len(samples) - len(seen),
            appends_per_second=(last - first) / (ended - began),
            load=result,
        )
    finally:
        services.close()


def _samples(base: str, key: str, first_at: float, until: float) -> list[float | None]:
    """One sampler: a POST every `SAMPLE_EVERY` seconds from `first_at` (perf_counter)
    until `until`, each followed by reads of the feed until its event shows; for each,
    the milliseconds from the POST's answer to that read's answer (None: missing)."""
    found: list[float | None] = []
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
        due = first_at
        while due < until:
            time.sleep(max(0.0, due - time.perf_counter()))
            created = client.post("/api/resources", json={"name": f"sample-{due:.3f}"})
            answered = time.perf_counter()
            created.raise_for_status()
            resource_id = created.json()["data"]["resource"]["id"]
            seen = None
            while seen is None and time.perf_counter() - answered < SAMPLE_TIMEOUT:
                feed = client.get("/api/activity", params={"resource_id": resource_id})
                if feed.json()["data"]["events"]:
                    seen = (time.perf_counter() - answered) * 1000
                else:
                    time.sleep(POLL)
            found.append(seen)
            due += SAMPLE_EVERY
    return found
