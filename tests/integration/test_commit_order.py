"""The commit-ordered reader's law: every committed event exactly once, in position order.

Appends take no lock, so positions commit out of order. Many writers append at once
through the append function; some hold their transaction open for a while (a
later position commits first), some roll back, some lose their connection in the
middle, some collide on a version. A reader tails the table meanwhile, and its
connection is killed now and then. It must deliver every committed event exactly
once, none of the others, each resource's events in version order.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg.sql import SQL, Identifier

from adapters.event_store import ProjectingApplicationRecorder, append_function_name
from adapters.read_models.reader import Batch, CommitOrderedReader, oldest_writer
from tests.storage import library_datastore

TABLE = "law_events"
WRITERS = 24
APPENDS_EACH = 20
RESOURCES_EACH = 3


@pytest.fixture
def events_table(database_url: str) -> str:
    datastore = library_datastore(database_url, pool_size=2)
    with datastore.transaction(commit=True) as curs:
        curs.execute(SQL("DROP TABLE IF EXISTS {0}").format(Identifier(TABLE)))
    ProjectingApplicationRecorder(datastore, events_table_name=TABLE).create_table()
    datastore.close()
    return TABLE


APPEND = SQL("SELECT * FROM {0}(true, %s, %s, %s, %s)").format(
    Identifier(append_function_name(TABLE))
)


Event = tuple[UUID, int, bytes]
"""A resource, a version, and a token unique to the attempt that appended it."""


def append(
    conn: psycopg.Connection[Any], events: list[tuple[UUID, int]], token: bytes = b""
) -> list[Event]:
    """Appends, each event's state the attempt's token; returns the events as sent."""
    conn.execute(
        APPEND,
        (
            [originator for originator, _ in events],
            [version for _, version in events],
            ["law:Event"] * len(events),
            [token] * len(events),
        ),
    )
    return [(originator, version, token) for originator, version in events]


@dataclass
class Ledger:
    """What the writers know they committed, and what the reader delivered."""

    committed: set[Event] = field(default_factory=set)
    not_committed: set[Event] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    delivered: list[tuple[int, Event]] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


def writer(url: str, seed: int, ledger: Ledger, killer: psycopg.Connection[Any]) -> None:
    rng = random.Random(seed)
    versions = {uuid4(): 0 for _ in range(RESOURCES_EACH)}
    conn = psycopg.connect(url, autocommit=True)
    try:
        for attempt in range(APPENDS_EACH):
            token = f"{seed}/{attempt}".encode()
            originator = rng.choice(list(versions))
            count = rng.choice((1, 1, 1, 2, 3))
            first = versions[originator] + 1
            events = [(originator, first + offset, token) for offset in range(count)]
            sent = [(originator, version) for originator, version, _ in events]
            fate = rng.choices(
                ("commit", "hold", "rollback", "kill", "collide"), weights=(5, 4, 2, 1, 1)
            )[0]
            if fate == "collide" and first > 1:
                # The version is taken: the append fails, and its position is never used.
                with pytest.raises(psycopg.errors.UniqueViolation):
                    append(conn, [(originator, first - 1)])
                continue
            try:
                with conn.transaction(force_rollback=fate == "rollback"):
                    append(conn, sent, token)
                    if fate in ("hold", "rollback", "kill"):
                        time.sleep(rng.uniform(0.001, 0.03))
                    if fate == "kill":
                        pid = conn.info.backend_pid
                        killer.execute("SELECT pg_terminate_backend(%s)", (pid,))
                        time.sleep(0.01)
                        conn.execute("SELECT 1")  # the server has gone: raises
            except psycopg.OperationalError:
                assert fate == "kill"
                with ledger.lock:
                    ledger.not_committed.update(events)
                conn.close()
                conn = psycopg.connect(url, autocommit=True)
                continue
            with ledger.lock:
                if fate == "rollback":
                    ledger.not_committed.update(events)
                else:
                    ledger.committed.update(events)
                    versions[originator] = first + count - 1
    except BaseException as error:
        ledger.errors.append(error)
        raise
    finally:
        conn.close()


def tail(url: str, ledger: Ledger, writers_done: threading.Event, pids: list[int]) -> None:
    """Reads on until the writers are done and nothing more is visible; reconnects when
    its connection is killed, and goes on from the last event it delivered."""
    reader = CommitOrderedReader(TABLE)
    position = 0
    while True:
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                pids.append(conn.info.backend_pid)
                while True:
                    done = writers_done.is_set()
                    batch = reader.read(conn, position, 50)
                    for notification in batch.notifications:
                        originator = notification.originator_id
                        assert isinstance(originator, UUID)
                        ledger.delivered.append(
                            (
                                notification.id,
                                (originator, notification.originator_version, notification.state),
                            )
                        )
                        position = notification.id
                    if done and not batch.notifications and not batch.held:
                        return
                    if not batch.notifications:
                        time.sleep(0.002)
        except psycopg.OperationalError:
            continue  # killed: a new session, the same position and reader


@pytest.mark.parametrize("seed", range(8))
def test_every_committed_event_is_read_once_in_order(
    database_url: str, events_table: str, seed: int
) -> None:
    ledger = Ledger()
    writers_done = threading.Event()
    reader_pids: list[int] = []
    reading = threading.Thread(target=tail, args=(database_url, ledger, writers_done, reader_pids))
    reading.start()
    with psycopg.connect(database_url, autocommit=True) as killer:
        threads = [
            threading.Thread(
                target=writer, args=(database_url, seed * 1000 + number, ledger, killer)
            )
            for number in range(WRITERS)
        ]
        for thread in threads:
            thread.start()
        rng = random.Random(seed)
        kills = 0
        while any(thread.is_alive() for thread in threads):
            time.sleep(rng.uniform(0.05, 0.2))
            if reader_pids:
                killer.execute("SELECT pg_terminate_backend(%s)", (reader_pids[-1],))
                kills += 1
        for thread in threads:
            thread.join()
    writers_done.set()
    reading.join(timeout=60)
    assert not reading.is_alive()
    assert not ledger.errors, ledger.errors
    assert kills > 0
    assert len(reader_pids) > 1

    positions = [position for position, _ in ledger.delivered]
    assert positions == sorted(set(positions)), "delivered out of order, or twice"
    delivered = [event for _, event in ledger.delivered]
    assert len(delivered) == len(set(delivered))
    assert set(delivered) == ledger.committed
    assert not set(delivered) & ledger.not_committed
    assert ledger.not_committed  # some appends really were rolled back or killed
    last: dict[UUID, int] = {}
    for originator, version, _ in delivered:
        assert version == last.get(originator, 0) + 1, "a resource's events out of version order"
        last[originator] = version


def read_settled(reader: CommitOrderedReader, conn: psycopg.Connection[Any]) -> Batch:
    """Reads from the start until no gap holds the read (other transactions on the
    server may be running, and the gap settles only once they end)."""
    deadline = time.monotonic() + 5
    while (batch := reader.read(conn, 0, 10)).held:
        assert time.monotonic() < deadline, "the gap never settled"
        time.sleep(0.01)
    return batch


def test_a_late_commit_holds_the_reader_and_is_then_delivered_first(
    database_url: str, events_table: str
) -> None:
    """The law's smallest case: position 1 commits after position 2."""
    reader = CommitOrderedReader(TABLE)
    early, late = uuid4(), uuid4()
    with (
        psycopg.connect(database_url, autocommit=True) as first,
        psycopg.connect(database_url, autocommit=True) as second,
        psycopg.connect(database_url, autocommit=True) as reading,
    ):
        with first.transaction():
            append(first, [(early, 1)])
            append(second, [(late, 1)])  # commits at once, with the higher position
            batch = reader.read(reading, 0, 10)
            assert batch.notifications == []
            assert batch.held
            again = reader.read(reading, 0, 10)
            assert again.notifications == []
            assert again.held
            writer = oldest_writer(reading)
            assert writer is not None
            assert writer.pid == first.info.backend_pid
        batch = read_settled(reader, reading)
        assert [(n.originator_id, n.id) for n in batch.notifications] == [(early, 1), (late, 2)]


def test_a_rolled_back_position_is_passed_over_once_it_cannot_commit(
    database_url: str, events_table: str
) -> None:
    reader = CommitOrderedReader(TABLE)
    gone, kept = uuid4(), uuid4()
    with (
        psycopg.connect(database_url, autocommit=True) as first,
        psycopg.connect(database_url, autocommit=True) as second,
        psycopg.connect(database_url, autocommit=True) as reading,
    ):
        with first.transaction(force_rollback=True):
            append(first, [(gone, 1)])
            append(second, [(kept, 1)])
            assert reader.read(reading, 0, 10).held
        batch = read_settled(reader, reading)
        assert [(n.originator_id, n.id) for n in batch.notifications] == [(kept, 2)]
