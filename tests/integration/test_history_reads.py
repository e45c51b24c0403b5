"""History pages deep in a long stream start from a snapshot and still show every change;
the adapter reads each stretch of a stream as the library's event store holds it."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest
from anyio.from_thread import start_blocking_portal

from adapters.event_history import PostgresEventHistory
from api.composition.services import Services
from application.errors import Unauthenticated
from application.ports import StreamStretch
from domain.resource import Resource, resource_uuid
from tests.acting import Acting
from tests.seeding import seed

PROJECT = 4


def test_a_page_past_snapshots_shows_each_change_from_and_to(
    services: Services, acting: Acting
) -> None:
    seed(services, resources=1, changes_each=120)
    snapshots = services.events.snapshots
    assert snapshots is not None
    assert [s.originator_version for s in snapshots.get(resource_uuid(1))] == [50, 100]

    reader = acting.caller(PROJECT, "reader")
    page = acting.resources.history_page(reader, 1, page=4, per_page=20)

    assert page.total == 121
    assert [entry.version for entry in page.entries] == list(range(61, 81))
    assert page.entries[0].changes == {"name": ("seed-58", "seed-59")}
    assert page.entries[-1].changes == {"name": ("seed-77", "seed-78")}
    at_version = acting.resources.at_version(reader, 1, 99)
    assert at_version.name == "seed-97"


def test_the_adapter_reads_what_the_librarys_event_store_holds(
    services: Services, acting: Acting
) -> None:
    seed(services, resources=1, changes_each=120)
    library = services.events
    assert library.snapshots is not None
    aggregate_id = resource_uuid(1)
    reader = acting.caller(PROJECT, "reader")
    principal = acting.resources.call(acting.resources.service.authenticate, reader)
    with start_blocking_portal() as portal:
        _, store = services.resource_service()
        portal.call(store.open)
        try:
            events = PostgresEventHistory(
                store,
                library.mapper,
                events_table=library.projecting_recorder.events_table_name,
                snapshots_table="resources_snapshots",
            )
            stretches = {
                span: portal.call(
                    partial(events.stretch, reader, 1, restore_at=span[0], until=span[1])
                )
                for span in [(0, 20), (49, 60), (50, 60), (100, 121), (120, 500), (500, 500)]
            }
            nothing = portal.call(partial(events.stretch, reader, 2, restore_at=5, until=10))
            (first,) = library.events.get(aggregate_id, lte=1)
            assert isinstance(first, Resource.Registered)
            then = portal.call(partial(events.version_at, reader, 1, first.timestamp))
            earlier = first.timestamp - timedelta(seconds=1)
            before = portal.call(partial(events.version_at, reader, 1, earlier))
            services.keys.revoke(principal.key_id)
            for read in (
                partial(events.stretch, reader, 1, restore_at=0, until=5),
                partial(events.version_at, reader, 1, first.timestamp),
            ):
                with pytest.raises(Unauthenticated):
                    portal.call(read)
        finally:
            portal.call(store.close)

    for (restore_at, until), (found_for, found) in stretches.items():
        assert found_for == principal
        assert found.latest == 121
        nearest = list(library.snapshots.get(aggregate_id, desc=True, limit=1, lte=restore_at))
        assert found.snapshot == (nearest[0] if nearest else None)
        after = found.snapshot.originator_version if found.snapshot else 0
        assert found.events == list(library.events.get(aggregate_id, gt=after, lte=until))
    assert nothing == (principal, StreamStretch(latest=0, snapshot=None, events=[]))
    assert (then, before) == ((principal, 1), (principal, None))
