"""Reads from a streaming replica (DATABASE_REPLICA_URL) that a test starts with
pg_basebackup: they run there, a Session-Token read never misses its write, and a
replica that goes away costs reads nothing."""

from __future__ import annotations

import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import psycopg
import pytest

from bench.postgres_cluster import POSTGRES_MISSING, Cluster, Node, postgres_binaries
from tests.e2e.servers import free_port, wait_until_healthy
from tests.faults.writers import first_key, serve

pytestmark = pytest.mark.skipif(postgres_binaries() is None, reason=POSTGRES_MISSING)

APPLY_DELAY = "100ms"
"""The replica applies each commit this late, so that a read right after a write
would miss it there: what a Session-Token is for."""


DASHBOARD = "https://dash.example.com"
"""The one origin in the servers' CORS_ORIGINS."""


@dataclass
class Service:
    client: httpx.Client
    replica: Node
    server: subprocess.Popen[bytes]

    def create(self, name: str) -> int:
        response = self.client.post("/api/resources", json={"name": name})
        assert response.status_code == 201, response.text
        return int(response.json()["data"]["resource"]["id"])


@contextmanager
def replicated(apply_delay: str, **env: str) -> Iterator[Service]:
    """A server reading from a replica that applies each commit `apply_delay` late."""
    with Cluster(sync=False) as cluster:
        replica = cluster.add_standby("replica", synchronous=False)
        with psycopg.connect(replica.url, autocommit=True) as conn:
            conn.execute(f"ALTER SYSTEM SET recovery_min_apply_delay = '{apply_delay}'")
            conn.execute("SELECT pg_reload_conf()")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = serve(
            cluster.primary.url,
            port,
            tempfile.mkdtemp(prefix="resources-replica-"),
            env={"DATABASE_REPLICA_URL": replica.url, "CORS_ORIGINS": DASHBOARD, **env},
        )
        try:
            key = first_key(server)
            wait_until_healthy(base)
            headers = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=base, headers=headers, timeout=10) as client:
                yield Service(client, replica, server)
        finally:
            server.terminate()
            server.wait(timeout=30)


@pytest.fixture
def service() -> Iterator[Service]:
    with replicated(APPLY_DELAY) as service:
        yield service


def replica_transactions(replica: Node) -> int:
    """Transactions the replica's own statistics have counted in the service's database."""
    time.sleep(1.2)  # statistics reach the shared counters about once a second
    with psycopg.connect(replica.url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = 'postgres'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_reads_run_on_the_replica(service: Service) -> None:
    resource_id = service.create("read here")
    time.sleep(0.5)  # past the replica's apply delay
    before = replica_transactions(service.replica)
    reads = [
        *(f"/api/resources/{resource_id}" for _ in range(100)),
        *("/api/resources" for _ in range(100)),
        *(f"/api/resources/{resource_id}/history" for _ in range(50)),
        *("/api/events" for _ in range(50)),
    ]
    started = time.monotonic()
    for path in reads:
        assert service.client.get(path).status_code == 200
    seconds = time.monotonic() - started
    counted = replica_transactions(service.replica) - before
    # The watch asks the replica ten times a second; the reads are the rest.
    watch = 10 * (seconds + 3)
    assert counted >= len(reads), (counted, watch)
    ready = service.client.get("/ready").json()
    (check,) = [check for check in ready["checks"] if check["name"] == "replica"]
    assert check["ok"]
    assert "serves reads" in check["detail"], check


def test_a_read_with_the_session_token_never_misses_its_write(service: Service) -> None:
    resource_id = service.create("v0")
    missed_without_token = 0
    for number in range(1, 301):
        name = f"v{number}"
        written = service.client.patch(f"/api/resources/{resource_id}", json={"name": name})
        assert written.status_code == 200, written.text
        token = written.headers["session-token"]
        if number % 10 == 0:  # now and then, the same read without the token
            plain = service.client.get(f"/api/resources/{resource_id}")
            missed_without_token += plain.json()["data"]["resource"]["name"] != name
        read = service.client.get(f"/api/resources/{resource_id}", headers={"Session-Token": token})
        assert read.status_code == 200, read.text
        assert read.json()["data"]["resource"]["name"] == name
        assert read.headers["etag"] == written.headers["etag"]
    # The replica does lag: without the token, reads right after a write miss it.
    assert missed_without_token > 0


def test_a_dashboard_on_another_origin_may_read_and_send_the_session_token(
    service: Service,
) -> None:
    resource_id = service.create("seen from the dashboard")
    written = service.client.patch(
        f"/api/resources/{resource_id}", json={"name": "renamed"}, headers={"Origin": DASHBOARD}
    )
    assert written.headers["session-token"]
    exposed = written.headers["access-control-expose-headers"].lower().split(",")
    assert "session-token" in [name.strip() for name in exposed]
    preflight = service.client.options(
        f"/api/resources/{resource_id}",
        headers={
            "Origin": DASHBOARD,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization,session-token",
        },
    )
    assert preflight.status_code == 204, preflight.text  # 400 "Disallowed CORS headers"
    assert preflight.headers["access-control-allow-origin"] == DASHBOARD


def test_a_malformed_session_token_is_a_400(service: Service) -> None:
    response = service.client.get("/api/resources", headers={"Session-Token": "yesterday"})
    assert response.status_code == 400
    assert "Session-Token" in response.json()["error"]["message"]


def test_losing_the_replica_costs_reads_no_error(service: Service) -> None:
    resource_id = service.create("still here")
    service.replica.kill()
    started = time.monotonic()
    statuses = [
        service.client.get(path).status_code
        for path in [f"/api/resources/{resource_id}", "/api/resources", "/api/events"] * 30
    ]
    seconds = time.monotonic() - started
    assert set(statuses) == {200}
    assert seconds < 10, f"90 reads took {seconds:.1f} s without the replica"
    ready = service.client.get("/ready")
    assert ready.status_code == 200
    (check,) = [check for check in ready.json()["checks"] if check["name"] == "replica"]
    assert "reads go to the primary" in check["detail"], check
    written = service.client.patch(f"/api/resources/{resource_id}", json={"name": "moved on"})
    assert written.status_code == 200
    token = written.headers["session-token"]
    read = service.client.get(f"/api/resources/{resource_id}", headers={"Session-Token": token})
    assert read.json()["data"]["resource"]["name"] == "moved on"


def test_a_replica_further_behind_than_replica_max_lag_serves_no_reads() -> None:
    """Its apply delay (3 s) is past REPLICA_MAX_LAG (1 s): once a write has waited a
    second for it, reads without a token go to the primary and see the write."""
    with replicated("3s", REPLICA_MAX_LAG="1") as service:
        resource_id = service.create("before")
        time.sleep(4)  # the replica has the resource
        written = service.client.patch(f"/api/resources/{resource_id}", json={"name": "after"})
        assert written.status_code == 200
        time.sleep(1.5)  # the replica still lacks the rename for another 1.5 s
        for _ in range(10):
            read = service.client.get(f"/api/resources/{resource_id}")
            assert read.json()["data"]["resource"]["name"] == "after"
        ready = service.client.get("/ready")
        assert ready.status_code == 200
        (check,) = [check for check in ready.json()["checks"] if check["name"] == "replica"]
        assert "(bound 1 s); reads go to the primary" in check["detail"], check


def test_a_held_feed_read_from_a_lagging_replica_passes_over_nothing(service: Service) -> None:
    """A held feed request and the stream's backlog read the replica up to the feed's
    head, then follow the primary's: the replica, 100 ms behind, must have reached
    that head first, or an event between the two would be passed over."""
    resource_id = service.create("tail me")
    stop = threading.Event()

    def rename() -> None:
        with httpx.Client(base_url=service.client.base_url, headers=service.client.headers) as own:
            number = 0
            while not stop.is_set():
                number += 1
                own.patch(f"/api/resources/{resource_id}", json={"name": f"n{number}"})
                time.sleep(0.01)

    writer = threading.Thread(target=rename)
    writer.start()
    seen: list[int] = []
    after = 0
    try:
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            body = service.client.get(
                "/api/events", params={"after": after, "wait": 2, "limit": 20}
            ).json()
            seen += [event["position"] for event in body["data"]["events"]]
            after = body["cursor"]["after"]
    finally:
        stop.set()
        writer.join(timeout=10)
    time.sleep(1.5)  # the replica has everything now
    every: list[int] = []
    after = 0
    while True:
        body = service.client.get("/api/events", params={"after": after, "limit": 1000}).json()
        every += [event["position"] for event in body["data"]["events"]]
        after = body["cursor"]["after"]
        if not body["cursor"]["has_more"]:
            break
    assert len(seen) > 50
    assert seen == every[: len(seen)]
