"""Idempotency-Key on POST and PATCH: a retry returns the first response."""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from api.composition.services import Services
from domain.resource import resource_uuid
from tests.e2e.flows import create, error
from tests.e2e.servers import free_port, wait_until_healthy
from tests.storage import cli_env


def without_signatures(body: dict[str, Any]) -> dict[str, Any]:
    resource = dict(body["data"]["resource"])
    for field in ("url", "upload_url"):
        if resource.get(field):
            resource[field] = resource[field].split("?")[0]
    return resource


def count_resources(client: httpx.Client) -> int:
    listing = client.get("/api/resources", params={"status": "all"}).json()
    total: int = listing["pagination"]["total"]
    return total


def test_a_retried_post_returns_the_first_response_and_creates_nothing(
    client: httpx.Client,
) -> None:
    headers = {"Idempotency-Key": "create-42"}
    first = client.post("/api/resources", json={"name": "a.txt"}, headers=headers)
    again = client.post("/api/resources", json={"name": "a.txt"}, headers=headers)
    assert first.status_code == again.status_code == 201
    # The same resource; its signed URLs are signed afresh, so a late retry gets live ones.
    assert without_signatures(again.json()) == without_signatures(first.json())
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert count_resources(client) == 1


def test_the_same_key_with_another_body_is_a_422(client: httpx.Client) -> None:
    headers = {"Idempotency-Key": "k"}
    assert client.post("/api/resources", json={"name": "a"}, headers=headers).status_code == 201
    other = client.post("/api/resources", json={"name": "b"}, headers=headers)
    assert error(other, 422)["code"] == "validation_error"
    assert count_resources(client) == 1


def test_a_body_with_the_same_meaning_is_the_same_body(client: httpx.Client) -> None:
    headers = {"Idempotency-Key": "k", "Content-Type": "application/json"}
    first = client.post("/api/resources", content=b'{"name":"a","size_bytes":3}', headers=headers)
    again = client.post(
        "/api/resources", content=b'{ "size_bytes": 3, "name": "a" }', headers=headers
    )
    assert without_signatures(again.json()) == without_signatures(first.json())
    assert count_resources(client) == 1


def test_keys_belong_to_a_project(client: httpx.Client, stranger: httpx.Client) -> None:
    headers = {"Idempotency-Key": "shared"}
    mine = client.post("/api/resources", json={"name": "a"}, headers=headers)
    theirs = stranger.post("/api/resources", json={"name": "a"}, headers=headers)
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["data"]["resource"]["id"] != theirs.json()["data"]["resource"]["id"]


def test_a_refused_request_does_not_use_up_its_key(client: httpx.Client) -> None:
    headers = {"Idempotency-Key": "fix-and-retry"}
    refused = client.post("/api/resources", json={"name": ""}, headers=headers)
    assert refused.status_code == 422
    assert client.post("/api/resources", json={"name": "ok"}, headers=headers).status_code == 201


def test_twenty_concurrent_first_requests_create_one_resource(client: httpx.Client) -> None:
    headers = {"Idempotency-Key": "race"}

    def post(_: int) -> httpx.Response:
        return client.post("/api/resources", json={"name": "once"}, headers=headers)

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(post, range(20)))
    assert {response.status_code for response in responses} == {201}
    assert len({str(without_signatures(response.json())) for response in responses}) == 1
    assert count_resources(client) == 1


def test_a_retried_patch_appends_nothing(client: httpx.Client, services: Services) -> None:
    resource = create(client)
    path = f"/api/resources/{resource['id']}"
    headers = {"Idempotency-Key": "rename-1"}
    first = client.patch(path, json={"name": "b"}, headers=headers)
    client.patch(path, json={"name": "c"})
    again = client.patch(path, json={"name": "b"}, headers=headers)
    assert without_signatures(again.json()) == without_signatures(first.json())
    assert again.json()["data"]["resource"]["name"] == "b"
    assert len(services.events.recorder.select_events(resource_uuid(resource["id"]))) == 3


def test_a_key_expires_after_24_hours(client: httpx.Client, services: Services) -> None:
    headers = {"Idempotency-Key": "old"}
    client.post("/api/resources", json={"name": "a"}, headers=headers)
    with services.datastore.transaction(commit=True) as curs:
        curs.execute("UPDATE idempotency_outcomes SET created_at = now() - interval '25 hours'")
    assert client.post("/api/resources", json={"name": "a"}, headers=headers).status_code == 201
    assert count_resources(client) == 2


def test_a_malformed_key_is_a_400(client: httpx.Client) -> None:
    response = client.post(
        "/api/resources", json={"name": "a"}, headers={"Idempotency-Key": "x" * 300}
    )
    assert error(response, 400)["code"] == "bad_request"
    assert count_resources(client) == 0


def test_a_server_killed_mid_request_never_lets_a_retry_change_twice(
    client: httpx.Client, services: Services
) -> None:
    """The outcome of a request with an Idempotency-Key commits with its change: a
    SIGKILL at any moment leaves both or neither, and the client's retry (same key,
    same body) then changes nothing twice."""
    targets = [create(client, name=f"f{number}.txt")["id"] for number in range(120)]
    interrupted: list[int] = []
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "api.cli.commands",
            "serve",
            "--no-projections",
            "--port",
            str(port),
        ],
        env=cli_env(services.settings),
    )
    base = f"http://127.0.0.1:{port}"
    token = client.headers["authorization"]

    def describe(number: int) -> None:
        try:
            httpx.patch(
                f"{base}/api/resources/{targets[number]}",
                json={"description": f"v{number}"},
                headers={"Authorization": token, "Idempotency-Key": f"k-{number}"},
                timeout=5,
            )
        except httpx.HTTPError:
            interrupted.append(number)  # the server died under it: the client will retry

    try:
        wait_until_healthy(base)
        with ThreadPoolExecutor(max_workers=8) as pool:
            pending = [pool.submit(describe, number) for number in range(len(targets))]
            time.sleep(0.15)
            server.kill()
            for future in pending:
                future.result()
    finally:
        server.kill()
        server.wait(timeout=10)

    with services.datastore.get_connection() as conn:
        kept = {
            row["key"] for row in conn.execute("SELECT key FROM idempotency_outcomes").fetchall()
        }
    changed = {
        f"k-{number}"
        for number, resource_id in enumerate(targets)
        if len(services.events.recorder.select_events(resource_uuid(resource_id))) > 1
    }
    assert interrupted, "the server was killed only after every request had its answer"
    assert changed == kept

    for number, resource_id in enumerate(targets):
        retry = client.patch(
            f"/api/resources/{resource_id}",
            json={"description": f"v{number}"},
            headers={"Idempotency-Key": f"k-{number}"},
        )
        assert retry.status_code == 200, retry.text
        assert retry.json()["data"]["resource"]["description"] == f"v{number}"
        events = services.events.recorder.select_events(resource_uuid(resource_id))
        assert len(events) == 2
