"""A store written by the previous release, whose append took a table lock and sent
NOTIFY, migrates when a new process starts: nothing lost, nothing reordered."""

from __future__ import annotations

import threading

from psycopg.sql import SQL, Identifier

from adapters.event_store import append_function_name
from api.composition.services import Services
from tests.previous_release import PREVIOUS_RELEASE_APPEND
from tests.seeding import seed


def function_source(services: Services) -> str:
    name = append_function_name(services.events.projecting_recorder.events_table_name)
    with services.datastore.get_connection() as conn:
        row = conn.execute("SELECT prosrc FROM pg_proc WHERE proname = %s", (name,)).fetchone()
    assert row is not None
    return str(row["prosrc"])


def test_a_previous_release_store_migrates_on_start_with_its_order_kept(
    services: Services,
) -> None:
    recorder = services.events.projecting_recorder
    table = recorder.events_table_name
    with services.datastore.transaction(commit=True) as curs:
        curs.execute(
            SQL(PREVIOUS_RELEASE_APPEND).format(
                function=Identifier(append_function_name(table)),
                events=Identifier(table),
                channel=Identifier(recorder.channel_name),
            )
        )
    assert "LOCK TABLE" in function_source(services)
    old_events = seed(services, resources=30, changes_each=2)  # through the old function
    with services.datastore.get_connection() as conn:
        old = [n.id for n in recorder.reader.visible_after(conn, 0, 10_000)]
    assert len(old) == old_events

    restarted = Services(services.settings)  # a new release's process starts
    try:
        source = function_source(services)
        assert "LOCK TABLE" not in source
        assert "NOTIFY" not in source
        writers = [
            threading.Thread(
                target=seed, args=(restarted,), kwargs={"resources": 5, "changes_each": 1}
            )
            for _ in range(4)
        ]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join()
        read = recorder.select_notifications(start=None, limit=100_000)
    finally:
        restarted.close()
    positions = [n.id for n in read]
    assert positions == sorted(set(positions))
    assert positions[: len(old)] == old  # the old events first, in their order
    assert len(positions) == old_events + 4 * 5 * 2
