"""Side-by-side load against the service and the CRUD anchor: wrk, or the in-repo
generator (`bench/loadgen.py`) where wrk is not installed."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent


@dataclass(frozen=True)
class LoadResult:
    rps: float
    p50_ms: float
    p99_ms: float
    failed: int
    requests: int
    """Answers received (for a median of runs: the sum over the runs, like `failed`)."""


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def wrk(
    base: str,
    script: str,
    *args: str,
    seconds: int = 10,
    connections: int = 16,
) -> LoadResult:
    """One load run; `failed` counts non-2xx answers and socket errors."""
    if not wrk_available():
        return _in_repo(base, script, args, seconds, connections)
    completed = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "-s",
            str(HERE / script),
            base,
            "--",
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(line for line in completed.stdout.splitlines() if line.startswith("RESULT"))
    fields = dict(part.split("=") for part in line.split()[1:])
    return LoadResult(
        rps=float(fields["rps"]),
        p50_ms=float(fields["p50_ms"]),
        p99_ms=float(fields["p99_ms"]),
        failed=int(fields["non2xx"]) + int(fields["errors"]),
        requests=int(fields["requests"]),
    )


def paced(
    base: str, script: str, *args: str, seconds: int, connections: int, rate: float
) -> LoadResult:
    """A load run at `rate` requests a second (at most), by the in-repo generator:
    wrk sends each request as soon as the last answer is read, and cannot pace."""
    return _in_repo(base, script, args, seconds, connections, rate)


def _in_repo(
    base: str,
    script: str,
    args: tuple[str, ...],
    seconds: int,
    connections: int,
    rate: float | None = None,
) -> LoadResult:
    pace = () if rate is None else (f"--rate={rate}",)
    completed = subprocess.run(
        [
            *(sys.executable, "-m", "bench.loadgen", *pace, base, script),
            *(str(seconds), str(connections), *args),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    fields = json.loads(completed.stdout.splitlines()[-1])
    return LoadResult(
        rps=float(fields["rps"]),
        p50_ms=float(fields["p50_ms"]),
        p99_ms=float(fields["p99_ms"]),
        failed=int(fields["failed"]),
        requests=int(fields["requests"]),
    )


def median(results: list[LoadResult]) -> LoadResult:
    return LoadResult(
        rps=statistics.median(r.rps for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        failed=sum(r.failed for r in results),
        requests=sum(r.requests for r in results),
    )
