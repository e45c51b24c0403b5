"""Events and the read model commit together, in PostgreSQL."""

from __future__ import annotations

import pytest
from eventsourcing.persistence import IntegrityError

from api.services import Services
from application.commands import RegisterResource, UpdateResource
from application.resources import blob_key
from domain.resource import Actor, Resource
from tests.integration.read_models import replayed_rows, rows
from tests.seeding import seed

PROJECT = 4


def register(services: Services, name: str = "a.txt", size: int | None = 3) -> Resource:
    return services.resources.register(
        RegisterResource(project_id=PROJECT, actor="user-1", name=name, size_bytes=size)
    )


def test_registering_writes_the_event_and_the_read_model_row(services: Services) -> None:
    resource = register(services, name="  report.pdf ")
    record = services.queries.get(PROJECT, resource.resource_id)
    assert record is not None
    assert (record.name, record.status, record.version) == ("report.pdf", "pending", 1)
    assert record.created_at == resource.created_on
    stored = services.resources.recorder.select_events(resource.id)
    assert [event.topic.rsplit(".", 1)[-1] for event in stored] == ["FileRegistered"]


def test_a_multi_field_change_is_one_transaction(services: Services) -> None:
    resource = register(services)
    with services.resources.blobs.writer(blob_key(resource.resource_id)) as writer:
        writer.write(b"abc")
        writer.commit()
    services.resources.update(
        UpdateResource(
            project_id=PROJECT,
            actor="user-2",
            resource_id=resource.resource_id,
            name="b.txt",
            description="done",
            confirm_upload=True,
        )
    )
    with services.datastore.get_connection() as conn:
        transactions = conn.execute(
            "SELECT count(DISTINCT xmin::text) AS n, count(*) AS events FROM resources_events "
            "WHERE originator_id = %s AND originator_version > 1",
            (resource.id,),
        ).fetchone()
    assert transactions == {"n": 1, "events": 3}
    record = services.queries.get(PROJECT, resource.resource_id)
    assert record is not None
    assert (record.name, record.description, record.status, record.version) == (
        "b.txt",
        "done",
        "uploaded",
        4,
    )


def test_a_losing_writer_changes_neither_events_nor_read_model(services: Services) -> None:
    resource = register(services)
    first = services.resources.find(PROJECT, resource.resource_id)
    second = services.resources.find(PROJECT, resource.resource_id)
    first.rename("first.txt", by=Actor(user_id="user-1"))
    services.resources.save(first)
    second.rename("second.txt", by=Actor(user_id="user-2"))
    with pytest.raises(IntegrityError):
        services.resources.save(second)
    record = services.queries.get(PROJECT, resource.resource_id)
    assert record is not None
    assert (record.name, record.version) == ("first.txt", 2)
    assert len(services.resources.recorder.select_events(resource.id)) == 2


def test_the_read_model_equals_a_replay_of_the_store(services: Services) -> None:
    for number in range(5):
        resource = register(services, name=f"file-{number}.txt")
        if number % 2:
            services.resources.update(
                UpdateResource(
                    project_id=PROJECT,
                    actor="u",
                    resource_id=resource.resource_id,
                    name=f"renamed-{number}",
                )
            )
    assert replayed_rows(services) == rows(services, "resources")


def test_a_large_append_commits_whole(services: Services) -> None:
    """Thousands of events in one save (an import) land, with their read-model rows."""
    seeded = seed(services, resources=1000, changes_each=4)
    assert services.resources.recorder.max_notification_id() == seeded
    assert len(rows(services, "resources")) == 1000
    assert rows(services, "resources") == replayed_rows(services)
