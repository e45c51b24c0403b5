"""The in-repo load generator `make bench` falls back to without wrk: it really loads."""

from __future__ import annotations

import asyncio

import httpx

from bench.loadgen import load
from tests.e2e.flows import create


def test_it_sends_the_scripts_requests_and_counts_answers_and_failures(
    base_url: str, client: httpx.Client
) -> None:
    resource = create(client, name="loaded.txt")
    token = str(client.headers["authorization"]).removeprefix("Bearer ")

    patched = asyncio.run(load(base_url, "patch_one.lua", [str(resource["id"]), token], 1, 2))
    refused = asyncio.run(load(base_url, "get.lua", ["0", "rsk_not-a-key"], 0.5, 1))

    assert patched["rps"] > 0
    assert patched["failed"] == 0
    after = client.get(f"/api/resources/{resource['id']}").json()["data"]["resource"]
    assert after["name"].startswith("one-")  # the generator's renames arrived
    assert refused["failed"] > 0  # 401s are counted as failures, as wrk counts non-2xx
