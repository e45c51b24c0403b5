"""Reads with a read replica against the primary alone, and Session-Token reads.

On a cluster of the bench's own (bench/postgres_cluster.py): a primary and an
asynchronous streaming replica, both on this machine. The same server, as `make run`
serves it, once on the primary alone and once with DATABASE_REPLICA_URL; rounds
alternate so that the machine's drift falls on both. The replica shares this
machine's cores, so the ratio shows what routing costs here, not what a replica on
a machine of its own adds.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import psycopg

from bench.common import Latency, free_port, server, service_command
from bench.load import LoadResult, median, wrk
from bench.patch import env_of, open_services, seed_files
from bench.postgres_cluster import Cluster, postgres_binaries

ROUNDS = 3
SECONDS = 5
READS = {
    "GET one": "/api/resources/{id}",
    "list page": "/api/resources?per_page=20",
    "feed page": "/api/events?limit=100",
}
PAIRS = 300


@dataclass(frozen=True)
class ReadFigures:
    primary: dict[str, LoadResult]
    replica: dict[str, LoadResult]
    token_reads: Latency
    plain_reads: Latency
    primary_reads: Latency
    missed: int
    plain_missed: int


def run() -> ReadFigures | str:
    """The figures, or why they could not be measured."""
    if postgres_binaries() is None:
        return "skipped: no PostgreSQL binaries (pg_config --bindir) to start a replica with"
    with Cluster(sync=False) as cluster:
        replica = cluster.add_standby("replica", synchronous=False)
        data_dir = tempfile.mkdtemp(prefix="bench-replica-")
        services = open_services(cluster.primary.url, data_dir)
        try:
            key = seed_files(services)
        finally:
            services.close()
        _caught_up(cluster.primary.url, replica.url)
        env = env_of(cluster.primary.url, data_dir)
        with_replica = {**env, "DATABASE_REPLICA_URL": replica.url}
        primary: dict[str, list[LoadResult]] = {label: [] for label in READS}
        replicated: dict[str, list[LoadResult]] = {label: [] for label in READS}
        for _ in range(ROUNDS):
            for settings, results in ((env, primary), (with_replica, replicated)):
                with _serving(settings) as base:
                    for label, path in READS.items():
                        results[label].append(
                            wrk(base, "scale.lua", "1:1:1000", key, "GET", path, seconds=SECONDS)
                        )
        with _serving(env) as base:
            primary_reads, _ = _pairs(base, key, token=False)
        with _serving(with_replica) as base:
            plain_reads, plain_missed = _pairs(base, key, token=False)
            token_reads, missed = _pairs(base, key, token=True)
    return ReadFigures(
        primary={label: median(runs) for label, runs in primary.items()},
        replica={label: median(runs) for label, runs in replicated.items()},
        token_reads=token_reads,
        plain_reads=plain_reads,
        primary_reads=primary_reads,
        missed=missed,
        plain_missed=plain_missed,
    )


@contextmanager
def _serving(env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    with server(env, service_command(port, projections=True), port) as base:
        yield base


def _caught_up(primary: str, replica: str, seconds: float = 60) -> None:
    with psycopg.connect(primary, autocommit=True) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    deadline = time.monotonic() + seconds
    with psycopg.connect(replica, autocommit=True) as conn:
        while True:
            done = conn.execute(
                "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (row[0],)
            ).fetchone()
            if done and done[0]:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("the replica did not catch up with the seeding")
            time.sleep(0.2)


def _pairs(base: str, key: str, *, token: bool) -> tuple[Latency, int]:
    """PAIRS renames, each followed at once by a read of the renamed resource (with the
    write's Session-Token, or without): the reads' latency, and how many missed their
    write."""
    samples_ms: list[float] = []
    missed = 0
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
        for number in range(PAIRS):
            resource_id = 1 + number % 1000
            name = f"pair-{token}-{number}-{time.monotonic_ns()}"
            written = client.patch(f"/api/resources/{resource_id}", json={"name": name})
            written.raise_for_status()
            headers = {}
            if token:
                headers["Session-Token"] = written.headers["session-token"]
            started = time.perf_counter()
            read = client.get(f"/api/resources/{resource_id}", headers=headers)
            samples_ms.append((time.perf_counter() - started) * 1000)
            read.raise_for_status()
            missed += read.json()["data"]["resource"]["name"] != name
    return Latency.of(samples_ms), missed
