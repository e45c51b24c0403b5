"""PostgreSQL scaled out as a team runs it, on clusters these tests start with
PostgreSQL's own tools: a primary with a synchronous standby that is promoted when
the primary dies, and PgBouncer in transaction pooling mode in front."""

from __future__ import annotations

import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest

from bench.postgres_cluster import (
    PGBOUNCER_MISSING,
    POSTGRES_MISSING,
    Cluster,
    PgBouncer,
    pgbouncer_binary,
    postgres_binaries,
)
from tests.e2e.servers import free_port
from tests.faults.writers import Load, started

pytestmark = pytest.mark.skipif(postgres_binaries() is None, reason=POSTGRES_MISSING)

WRITERS = 4
FAILOVER_GOAL_SECONDS = 10.0


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with Cluster(sync=True) as cluster:
        yield cluster


def start_writers(url: str, **env: str) -> tuple[subprocess.Popen[bytes], Load]:
    data_dir = tempfile.mkdtemp(prefix="resources-scale-out-")
    return started(url, free_port(), data_dir, WRITERS, env=env)


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()


def test_a_failover_to_the_synchronous_standby_loses_no_acknowledged_write(
    cluster: Cluster,
) -> None:
    """The primary dies under write load and the standby is promoted, as a failover
    manager does: the service finds the new primary by itself within seconds, answers
    503 meanwhile (never 500), loses nothing it acknowledged, and its feed catches up."""
    standby = cluster.add_standby("standby", synchronous=True)
    old = cluster.primary
    url = (
        f"postgresql://postgres@127.0.0.1:{old.port},127.0.0.1:{standby.port}/postgres"
        "?target_session_attrs=read-write&connect_timeout=2"
    )
    server, load = start_writers(url)
    refusals: list[httpx.Response] = []
    try:
        load.start()
        time.sleep(1.5)
        killed = time.monotonic()
        old.kill()
        time.sleep(5.0)  # a failover manager notices, then promotes
        cluster.promote(standby)
        promoted = time.monotonic()
        time.sleep(8)
        for _ in range(3):  # what a refused client is told
            response = httpx.get(f"{load.base}/ready", timeout=10)
            if response.status_code == 503:
                refusals.append(response)
    finally:
        load.finish()
    try:
        statuses = {answer.status for answer in load.answers}
        assert statuses <= {200, 503}, statuses
        acknowledged = [answer for answer in load.answers if answer.status == 200]
        before = [answer for answer in acknowledged if answer.started < killed]
        # The writes sent after the primary died, by when they were acknowledged.
        after = sorted(a.started + a.seconds for a in acknowledged if a.started > killed)
        assert before, "no write before the failover"
        assert after, "no write came back after the failover"
        without_writes = after[0] - killed
        print(
            f"\nfailover: writes back {without_writes:.1f} s after the primary died"
            f" ({after[0] - promoted:.1f} s after the promotion);"
            f" {len(acknowledged)} acknowledged, "
            f"{sum(a.status == 503 for a in load.answers)} answered 503"
        )
        assert without_writes <= FAILOVER_GOAL_SECONDS
        assert not refusals, "the service did not recover: /ready still 503"
        load.assert_nothing_acknowledged_was_lost()
        load.assert_the_feed_catches_up()
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT pg_is_in_recovery(), inet_server_port()").fetchone()
        assert row == (False, standby.port)
    finally:
        stop(server)


def test_a_refused_write_during_a_failover_says_when_to_retry(cluster: Cluster) -> None:
    """While no host takes writes, a write is answered 503 with Retry-After, at once."""
    standby = cluster.add_standby("standby", synchronous=True)
    url = (
        f"postgresql://postgres@127.0.0.1:{cluster.primary.port},127.0.0.1:{standby.port}"
        "/postgres?target_session_attrs=read-write&connect_timeout=2"
    )
    server, load = start_writers(url)
    try:
        cluster.primary.kill()
        answers = []
        for _ in range(3):
            started = time.monotonic()
            response = httpx.patch(
                f"{load.base}/api/resources/{load.ids[0]}",
                json={"name": "during"},
                headers=load.headers,
                timeout=10,
            )
            answers.append((response, time.monotonic() - started))
        for response, seconds in answers:
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"].isdigit()
            assert response.json()["error"]["code"] == "service_unavailable"
            assert seconds < 3.0
    finally:
        stop(server)


@pytest.mark.skipif(pgbouncer_binary() is None, reason=PGBOUNCER_MISSING)
def test_behind_pgbouncer_in_transaction_mode_every_request_is_answered(
    cluster: Cluster,
) -> None:
    """DATABASE_URL names PgBouncer (transaction pooling), DATABASE_DIRECT_URL the
    server: concurrent creates, renames, reads, histories and lists answer without a
    5xx, and the projection runner, on its own session, keeps the feed up."""
    primary = cluster.primary
    with PgBouncer(primary.port) as bouncer:
        server, load = start_writers(bouncer.url_for("postgres"), DATABASE_DIRECT_URL=primary.url)
        try:
            statuses: list[int] = []
            lock = threading.Lock()

            def reader(number: int) -> None:
                with httpx.Client(base_url=load.base, headers=load.headers, timeout=10) as client:
                    for step in range(30):
                        resource_id = load.ids[(number + step) % len(load.ids)]
                        for response in (
                            client.post("/api/resources", json={"name": f"r{number}-{step}"}),
                            client.get(f"/api/resources/{resource_id}"),
                            client.get(f"/api/resources/{resource_id}/history"),
                            client.get("/api/resources", params={"per_page": 5}),
                            client.get("/api/events", params={"limit": 10}),
                        ):
                            with lock:
                                statuses.append(response.status_code)

            load.start()
            with ThreadPoolExecutor(max_workers=8) as pool:
                list(pool.map(reader, range(8)))
            load.finish()

            assert set(statuses) <= {200, 201}, sorted(set(statuses))
            assert {answer.status for answer in load.answers} == {200}
            load.assert_nothing_acknowledged_was_lost()
            load.assert_the_feed_catches_up()
            log = bouncer.log_path.read_text()
            assert "unsupported startup parameter" not in log
            assert "prepared statement" not in log
            with psycopg.connect(bouncer.url_for("pgbouncer"), autocommit=True) as admin:
                cursor = admin.execute("SHOW STATS")
                names = [column.name for column in cursor.description or ()]
                stats = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
            served = sum(
                int(row["total_xact_count"]) for row in stats if row["database"] == "postgres"
            )
            assert served >= len(statuses), "the requests did not go through PgBouncer"
        finally:
            stop(server)
