"""What the benchmarks share: a database, a running server, latency figures."""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


def database_url() -> str:
    """BENCH_DATABASE_URL / DATABASE_URL, or an embedded PostgreSQL for this run."""
    configured = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if configured:
        return configured
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        server: Any = pgserver.get_server(
            Path(tempfile.mkdtemp(prefix="bench-pg-")), cleanup_mode="delete"
        )
    _keep.append(server)
    return str(server.get_uri())


_keep: list[Any] = []


def fresh_database(server_url: str, name: str) -> str:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    params = conninfo_to_dict(server_url)
    params["dbname"] = name
    return make_conninfo("", **params)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def server(
    env: dict[str, str], command: list[str], port: int, *, wait_for_health: bool = True
) -> Iterator[str]:
    """Runs a server process until the block ends; yields its base URL."""
    process = subprocess.Popen(
        command, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while wait_for_health:
            try:
                httpx.get(base + "/health", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"server {' '.join(command)} did not start") from None
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


def service_command(port: int, workers: int = 1) -> list[str]:
    return [
        sys.executable,
        "-m",
        "api.cli",
        "serve",
        "--no-projections",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


@dataclass(frozen=True)
class Latency:
    p50_ms: float
    p99_ms: float
    count: int

    @classmethod
    def of(cls, samples_ms: list[float]) -> Latency:
        return cls(
            p50_ms=statistics.median(samples_ms),
            p99_ms=statistics.quantiles(samples_ms, n=100)[98],
            count=len(samples_ms),
        )

    def __str__(self) -> str:
        return f"p50 {self.p50_ms:6.2f} ms   p99 {self.p99_ms:6.2f} ms   (n={self.count})"
