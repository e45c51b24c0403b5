"""Faults under write load, each bounded in time: PostgreSQL stopped and started, the
server SIGKILLed, connections killed in the pool. No 500, nothing acknowledged lost,
503s answered in time, full service soon after."""

from __future__ import annotations

import json
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.e2e.servers import free_port, wait_until_healthy
from tests.faults.cluster import Cluster, own_cluster
from tests.faults.writers import Load, serve, started
from tests.sse import StreamReader

WRITERS = 4
RUNNER = "adapters.read_models.runner"
OUTAGE_SECONDS = 5.0


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
    log: Path
    """The server's log lines (JSON, one a line)."""

    def logged(self, logger: str) -> list[dict[str, Any]]:
        lines = self.log.read_text().splitlines()
        return [
            line
            for line in (json.loads(text) for text in lines if text.startswith("{"))
            if line.get("logger") == logger
        ]


@pytest.fixture
def running(cluster: Cluster) -> Iterator[Running]:
    port = free_port()
    data_dir = tempfile.mkdtemp(prefix="resources-fault-")
    log = Path(data_dir) / "server.log"
    with log.open("wb") as writing:
        server, load = started(cluster.url, port, data_dir, WRITERS, log=writing)
        try:
            yield Running(server, load, data_dir, port, log)
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
    # The projection runner says the outage once and its end once: no traceback a
    # second for an operator to wade through.
    said = [(line["level"], line["event"]) for line in running.logged(RUNNER)]
    assert [level for level, _ in said] == ["warning", "warning"], said
    assert said[0][1].startswith("the runner cannot reach the database")
    assert said[1][1] == "the runner reached the database again"


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


def test_a_live_stream_stays_open_through_a_database_restart(
    cluster: Cluster, running: Running
) -> None:
    """The stream's process reads the feed for it: while PostgreSQL is away the stream
    has nothing new (and a new page or export is a 503), and once it is back the events
    written then arrive on the same connection, none lost or repeated."""
    load = running.load
    reader = StreamReader(f"{load.base}/api/events/stream", headers=load.headers)
    try:
        assert reader.status == 200
        assert reader.next().retry is not None
        before = [frame.json()["position"] for frame in reader.events(len(load.ids))]
        cluster.stop()
        away = time.monotonic()
        # Meanwhile a page and an export of the feed are refused, before they start.
        for accept in ("application/json", "application/x-ndjson"):
            refused = httpx.get(
                f"{load.base}/api/events",
                headers={**load.headers, "Accept": accept},
                timeout=10,
            )
            assert refused.status_code == 503, (accept, refused.text)
            assert refused.json()["error"]["code"] == "service_unavailable"
        time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - away)))
        cluster.start()
        written = 0
        deadline = time.monotonic() + 30
        while written < 3 and time.monotonic() < deadline:
            response = httpx.patch(
                f"{load.base}/api/resources/{load.ids[0]}",
                json={"name": f"after-{written}"},
                headers=load.headers,
                timeout=10,
            )
            if response.status_code == 200:
                written += 1
            else:
                assert response.status_code == 503, response.text
                time.sleep(0.2)
        assert written == 3
        after = reader.events(3, timeout=15)
        assert [frame.json()["changes"]["name"]["to"] for frame in after] == [
            "after-0",
            "after-1",
            "after-2",
        ]
        positions = before + [frame.json()["position"] for frame in after]
        assert positions == sorted(set(positions))
        assert not reader.ended.is_set()
    finally:
        reader.close()
