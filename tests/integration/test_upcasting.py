"""Events stored before actor metadata grew (class_version 1) still read correctly."""

from __future__ import annotations

import json

from eventsourcing.persistence import StoredEvent

from api.composition.services import Services
from domain.resource import Resource, resource_uuid
from tests.acting import Acting
from tests.integration.read_models import rows
from tests.seeding import next_id

PROJECT = 4


def version_1_events(resource_id: int) -> list[StoredEvent]:
    """A registration and a rename, as the first release stored them."""
    aggregate_id = resource_uuid(resource_id)
    registered = {
        "originator_id": aggregate_id.hex,
        "originator_version": 1,
        "timestamp": {"_type_": "datetime_iso", "_data_": "2026-01-05T10:00:00+00:00"},
        "originator_topic": "domain.resource:Resource",
        "resource_id": resource_id,
        "project_id": PROJECT,
        "name": "old.txt",
        "description": None,
        "mime_type": "text/plain",
        "size_bytes": None,
        "actor": "early-user",
    }
    renamed = {
        "originator_id": aggregate_id.hex,
        "originator_version": 2,
        "timestamp": {"_type_": "datetime_iso", "_data_": "2026-01-06T10:00:00+00:00"},
        "name": "older.txt",
        "actor": "early-user",
    }
    return [
        StoredEvent(
            originator_id=aggregate_id,
            originator_version=state["originator_version"],  # type: ignore[arg-type]
            topic=f"domain.resource:Resource.{topic}",
            state=json.dumps(state).encode(),
        )
        for topic, state in (("FileRegistered", registered), ("Renamed", renamed))
    ]


def test_version_1_events_upcast_with_unknown_key_and_request(services: Services) -> None:
    resource_id = next_id(services)
    services.events.recorder.insert_events(version_1_events(resource_id))

    events = [
        event
        for event in services.events.events.get(resource_uuid(resource_id))
        if isinstance(event, Resource.Registered | Resource.Changed)
    ]
    assert [type(event).__name__ for event in events] == ["FileRegistered", "Renamed"]
    assert [(event.actor, event.key_id, event.request_id) for event in events] == [
        ("early-user", None, None),
        ("early-user", None, None),
    ]


def test_old_events_project_and_take_new_changes(services: Services, acting: Acting) -> None:
    resource_id = next_id(services)
    services.events.recorder.insert_events(version_1_events(resource_id))

    (row,) = rows(services, "resources")
    assert (row["name"], row["version"], row["created_by"]) == ("older.txt", 2, "early-user")

    acting.update(PROJECT, "today", resource_id, name="new.txt")
    key_id = services.keys.listing()[-1].id
    reader = acting.caller(PROJECT, "today")
    page = acting.resources.history_page(reader, resource_id, page=1, per_page=10)
    assert [(entry.type, entry.actor, entry.key_id) for entry in page.entries] == [
        ("FileRegistered", "early-user", None),
        ("Renamed", "early-user", None),
        ("Renamed", "today", key_id),
    ]
    assert page.entries[1].changes == {"name": ("old.txt", "older.txt")}
    stored = services.events.recorder.select_events(resource_uuid(resource_id), gt=2)
    assert json.loads(stored[0].state)["class_version"] == 2
