"""Events and the read model commit together, in PostgreSQL."""

from __future__ import annotations

import pytest
from eventsourcing.persistence import IntegrityError

from api.composition.services import Services
from domain.resource import Actor, Resource, resource_uuid
from tests.acting import Acting
from tests.integration.read_models import replayed_rows, rows
from tests.seeding import seed

PROJECT = 4


def test_registering_writes_the_event_and_the_read_model_row(
    services: Services, acting: Acting
) -> None:
    record = acting.register(PROJECT, "user-1", name="  report.pdf ", size_bytes=3)
    assert (record.name, record.status, record.version) == ("report.pdf", "pending", 1)
    assert rows(services, "resources")[0]["name"] == "report.pdf"
    stored = services.events.recorder.select_events(resource_uuid(record.id))
    assert [event.topic.rsplit(".", 1)[-1] for event in stored] == ["FileRegistered"]


def test_a_multi_field_change_is_one_transaction(services: Services, acting: Acting) -> None:
    resource = acting.register(PROJECT, "user-1", size_bytes=3)
    acting.put_bytes(resource.id, b"abc")
    record = acting.update(
        PROJECT, "user-2", resource.id, name="b.txt", description="done", confirm_upload=True
    )
    with services.datastore.get_connection() as conn:
        transactions = conn.execute(
            "SELECT count(DISTINCT xmin::text) AS n, count(*) AS events FROM resources_events "
            "WHERE originator_id = %s AND originator_version > 1",
            (resource.aggregate_id,),
        ).fetchone()
    assert transactions == {"n": 1, "events": 3}
    assert (record.name, record.description, record.status, record.version) == (
        "b.txt",
        "done",
        "uploaded",
        4,
    )
    assert rows(services, "resources")[0]["version"] == 4


def test_a_losing_writer_changes_neither_events_nor_read_model(
    services: Services, acting: Acting
) -> None:
    resource = acting.register(PROJECT, "user-1")
    first = services.events.resource_at(resource.aggregate_id, 1)
    second = services.events.resource_at(resource.aggregate_id, 1)
    first.rename("first.txt", by=Actor(user_id="user-1"))
    services.events.save(first)
    second.rename("second.txt", by=Actor(user_id="user-2"))
    with pytest.raises(IntegrityError):
        services.events.save(second)
    (row,) = rows(services, "resources")
    assert (row["name"], row["version"]) == ("first.txt", 2)
    assert len(services.events.recorder.select_events(resource.aggregate_id)) == 2


def test_the_read_model_equals_a_replay_of_the_store(services: Services, acting: Acting) -> None:
    for number in range(5):
        resource = acting.register(PROJECT, "u", name=f"file-{number}.txt")
        if number % 2:
            acting.update(PROJECT, "u", resource.id, name=f"renamed-{number}")
    assert replayed_rows(services) == rows(services, "resources")


def test_a_large_append_commits_whole(services: Services) -> None:
    """Thousands of events in one save (an import) land, with their read-model rows."""
    seeded = seed(services, resources=1000, changes_each=4)
    assert services.events.recorder.max_notification_id() == seeded
    assert len(rows(services, "resources")) == 1000
    assert rows(services, "resources") == replayed_rows(services)


def test_snapshots_are_stored_every_fifty_events(services: Services, acting: Acting) -> None:
    resource = acting.register(PROJECT, "u")
    for number in range(120):
        acting.update(PROJECT, "u", resource.id, name=f"name-{number}")
    assert services.events.snapshots is not None
    versions = [
        snapshot.originator_version
        for snapshot in services.events.snapshots.get(resource.aggregate_id)
    ]
    assert versions == [50, 100]
    assert isinstance(services.events.resource_at(resource.aggregate_id, 121), Resource)
