"""Faults under write load, each bounded in time: PostgreSQL stopped and started, the
server SIGKILLed, connections killed in the pool. No 500, nothing acknowledged lost,
503s answered in time, full service soon after."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import psycopg
import pytest

from tests.e2e.servers import free_port, wait_until_healthy
from tests.faults.cluster import Cluster, own_cluster

WRITERS = 4
OUTAGE_SECONDS = 5.0


@dataclass(frozen=True)
class Answer:
    started: float
    seconds: float
    status: int
    resource_id: int
    version: int | None
    name: str


@dataclass
class Load:
    """Writers renaming their own resource as fast as the server answers."""

    base: str
    headers: dict[str, str]
    ids: list[int]
    answers: list[Answer] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for resource_id in self.ids:
            self.threads.append(threading.Thread(target=self._write, args=(resource_id,)))
        for thread in self.threads:
            thread.start()

    def _write(self, resource_id: int) -> None:
        number = 0
        while not self.stop.is_set():
            number += 1
            name = f"n{number}-{time.monotonic()}"
            started = time.monotonic()
            try:
                response = httpx.patch(
                    f"{self.base}/api/resources/{resource_id}",
                    json={"name": name},
                    headers=self.headers,
                    timeout=10,
                )
            except httpx.HTTPError:
                time.sleep(0.05)
                continue  # no answer: nothing was acknowledged
            version = None
            if response.status_code == 200:
                version = int(response.headers["etag"].strip('"'))
            self.answers.append(
                Answer(
                    started,
                    time.monotonic() - started,
                    response.status_code,
                    resource_id,
                    version,
                    name,
                )
            )

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def names_by_version(self, resource_id: int) -> dict[int, str]:
        names: dict[int, str] = {}
        page = 1
        while True:
            response = httpx.get(
                f"{self.base}/api/resources/{resource_id}/history",
                params={"page": page, "per_page": 100},
                headers=self.headers,
                timeout=10,
            )
            assert response.status_code == 200, response.text
            body = response.json()
            for event in body["data"]["events"]:
                if "name" in event["changes"]:
                    names[event["version"]] = event["changes"]["name"]["to"]
            if page >= body["pagination"]["total_pages"]:
                return names
            page += 1

    def assert_nothing_acknowledged_was_lost(self) -> None:
        acknowledged = [answer for answer in self.answers if answer.status == 200]
        assert acknowledged
        for resource_id in self.ids:
            names = self.names_by_version(resource_id)
            for answer in acknowledged:
                if answer.resource_id == resource_id:
                    assert answer.version is not None
                    assert names[answer.version] == answer.name

    def assert_the_feed_catches_up(self, seconds: float = 15) -> None:
        """The projection runner lived through the fault (or was restarted): the
        activity feed reaches every resource's last acknowledged change."""
        for resource_id in self.ids:
            last = max(
                answer.version or 0
                for answer in self.answers
                if answer.resource_id == resource_id and answer.status == 200
            )
            deadline = time.monotonic() + seconds
            while True:
                events = httpx.get(
                    f"{self.base}/api/activity",
                    params={"resource_id": resource_id, "per_page": 1},
                    headers=self.headers,
                    timeout=10,
                ).json()["data"]["events"]
                if events and events[0]["version"] >= last:
                    break
                assert time.monotonic() < deadline, f"the feed stopped before version {last}"
                time.sleep(0.2)


def serve(url: str, port: int, data_dir: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DATA_DIR": data_dir,
        "SIGNING_KEY": "a-fault-test-signing-key-of-32-bytes!",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


def first_key(server: subprocess.Popen[bytes]) -> str:
    assert server.stdout is not None
    for line in server.stdout:
        text = line.decode().strip()
        if text.startswith("rsk_"):
            return text
    raise AssertionError("the server printed no key")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with own_cluster() as cluster:
        yield cluster


@dataclass
class Running:
    server: subprocess.Popen[bytes]
    load: Load
    data_dir: str
    port: int


@pytest.fixture
def running(cluster: Cluster) -> Iterator[Running]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    data_dir = tempfile.mkdtemp(prefix="resources-fault-")
    server = serve(cluster.url, port, data_dir)
    try:
        key = first_key(server)
        wait_until_healthy(base)
        headers = {"Authorization": f"Bearer {key}"}
        ids = [
            httpx.post(f"{base}/api/resources", json={"name": "f"}, headers=headers).json()["data"][
                "resource"
            ]["id"]
            for _ in range(WRITERS)
        ]
        yield Running(server, Load(base, headers, ids), data_dir, port)
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_a_database_restart_under_write_load_loses_nothing_and_heals(
    cluster: Cluster, running: Running
) -> None:
    load = running.load
    probes: list[tuple[float, float, int]] = []
    probing = threading.Event()

    def probe() -> None:
        while not probing.is_set():
            started = time.monotonic()
            try:
                status = httpx.get(f"{load.base}/ready", timeout=10).status_code
            except httpx.HTTPError:
                status = 0
            probes.append((started, time.monotonic() - started, status))
            time.sleep(0.2)

    prober = threading.Thread(target=probe)
    load.start()
    prober.start()
    try:
        time.sleep(1.5)
        down = time.monotonic()
        cluster.stop()
        time.sleep(OUTAGE_SECONDS)
        restarting = time.monotonic()
        cluster.start()
        up = time.monotonic()
        time.sleep(8)
    finally:
        load.finish()
        probing.set()
        prober.join(timeout=30)

    statuses = {answer.status for answer in load.answers}
    assert statuses <= {200, 503}, statuses
    refused = [answer for answer in load.answers if answer.status == 503]
    assert refused, "the outage was never noticed"
    assert max(answer.seconds for answer in refused) < 2.0
    during = [
        (seconds, status)
        for started, seconds, status in probes
        if down + 0.5 < started < restarting
    ]
    assert during
    assert all(status == 503 and seconds < 1.0 for seconds, status in during), during
    healed = [answer for answer in load.answers if answer.started > up + 5]
    assert healed
    assert all(answer.status == 200 for answer in healed)
    load.assert_nothing_acknowledged_was_lost()
    load.assert_the_feed_catches_up()


def test_a_server_killed_under_write_load_loses_nothing_acknowledged(
    cluster: Cluster, running: Running
) -> None:
    load = running.load
    load.start()
    try:
        time.sleep(2)
        running.server.send_signal(signal.SIGKILL)
        running.server.wait(timeout=10)
        time.sleep(0.5)
    finally:
        load.finish()
    restarted = serve(cluster.url, running.port, running.data_dir)
    try:
        wait_until_healthy(load.base)
        assert {answer.status for answer in load.answers} <= {200}
        load.assert_nothing_acknowledged_was_lost()
        load.assert_the_feed_catches_up()
    finally:
        restarted.terminate()
        restarted.wait(timeout=30)


def test_connections_killed_in_the_pool_cost_no_request(cluster: Cluster, running: Running) -> None:
    load = running.load
    load.start()
    try:
        time.sleep(1)
        with psycopg.connect(cluster.url, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE pid <> pg_backend_pid() AND datname = current_database()"
                " AND backend_type = 'client backend'"
            ).fetchone()
        assert killed is not None
        assert killed[0] > 0
        time.sleep(2)
    finally:
        load.finish()
    assert {answer.status for answer in load.answers} == {200}
    load.assert_nothing_acknowledged_was_lost()
