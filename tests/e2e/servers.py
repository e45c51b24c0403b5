"""Server processes that end-to-end tests start beside the in-process one."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_healthy(*bases: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    for base in bases:
        while True:
            try:
                httpx.get(base + "/health", timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, f"the server at {base} did not start"
                time.sleep(0.1)


def describe_concurrently(
    bases: list[str], resource_id: int, token: str, clients: int
) -> list[int]:
    """`clients` PATCHes of one resource at once, each on a new connection, round-robin
    over `bases`; their status codes."""

    def describe(number: int) -> int:
        response = httpx.patch(
            f"{bases[number % len(bases)]}/api/resources/{resource_id}",
            json={"description": f"from client {number}"},
            headers={"Authorization": token},
            timeout=30,
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=clients) as pool:
        return list(pool.map(describe, range(clients)))
