"""The use cases, over the library's in-memory event store and fake ports."""

from __future__ import annotations

import pytest
from msgspec.structs import replace

from application.commands import DeleteResource, RegisterResource, UpdateResource
from application.errors import ResourceNotFound
from application.resources import ResourceApplication, blob_key
from domain.errors import InvalidValue, UploadIncomplete
from domain.resource import Resource
from tests.fakes import CountingIds, MemoryBlobStore

PROJECT = 4


@pytest.fixture
def blobs() -> MemoryBlobStore:
    return MemoryBlobStore()


@pytest.fixture
def app(blobs: MemoryBlobStore) -> ResourceApplication:
    return ResourceApplication(
        {"PERSISTENCE_MODULE": "eventsourcing.popo"},
        blobs=blobs,
        ids=CountingIds(),
        max_upload_bytes=1000,
    )


def register(app: ResourceApplication, **fields: object) -> Resource:
    command = RegisterResource(project_id=PROJECT, actor="user-1", name="a.txt", size_bytes=3)
    return app.register(replace(command, **fields))


def stored_event_names(app: ResourceApplication, resource_id: int) -> list[str]:
    resource = app.find(PROJECT, resource_id)
    return [type(event).__name__ for event in app.events.get(resource.id)]


def test_registering_allocates_increasing_public_ids(app: ResourceApplication) -> None:
    assert [register(app).resource_id for _ in range(3)] == [1, 2, 3]


def test_a_declared_size_over_the_upload_limit_is_refused(app: ResourceApplication) -> None:
    with pytest.raises(InvalidValue) as refused:
        register(app, size_bytes=1001)
    assert refused.value.field == "size_bytes"


def test_a_patch_of_three_fields_appends_three_events_in_one_save(
    app: ResourceApplication, blobs: MemoryBlobStore
) -> None:
    resource = register(app)
    blobs.blobs[blob_key(resource.resource_id)] = b"abc"
    before = app.recorder.max_notification_id() or 0

    app.update(
        UpdateResource(
            project_id=PROJECT,
            actor="user-2",
            resource_id=resource.resource_id,
            name="b.txt",
            description="final",
            confirm_upload=True,
        )
    )

    notifications = app.recorder.select_notifications(start=before + 1, limit=10)
    assert [n.topic.rsplit(".", 1)[-1] for n in notifications] == [
        "Renamed",
        "DescriptionChanged",
        "UploadConfirmed",
    ]


def test_a_patch_that_changes_nothing_appends_nothing(app: ResourceApplication) -> None:
    resource = register(app, description="same")
    before = app.recorder.max_notification_id()
    after = app.update(
        UpdateResource(
            project_id=PROJECT,
            actor="user-1",
            resource_id=resource.resource_id,
            name="a.txt",
            description="same",
        )
    )
    assert app.recorder.max_notification_id() == before
    assert after.version == 1


def test_a_refused_field_appends_none_of_the_others(app: ResourceApplication) -> None:
    resource = register(app)
    with pytest.raises(UploadIncomplete):
        app.update(
            UpdateResource(
                project_id=PROJECT,
                actor="user-1",
                resource_id=resource.resource_id,
                name="renamed.txt",
                confirm_upload=True,
            )
        )
    assert stored_event_names(app, resource.resource_id) == ["FileRegistered"]


def test_another_projects_resource_is_not_found(app: ResourceApplication) -> None:
    resource = register(app)
    with pytest.raises(ResourceNotFound):
        app.update(
            UpdateResource(
                project_id=PROJECT + 1, actor="x", resource_id=resource.resource_id, name="n"
            )
        )
    with pytest.raises(ResourceNotFound):
        app.delete(
            DeleteResource(project_id=PROJECT + 1, actor="x", resource_id=resource.resource_id)
        )


def test_deleting_removes_the_bytes_and_keeps_the_history(
    app: ResourceApplication, blobs: MemoryBlobStore
) -> None:
    resource = register(app)
    blobs.blobs[blob_key(resource.resource_id)] = b"abc"
    app.delete(DeleteResource(project_id=PROJECT, actor="user-1", resource_id=resource.resource_id))
    assert blobs.size(blob_key(resource.resource_id)) is None
    with pytest.raises(ResourceNotFound):
        app.find(PROJECT, resource.resource_id)
    assert [type(e).__name__ for e in app.events.get(resource.id)] == ["FileRegistered", "Deleted"]


def test_confirming_an_upload_uses_the_stored_size(
    app: ResourceApplication, blobs: MemoryBlobStore
) -> None:
    resource = register(app, size_bytes=None)
    blobs.blobs[blob_key(resource.resource_id)] = b"12345"
    confirmed = app.update(
        UpdateResource(
            project_id=PROJECT, actor="u", resource_id=resource.resource_id, confirm_upload=True
        )
    )
    assert (confirmed.status, confirmed.size_bytes) == ("uploaded", 5)
