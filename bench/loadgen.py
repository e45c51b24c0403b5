"""The in-repo load generator `make bench` uses when wrk is not installed, and for
paced loads, which wrk cannot send.

It sends what the wrk scripts send (`patch.lua`, `get.lua`, `patch_one.lua`,
`scale.lua`, `soak.lua`):
`connections` keep-alive HTTP/1.1 connections, each sending its next request as
soon as the last answer is read, for `seconds`. It runs in a process of its own,
so it shares no interpreter with the bench's orchestration. It costs more CPU
than wrk, on the same cores as the servers, so absolute figures are lower than
wrk's; service and anchor are loaded by the same generator, so ratios compare.

With `--rate=R` the requests are paced instead: the n-th request of the run is
due n/R seconds after the start, the connections taking turns; a connection still
waiting for an answer when its next request is due sends it as soon as the answer
is read, so the rate reached falls short of R only when the server cannot keep up.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

Request = Callable[[int], tuple[str, str, bytes | None]]
"""The n-th request of a connection: method, path, JSON body."""


def requests_of(script: str, args: list[str]) -> Request:
    """The requests a wrk script of ours would send, for the same arguments.

    A PATCH's name is new in every request of every run (a token of this run and
    a counter over all connections), so each one is a rename that appends one
    event: never a no-op, which the service decides again on a fresh read.
    """
    run = secrets.token_hex(4)
    renames = itertools.count(1)
    if script == "patch.lua":
        count = int(args[0])
        return lambda n: (
            "PATCH",
            f"/api/resources/{random.randint(1, count)}",
            f'{{"name":"file-{run}-{next(renames)}.docx"}}'.encode(),
        )
    if script == "patch_one.lua":
        resource_id = int(args[0])
        return lambda n: (
            "PATCH",
            f"/api/resources/{resource_id}",
            f'{{"name":"one-{run}-{next(renames)}.docx"}}'.encode(),
        )
    if script == "get.lua":
        count = int(args[0])
        if count == 0:
            return lambda n: ("GET", "/api/resources", None)
        return lambda n: ("GET", f"/api/resources/{random.randint(1, count)}", None)
    if script == "scale.lua":
        ids, method, template = _ids(args[0]), args[2], args[3]

        def one(n: int) -> tuple[str, str, bytes | None]:
            path = template.replace("{id}", str(random.choice(ids)))
            if method != "PATCH":
                return method, path, None
            return method, path, f'{{"name":"file-{run}-{next(renames)}.docx"}}'.encode()

        return one
    if script == "soak.lua":
        ids, pages = _ids(args[0]), int(args[2])

        def mixed(n: int) -> tuple[str, str, bytes | None]:
            roll, path = random.randint(1, 100), f"/api/resources/{random.choice(ids)}"
            if roll <= 40:
                return "GET", path, None
            if roll <= 60:
                return "GET", f"/api/resources?page={random.randint(1, pages)}&per_page=20", None
            if roll <= 70:
                return "GET", path + "/history", None
            if roll <= 80:
                return "GET", "/api/activity?page=1&per_page=20", None
            return "PATCH", path, f'{{"name":"soak-{run}-{next(renames)}.docx"}}'.encode()

        return mixed
    raise ValueError(f"no in-repo equivalent of {script}")


def _ids(spec: str) -> range:
    """The ids a FIRST:STEP:COUNT argument names."""
    first, step, count = (int(part) for part in spec.split(":"))
    return range(first, first + step * count, step)


async def _connection(
    host: str,
    port: int,
    token: str,
    request: Request,
    deadline: float,
    latencies: list[float],
    failures: list[int],
    due: Iterator[float] | None = None,
) -> None:
    """One connection's requests until `deadline`; each sent at its next `due` time
    (perf_counter seconds), if given, else as soon as the last answer is read."""
    reader, writer = await asyncio.open_connection(host, port)
    number = 0
    try:
        while time.perf_counter() < deadline:
            if due is not None:
                at = next(due)
                if at >= deadline:
                    break
                await asyncio.sleep(max(0.0, at - time.perf_counter()))
            number += 1
            method, path, body = request(number)
            head = (
                f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Authorization: Bearer {token}\r\n"
            )
            if body is not None:
                head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            started = time.perf_counter()
            writer.write(head.encode() + b"\r\n" + (body or b""))
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if not status_line.split()[1].startswith(b"2"):
                failures.append(1)
    except (OSError, asyncio.IncompleteReadError):
        failures.append(1)
    finally:
        writer.close()


def _schedule(started: float, rate: float, connection: int, connections: int) -> Iterator[float]:
    """When a connection's requests are due: the run's n-th at `started + n / rate`,
    the connections taking the numbers in turn."""
    for turn in itertools.count():
        yield started + (connection + turn * connections) / rate


async def load(
    base: str,
    script: str,
    args: list[str],
    seconds: float,
    connections: int,
    rate: float | None = None,
) -> dict[str, float]:
    parts = urlsplit(base)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    token = args[1]
    request = requests_of(script, args)
    latencies: list[float] = []
    failures: list[int] = []
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(
        *(
            _connection(
                host,
                port,
                token,
                request,
                deadline,
                latencies,
                failures,
                None if rate is None else _schedule(started, rate, number, connections),
            )
            for number in range(connections)
        )
    )
    elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": cuts[49] * 1000,
        "p99_ms": cuts[98] * 1000,
        "failed": len(failures),
        "requests": len(latencies),
    }


def main() -> None:
    """`python -m bench.loadgen [--rate=R] BASE SCRIPT SECONDS CONNECTIONS ARG...`: one
    JSON line."""
    arguments = sys.argv[1:]
    rate = None
    if arguments and arguments[0].startswith("--rate="):
        rate = float(arguments.pop(0).removeprefix("--rate="))
    base, script, seconds, connections, *args = arguments
    figures = asyncio.run(load(base, script, args, float(seconds), int(connections), rate))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
