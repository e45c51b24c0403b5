"""The raw append: appends per second of the store, lock-free against the previous release.

Each append is one event of a new resource (a fresh uuid, version 1, the state of
a `FileRegistered` as the service stores it, 345 bytes), in a transaction of its
own, through the append function, as the service calls it:
`SELECT * FROM <events>_append(true, ARRAY[..]::uuid[], ...)`. pgbench sends them
(`-M prepared`, two threads), from 16 and then 64 clients, for `SECONDS` each:

- **lock-free**: today's append function, created with the events table by the
  service's own recorder (`ProjectingApplicationRecorder.create_table`);
- **locking**: the previous release's function, word for word (`PREVIOUS_RELEASE_APPEND`),
  created beside it under another name on the same table: it takes
  `LOCK TABLE ... IN EXCLUSIVE MODE` and sends NOTIFY, both held until COMMIT, so
  one append commits (and waits for its WAL flush) at a time.

Both run on the server as configured and on a cluster of the bench's own on which
every WAL flush waits ~1 ms (`bench.cluster`). Before each run the table is
emptied and a CHECKPOINT taken, so each run starts from the same state.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.sql import SQL, Identifier

from adapters.event_store import ProjectingApplicationRecorder, append_function_name
from bench.cluster import bindir, private_cluster
from bench.common import fresh_database
from tests.previous_release import PREVIOUS_RELEASE_APPEND
from tests.storage import library_datastore

DATABASE = "bench_append"
TABLE = "bench_events"
LOCKING_FUNCTION = "bench_events_append_locking"
WRITERS = (16, 64)
SECONDS = 10
WARM_UP_SECONDS = 3
SPARE = 10
"""Connections left free on the server during a run, for its other clients."""
CONNECTION_WAIT = 60.0
"""Seconds a run waits for its connections to be free on a shared server."""


@dataclass(frozen=True)
class AppendRow:
    flush: str
    writers: int
    lock_free: float | None
    """Appends per second through today's function (None: not run, see `not_run`)."""
    locking: float | None
    """Appends per second through the previous release's (None: not run)."""
    not_run: str = ""
    """Why the row was not measured (a shared server without the connections free)."""

    @property
    def ratio(self) -> float | None:
        if self.lock_free is None or self.locking is None:
            return None
        return self.lock_free / self.locking


def event_state() -> tuple[str, bytes]:
    """The topic and stored state of a file's first event, as the service's mapper makes it."""
    from adapters.event_store import ResourceEvents
    from domain.resource import Actor, Resource

    app = ResourceEvents(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    resource = Resource.register_file(
        resource_id=123_456,
        project_id=4,
        name="quarterly-report.docx",
        description=None,
        mime_type="application/octet-stream",
        size_bytes=245_000,
        by=Actor(user_id="user-7f3c2a"),
    )
    (event,) = resource.collect_events()
    stored = app.mapper.to_stored_event(event)
    return stored.topic, stored.state


def create_store(database_url: str) -> None:
    """The events table and today's append function, as the service creates them; the
    previous release's function beside them under `LOCKING_FUNCTION`."""
    datastore = library_datastore(database_url, pool_size=2)
    try:
        recorder = ProjectingApplicationRecorder(datastore, events_table_name=TABLE)
        recorder.create_table()
        with datastore.transaction(commit=True) as curs:
            curs.execute(
                SQL(PREVIOUS_RELEASE_APPEND).format(
                    function=Identifier(LOCKING_FUNCTION),
                    events=Identifier(TABLE),
                    channel=Identifier(recorder.channel_name),
                )
            )
    finally:
        datastore.close()


def pgbench_script(function: str) -> str:
    """One append of one event of a new resource through `function`; the topic and the
    state are pgbench variables (`-D`), sent as parameters, as the service sends them."""
    return (
        f"SELECT * FROM {function}(true, ARRAY[gen_random_uuid()], ARRAY[1::bigint],"
        " ARRAY[:topic::text], ARRAY[:state::bytea]);\n"
    )


def pgbench(database_url: str, script: Path, clients: int, seconds: int) -> float:
    """Appends per second: the transactions per second pgbench reports (without the
    time it took to connect)."""
    topic, state = event_state()
    params = conninfo_to_dict(database_url)
    command = [
        str(bindir() / "pgbench"),
        *("-n", "-c", str(clients), "-j", "2", "-T", str(seconds), "-M", "prepared"),
        *("-f", str(script), "-D", f"topic={topic}", "-D", f"state=\\x{state.hex()}"),
        *("-h", str(params.get("host") or "127.0.0.1"), "-p", str(params.get("port") or 5432)),
        *("-U", str(params.get("user") or "postgres"), str(params["dbname"])),
    ]
    env = {"PGPASSWORD": str(params["password"])} if params.get("password") else {}
    completed = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **env})
    found = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", completed.stdout)
    if completed.returncode != 0 or found is None:
        raise RuntimeError(f"pgbench failed: {completed.stderr.strip()[-500:]}")
    return float(found.group(1))


def fresh_start(database_url: str) -> None:
    """Empties the events table and takes a checkpoint: every run starts alike."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(SQL("TRUNCATE {0}").format(Identifier(TABLE)))
        conn.execute("CHECKPOINT")


def free_connections(database_url: str) -> int:
    """Connections the server has free, not counting those it keeps for superusers."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT current_setting('max_connections')::int"
            " - current_setting('superuser_reserved_connections')::int - count(*)"
            " FROM pg_stat_activity WHERE backend_type = 'client backend'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def wait_for_connections(database_url: str, wanted: int) -> int | None:
    """Waits (at most `CONNECTION_WAIT` s) until `wanted` connections and `SPARE` more are
    free, so a shared server's other clients are not refused; None once they are, else
    how many were free at the end."""
    deadline = time.monotonic() + CONNECTION_WAIT
    while (free := free_connections(database_url)) < wanted + SPARE:
        if time.monotonic() > deadline:
            return free
        time.sleep(1)
    return None


def measure(server_url: str, flush: str) -> list[AppendRow]:
    """Both functions at each number of writers on one server; lock-free first."""
    database_url = fresh_database(server_url, DATABASE)
    create_store(database_url)
    with tempfile.TemporaryDirectory(prefix="bench-append-") as scripts:
        lock_free = Path(scripts) / "lock_free.sql"
        locking = Path(scripts) / "locking.sql"
        lock_free.write_text(pgbench_script(append_function_name(TABLE)))
        locking.write_text(pgbench_script(LOCKING_FUNCTION))
        pgbench(database_url, lock_free, WRITERS[0], WARM_UP_SECONDS)
        rows = []
        for writers in WRITERS:
            rates = []
            for script in (lock_free, locking):
                fresh_start(database_url)
                free = wait_for_connections(database_url, writers)
                if free is not None:
                    why = f"not run: {free} connections free, {writers} + {SPARE} wanted"
                    rows.append(AppendRow(flush, writers, None, None, why))
                    break
                rates.append(pgbench(database_url, script, writers, SECONDS))
            else:
                lock_free_rate, locking_rate = rates
                rows.append(AppendRow(flush, writers, lock_free_rate, locking_rate))
    return rows


def run(server_url: str) -> list[AppendRow]:
    rows = measure(server_url, "as configured")
    with private_cluster() as cluster_url:
        rows.extend(measure(cluster_url, "1 ms flush"))
    return rows
