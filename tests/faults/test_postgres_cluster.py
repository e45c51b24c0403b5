"""The cluster harness (bench/postgres_cluster.py) against real servers, so that the
failover, read-replica and pooler tests built on it can trust what it starts: writes
reach both standbys, a promoted standby takes a multi-host URL's sessions, a replica
and PgBouncer follow it, and PgBouncer in transaction mode refuses no session."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import psycopg
import pytest

from bench.postgres_cluster import (
    PGBOUNCER_MISSING,
    POSTGRES_MISSING,
    Cluster,
    Node,
    PgBouncer,
    pgbouncer_binary,
    postgres_binaries,
)

pytestmark = pytest.mark.skipif(postgres_binaries() is None, reason=POSTGRES_MISSING)
needs_pgbouncer = pytest.mark.skipif(pgbouncer_binary() is None, reason=PGBOUNCER_MISSING)
T = TypeVar("T")


@pytest.fixture
def cluster(capsys: pytest.CaptureFixture[str]) -> Iterator[Cluster]:
    """A primary, a synchronous standby and an asynchronous replica, all streaming."""
    started = time.monotonic()
    with Cluster() as cluster:
        cluster.add_standby("standby", synchronous=True)
        cluster.add_standby("replica", synchronous=False)
        with capsys.disabled():
            print(f"\nprimary + sync standby + async replica: {time.monotonic() - started:.2f} s")
        yield cluster


def within(seconds: float, probe: Callable[[], T | None]) -> T:
    """What `probe` returns first that is not None, polling for up to `seconds`."""
    deadline = time.monotonic() + seconds
    while (found := probe()) is None:
        assert time.monotonic() < deadline, f"nothing within {seconds} s"
        time.sleep(0.02)
    return found


def note(node: Node, mark: int) -> str | None:
    """The note of row `mark` on `node`, None while it has not arrived there."""
    with psycopg.connect(node.url, autocommit=True) as conn:
        try:
            row = conn.execute("SELECT note FROM marks WHERE id = %s", (mark,)).fetchone()
        except psycopg.errors.UndefinedTable:
            return None
    return None if row is None else str(row[0])


def write(url: str, mark: int, text: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS marks (id int PRIMARY KEY, note text)")
        conn.execute("INSERT INTO marks VALUES (%s, %s)", (mark, text))


def test_a_commit_reaches_the_sync_standby_and_the_async_replica(cluster: Cluster) -> None:
    standby, replica = cluster.nodes[1:]
    with psycopg.connect(cluster.primary.url, autocommit=True) as conn:
        rows = conn.execute("SELECT application_name, sync_state FROM pg_stat_replication")
        states: dict[str, str] = dict(rows.fetchall())
    assert states == {"standby": "sync", "replica": "async"}
    assert standby.is_in_recovery()
    assert replica.is_in_recovery()
    assert not cluster.primary.is_in_recovery()

    write(cluster.primary.url, 1, "written on the primary")

    assert within(2, lambda: note(standby, 1)) == "written on the primary"
    assert within(5, lambda: note(replica, 1)) == "written on the primary"


@needs_pgbouncer
def test_b_a_promoted_standby_takes_the_sessions_and_the_replica(cluster: Cluster) -> None:
    old, standby, replica = cluster.nodes
    write(cluster.primary.url, 1, "before the failover")
    with PgBouncer(old.port) as pooler:
        old.kill()
        assert old.pid is None
        cluster.promote(standby)

        both = f"127.0.0.1:{old.port},127.0.0.1:{standby.port}"
        url = f"postgresql://postgres@{both}/postgres?target_session_attrs=read-write"
        with psycopg.connect(f"{url}&connect_timeout=2", autocommit=True) as conn:
            row = conn.execute("SELECT pg_is_in_recovery(), inet_server_port()").fetchone()
            assert row == (False, standby.port)
            found = conn.execute("SELECT note FROM marks WHERE id = 1").fetchone()
            assert found == ("before the failover",)

        pooler.retarget(standby.port)
        with psycopg.connect(pooler.url_for(), autocommit=True, prepare_threshold=None) as conn:
            row = conn.execute("SELECT pg_is_in_recovery(), inet_server_port()").fetchone()
            assert row == (False, standby.port)

    cluster.repoint(replica, standby)
    write(standby.url, 2, "after the failover")
    assert within(5, lambda: note(replica, 2)) == "after the failover"
    assert replica.is_in_recovery()


@needs_pgbouncer
def test_c_pgbouncer_in_transaction_mode_refuses_no_session() -> None:
    with Cluster() as cluster, PgBouncer(cluster.primary.port) as pooler:
        for _ in range(5):
            # As the service connects through it: no startup options, no prepared
            # statements (PgBouncer 1.18 keeps none across transactions).
            with psycopg.connect(pooler.url_for(), prepare_threshold=None) as conn:
                for number in range(10):
                    assert conn.execute("SELECT %s::int + 1", (number,)).fetchone() == (number + 1,)
                conn.commit()
        log = pooler.log_path.read_text()
        assert "ERROR" not in log
        assert "unsupported startup parameter" not in log
