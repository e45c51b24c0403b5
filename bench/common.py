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


def settle(database_url: str) -> None:
    """VACUUM ANALYZE the whole database, as autovacuum would soon after seeding: both
    the anchor and the service are measured as a live database runs, with statistics
    (without them the planner guesses one row per project and sorts whole projects)."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def server_process(
    env: dict[str, str], command: list[str], port: int, *, wait_for_health: bool = True
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Runs a server process until the block ends; yields its base URL and the process."""
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
        yield base, process
    finally:
        process.terminate()
        process.wait(timeout=20)


@contextmanager
def server(
    env: dict[str, str], command: list[str], port: int, *, wait_for_health: bool = True
) -> Iterator[str]:
    """Runs a server process until the block ends; yields its base URL."""
    with server_process(env, command, port, wait_for_health=wait_for_health) as (base, _):
        yield base


def service_command(port: int, workers: int = 1, *, projections: bool = False) -> list[str]:
    """`resources serve`; with `projections`, as `make run` serves: the runner beside it."""
    return [
        sys.executable,
        "-m",
        "api.cli.commands",
        "serve",
        *(() if projections else ("--no-projections",)),
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime = int(fields[11]), int(fields[12])  # the stat file's fields 14 and 15
    return (utime + stime) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    """The resident memory of a process now (VmRSS in /proc/<pid>/status), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024  # the line reads "VmRSS:  123456 kB"
    raise RuntimeError(f"no VmRSS for process {pid}")


def process_tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of a process and of each of its children, by process id."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # it ended meanwhile
            continue
        if int(entry.name) == pid or int(stat[1]) == pid:
            found[int(entry.name)] = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")
    return found


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds a process tree used between two readings (a process that ended in
    between is missed; one that started counts from nothing)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def postmaster_pid(database_url: str) -> int | None:
    """The process id of the PostgreSQL server, if it runs on this machine."""
    import psycopg

    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        # Read while the session lives: its backend process ends with it.
        try:
            backend = Path(f"/proc/{row[0]}")
            if (backend / "comm").read_text().strip() != "postgres":
                return None
            return int((backend / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            return None


def child_process(pid: int, marker: str, timeout: float = 30.0) -> int:
    """The id of a child of `pid` whose command line contains `marker` (waits for it)."""
    deadline = time.monotonic() + timeout
    while True:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:  # it ended meanwhile
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and marker in command:
                return int(entry.name)
        if time.monotonic() > deadline:
            raise RuntimeError(f"no child of {pid} running {marker!r}")
        time.sleep(0.1)


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
