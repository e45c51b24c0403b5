"""The Resource use cases over in-memory fakes of the ports: no database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar, cast

import pytest
from msgspec.structs import replace

from adapters.caching_store import CachingResourceStore
from adapters.file_blobs import FileBlobStore
from application import service as service_module
from application.access import Caller
from application.commands import (
    DeleteResource,
    IdempotencyKey,
    RegisterResource,
    UpdateResource,
)
from application.errors import (
    BlobStoreUnavailable,
    ConcurrentUpdate,
    IdempotencyKeyReused,
    ResourceNotFound,
    Unauthenticated,
    UploadTooLarge,
    VersionMismatch,
)
from application.ports import Outcome, RememberedOutcome, StoredBlob
from application.service import MAX_ATTEMPTS, ResourceService
from domain.errors import (
    AlreadyUploaded,
    InvalidValue,
    LinkHasNoUpload,
    ResourceDeleted,
    UploadIncomplete,
)
from domain.resource import Actor, Resource
from projections.resources import ResourceRecord
from tests.fakes import FakeResourceStore, MemoryBlobStore

T = TypeVar("T")

PROJECT = 4
OTHER_PROJECT = 5
UPLOAD_LIMIT = 1000
SOMEONE_ELSE = Actor(user_id="someone-else")


def run(awaitable: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(awaitable)


@dataclass
class World:
    store: FakeResourceStore = field(default_factory=FakeResourceStore)
    blobs: MemoryBlobStore = field(default_factory=MemoryBlobStore)

    def __post_init__(self) -> None:
        self.service = ResourceService(
            store=CachingResourceStore(self.store),
            ids=self.store,
            outcomes=self.store,
            blobs=self.blobs,
            max_upload_bytes=UPLOAD_LIMIT,
        )
        self.caller = self.store.add_key("alice-key", project_id=PROJECT, user_id="alice")
        self.outsider = self.store.add_key(
            "mallory-key", project_id=OTHER_PROJECT, user_id="mallory", key_id=2
        )

    def register(self, caller: Caller | None = None, **fields: Any) -> ResourceRecord:
        command = replace(RegisterResource(name="a.txt", size_bytes=3), **fields)
        return run(self.service.register(caller or self.caller, command)).record

    def update(self, resource_id: int, caller: Caller | None = None, **fields: Any) -> Outcome:
        command = UpdateResource(resource_id=resource_id, **fields)
        return run(self.service.update(caller or self.caller, command))

    def delete(self, resource_id: int, caller: Caller | None = None) -> None:
        run(self.service.delete(caller or self.caller, DeleteResource(resource_id=resource_id)))

    def upload(self, resource_id: int, *parts: bytes, declared: int | None = None) -> int:
        return run(self.service.upload(resource_id, chunks(*parts), declared)).size

    def change_elsewhere(self, resource_id: int, change: Callable[[Resource], None]) -> None:
        self.store.change_elsewhere(resource_id, change)


@pytest.fixture
def world() -> World:
    return World()


async def chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def key(name: str, fingerprint: bytes = b"request-1") -> IdempotencyKey:
    return IdempotencyKey(key=name, fingerprint=fingerprint)


def rename_to(name: str) -> Callable[[Resource], None]:
    def change(resource: Resource) -> None:
        resource.rename(name, by=SOMEONE_ELSE)

    return change


# Deciding on remembered rows, and racing other servers


def test_a_change_refused_on_a_remembered_row_is_decided_again_and_keeps_the_change_made_elsewhere(
    world: World,
) -> None:
    resource = world.register()
    world.change_elsewhere(resource.id, rename_to("renamed-elsewhere.txt"))

    outcome = world.update(resource.id, description="mine")

    assert (outcome.record.name, outcome.record.description) == ("renamed-elsewhere.txt", "mine")
    assert outcome.record.version == 3
    assert world.store.row(resource.id) == outcome.record
    assert world.store.event_names(resource.id) == [
        "FileRegistered",
        "Renamed",
        "DescriptionChanged",
    ]


def test_no_change_on_a_remembered_old_row_is_decided_again_on_a_fresh_row_and_appended(
    world: World,
) -> None:
    resource = world.register(name="a.txt")
    world.change_elsewhere(resource.id, rename_to("b.txt"))

    outcome = world.update(resource.id, name="a.txt")

    assert outcome.record.name == "a.txt"
    assert outcome.record.version == 3
    assert world.store.event_names(resource.id) == ["FileRegistered", "Renamed", "Renamed"]


def test_a_change_on_a_remembered_row_that_is_still_current_reads_nothing(world: World) -> None:
    resource = world.register()

    outcome = world.update(resource.id, name="b.txt")

    assert outcome.record.name == "b.txt"
    assert world.store.loads == 0


def test_if_match_is_judged_against_the_stored_version_not_a_remembered_rows(
    world: World,
) -> None:
    resource = world.register()
    world.change_elsewhere(resource.id, rename_to("b.txt"))

    with pytest.raises(VersionMismatch) as mismatch:
        world.update(resource.id, name="c.txt", expected_versions=frozenset({1}))

    assert mismatch.value.current_version == 2
    assert world.store.event_names(resource.id) == ["FileRegistered", "Renamed"]
    stored = world.store.row(resource.id)
    assert stored is not None
    assert stored.name == "b.txt"


def test_if_match_with_the_stored_version_succeeds_when_the_remembered_row_is_older(
    world: World,
) -> None:
    resource = world.register()
    world.change_elsewhere(resource.id, rename_to("b.txt"))

    outcome = world.update(resource.id, name="c.txt", expected_versions=frozenset({2}))

    assert (outcome.record.name, outcome.record.version) == ("c.txt", 3)


def test_losing_a_few_races_is_retried_until_the_change_lands(world: World) -> None:
    resource = world.register()
    races = iter(["b.txt", "c.txt", "d.txt"])

    def another_server_appends_first() -> None:
        name = next(races, None)
        if name is not None:
            world.change_elsewhere(resource.id, rename_to(name))
            world.store.before_append = another_server_appends_first

    world.store.before_append = another_server_appends_first

    outcome = world.update(resource.id, description="mine")

    assert (outcome.record.name, outcome.record.description) == ("d.txt", "mine")
    assert outcome.record.version == 5
    assert world.store.event_names(resource.id)[-1] == "DescriptionChanged"


def test_losing_every_race_ends_in_a_concurrent_update(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service_module, "random", SimpleNamespace(uniform=lambda a, b: 0.0))
    resource = world.register()
    world.store.refuse_every_append = True

    with pytest.raises(ConcurrentUpdate):
        world.update(resource.id, name="b.txt")

    assert world.store.loads == MAX_ATTEMPTS
    assert world.store.event_names(resource.id) == ["FileRegistered"]


def test_a_registration_the_store_refuses_for_a_live_key_is_a_concurrent_update(
    world: World,
) -> None:
    world.store.refuse_every_append = True

    with pytest.raises(ConcurrentUpdate):
        world.register()

    assert world.store.events == {}


# Changes


def test_a_command_that_changes_nothing_appends_nothing(world: World) -> None:
    resource = world.register(description="same")
    appends = world.store.appends

    outcome = world.update(resource.id, name="a.txt", description="same")

    assert world.store.appends == appends
    assert outcome.record == resource
    assert not outcome.replayed


def test_a_refused_field_appends_none_of_the_others(world: World) -> None:
    resource = world.register()

    with pytest.raises(UploadIncomplete):
        world.update(resource.id, name="renamed.txt", confirm_upload=True)

    assert world.store.event_names(resource.id) == ["FileRegistered"]
    assert world.store.row(resource.id) == resource


def test_a_patch_of_three_fields_appends_three_events_at_once(world: World) -> None:
    resource = world.register()
    world.blobs.plant(resource.id, b"abc")

    outcome = world.update(resource.id, name="b.txt", description="final", confirm_upload=True)

    assert world.store.event_names(resource.id) == [
        "FileRegistered",
        "Renamed",
        "DescriptionChanged",
        "UploadConfirmed",
    ]
    assert world.store.appends == 2
    assert (outcome.record.name, outcome.record.description, outcome.record.status) == (
        "b.txt",
        "final",
        "uploaded",
    )


def test_the_events_of_a_change_record_who_made_it_in_which_request(world: World) -> None:
    resource = world.register()
    caller = replace(world.caller, request_id="req-42")

    world.update(resource.id, caller=caller, name="b.txt")

    renamed = world.store.events[resource.aggregate_id][-1]
    assert isinstance(renamed, Resource.Renamed)
    assert (renamed.actor, renamed.key_id, renamed.request_id) == ("alice", 1, "req-42")


def test_confirming_an_upload_uses_the_stored_blob_size(world: World) -> None:
    resource = world.register(size_bytes=None)
    world.blobs.plant(resource.id, b"12345")

    outcome = world.update(resource.id, confirm_upload=True)

    assert (outcome.record.status, outcome.record.size_bytes) == ("uploaded", 5)


def test_confirming_an_upload_of_another_size_than_declared_is_refused(world: World) -> None:
    resource = world.register(size_bytes=3)
    world.blobs.plant(resource.id, b"12345")

    with pytest.raises(UploadIncomplete):
        world.update(resource.id, confirm_upload=True)

    assert world.store.row(resource.id) == resource


def test_every_fiftieth_version_is_appended_with_a_snapshot(world: World) -> None:
    resource = world.register()
    for number in range(47):
        world.change_elsewhere(resource.id, rename_to(f"name-{number}"))
    world.update(resource.id, name="forty-nine")
    assert world.store.snapshots == []

    world.update(resource.id, name="fifty")

    [snapshot] = world.store.snapshots
    assert snapshot.originator_version == 50
    assert snapshot.state["name"] == "fifty"


def test_deleting_removes_the_row_and_the_bytes_and_keeps_the_history(world: World) -> None:
    resource = world.register()
    world.blobs.plant(resource.id, b"abc")

    world.delete(resource.id)

    assert world.blobs.names(resource.id) == []
    assert world.store.row(resource.id) is None
    with pytest.raises(ResourceNotFound):
        run(world.service.get(world.caller, resource.id))
    assert world.store.event_names(resource.id) == ["FileRegistered", "Deleted"]


def test_a_deleted_resource_can_be_neither_changed_nor_deleted_again(world: World) -> None:
    resource = world.register()
    world.delete(resource.id)

    with pytest.raises(ResourceNotFound):
        world.update(resource.id, name="b.txt")
    with pytest.raises(ResourceNotFound):
        world.delete(resource.id)
    assert world.store.event_names(resource.id) == ["FileRegistered", "Deleted"]


def test_another_projects_resource_is_not_found_and_left_alone(world: World) -> None:
    resource = world.register()
    world.blobs.plant(resource.id, b"abc")

    with pytest.raises(ResourceNotFound):
        run(world.service.get(world.outsider, resource.id))
    with pytest.raises(ResourceNotFound):
        world.update(resource.id, caller=world.outsider, name="mine.txt")
    with pytest.raises(ResourceNotFound):
        world.delete(resource.id, caller=world.outsider)

    assert world.store.event_names(resource.id) == ["FileRegistered"]
    assert world.blobs.bytes_of(resource.id) == b"abc"


def test_a_revoked_key_is_unauthenticated_and_nothing_is_appended(world: World) -> None:
    resource = world.register()
    world.blobs.plant(resource.id, b"abc")
    world.store.revoke(world.caller)

    with pytest.raises(Unauthenticated):
        world.update(resource.id, name="b.txt")
    with pytest.raises(Unauthenticated):
        world.delete(resource.id)
    with pytest.raises(Unauthenticated):
        world.register()

    assert world.store.event_names(resource.id) == ["FileRegistered"]
    assert len(world.store.events) == 1
    assert world.blobs.bytes_of(resource.id) == b"abc"


def test_a_key_revoked_during_a_registration_is_unauthenticated(world: World) -> None:
    world.store.before_append = lambda: world.store.revoke(world.caller)

    with pytest.raises(Unauthenticated):
        world.register()

    assert world.store.events == {}


# Registration


def test_registering_for_another_project_is_refused(world: World) -> None:
    with pytest.raises(InvalidValue) as refused:
        world.register(project_id=OTHER_PROJECT)

    assert refused.value.field == "project_id"
    assert world.store.events == {}


def test_registering_for_ones_own_project_by_id_is_accepted(world: World) -> None:
    assert world.register(project_id=PROJECT).project_id == PROJECT


def test_a_declared_size_over_the_upload_limit_is_refused(world: World) -> None:
    with pytest.raises(InvalidValue) as refused:
        world.register(size_bytes=UPLOAD_LIMIT + 1)

    assert refused.value.field == "size_bytes"
    assert world.store.events == {}
    assert world.register(size_bytes=UPLOAD_LIMIT).size_bytes == UPLOAD_LIMIT


def test_a_link_declares_a_size_within_the_upload_limit_too(world: World) -> None:
    """One rule for size_bytes, as the OpenAPI document states it: at most the limit."""
    with pytest.raises(InvalidValue) as refused:
        world.register(url="https://example.com/big.iso", size_bytes=UPLOAD_LIMIT + 1)

    assert refused.value.field == "size_bytes"
    link = world.register(url="https://example.com/big.iso", size_bytes=UPLOAD_LIMIT)
    assert (link.kind, link.status, link.size_bytes) == ("link", "uploaded", UPLOAD_LIMIT)


def test_a_registration_whose_commit_answer_was_lost_is_answered_as_created(
    world: World,
) -> None:
    world.store.lose_the_next_answer = True

    outcome = run(world.service.register(world.caller, RegisterResource(name="kept.txt")))

    assert outcome.created
    assert outcome.record.name == "kept.txt"
    assert world.store.row(outcome.record.id) == outcome.record
    assert world.store.appends == 1


def test_registered_resources_get_increasing_ids(world: World) -> None:
    ids = [world.register().id for _ in range(3)]

    assert ids == [1, 2, 3]
    assert [world.store.row(number) is not None for number in ids] == [True] * 3


def test_a_registration_is_answered_with_the_created_row(world: World) -> None:
    outcome = run(world.service.register(world.caller, RegisterResource(name="  a.txt ")))

    assert outcome.created
    assert outcome.record == world.store.row(outcome.record.id)
    assert (outcome.record.name, outcome.record.status, outcome.record.created_by) == (
        "a.txt",
        "pending",
        "alice",
    )


# Idempotency-Key


def test_a_retried_registration_returns_the_first_outcome_and_appends_nothing(
    world: World,
) -> None:
    command = RegisterResource(name="a.txt", idempotency=key("k1"))
    first = run(world.service.register(world.caller, command))

    retry = run(world.service.register(world.caller, command))

    assert (retry.record, retry.created, retry.replayed) == (first.record, True, True)
    assert not first.replayed
    assert world.store.appends == 1
    assert world.register().id == first.record.id + 1


def test_an_idempotency_key_is_the_projects_own(world: World) -> None:
    command = RegisterResource(name="a.txt", idempotency=key("k1"))
    mine = run(world.service.register(world.caller, command))

    theirs = run(world.service.register(world.outsider, command))

    assert not theirs.replayed
    assert theirs.record.id != mine.record.id


def test_an_idempotency_key_reused_for_another_request_is_refused(world: World) -> None:
    resource = world.register(idempotency=key("k1", b"first"))

    with pytest.raises(IdempotencyKeyReused):
        world.register(idempotency=key("k1", b"second"))
    with pytest.raises(IdempotencyKeyReused):
        world.update(resource.id, name="b.txt", idempotency=key("k1", b"second"))

    assert world.store.appends == 1
    assert world.store.row(resource.id) == resource


def test_a_retried_patch_returns_the_first_outcome_and_appends_nothing(world: World) -> None:
    resource = world.register()
    first = world.update(resource.id, name="b.txt", idempotency=key("k1"))
    world.change_elsewhere(resource.id, rename_to("c.txt"))

    retry = world.update(resource.id, name="b.txt", idempotency=key("k1"))

    assert retry.replayed
    assert retry.record == first.record
    assert (retry.record.name, retry.record.version) == ("b.txt", 2)
    assert world.store.event_names(resource.id) == ["FileRegistered", "Renamed", "Renamed"]


def test_a_no_op_patch_with_a_key_keeps_its_outcome_too(world: World) -> None:
    resource = world.register()
    first = world.update(resource.id, name="a.txt", idempotency=key("k1"))
    world.change_elsewhere(resource.id, rename_to("b.txt"))

    retry = world.update(resource.id, name="a.txt", idempotency=key("k1"))

    assert (first.replayed, retry.replayed) == (False, True)
    assert retry.record == resource
    assert world.store.event_names(resource.id) == ["FileRegistered", "Renamed"]


def test_a_retried_delete_returns_without_appending_again(world: World) -> None:
    resource = world.register()
    command = DeleteResource(resource_id=resource.id, idempotency=key("k1"))
    run(world.service.delete(world.caller, command))

    run(world.service.delete(world.caller, command))

    assert world.store.event_names(resource.id) == ["FileRegistered", "Deleted"]


def test_when_a_request_with_the_same_key_commits_first_its_outcome_is_returned(
    world: World,
) -> None:
    resource = world.register()
    theirs = replace(resource, name="theirs.txt", version=2)

    def the_other_request_commits() -> None:
        world.store.outcomes[(PROJECT, "k1")] = RememberedOutcome(
            fingerprint=b"request-1", outcome=Outcome(record=theirs)
        )

    world.store.before_append = the_other_request_commits

    outcome = world.update(resource.id, name="mine.txt", idempotency=key("k1"))

    assert (outcome.record, outcome.replayed) == (theirs, True)
    assert world.store.event_names(resource.id) == ["FileRegistered"]


# Bytes


def test_an_upload_keeps_the_bytes_and_answers_their_size(world: World) -> None:
    resource = world.register(size_bytes=None)

    size = world.upload(resource.id, b"ab", b"c")

    assert size == 3
    assert world.blobs.bytes_of(resource.id) == b"abc"
    assert world.update(resource.id, confirm_upload=True).record.size_bytes == 3


def test_an_upload_past_the_declared_size_is_refused_and_nothing_is_kept(world: World) -> None:
    resource = world.register(size_bytes=3)

    with pytest.raises(UploadTooLarge) as refused:
        world.upload(resource.id, b"ab", b"cd")

    assert refused.value.limit == 3
    assert world.blobs.names(resource.id) == []


def test_an_upload_past_the_upload_limit_is_refused_and_nothing_is_kept(world: World) -> None:
    resource = world.register(size_bytes=None)

    with pytest.raises(UploadTooLarge) as refused:
        world.upload(resource.id, b"x" * UPLOAD_LIMIT, b"y")

    assert refused.value.limit == UPLOAD_LIMIT
    assert world.blobs.names(resource.id) == []


def test_a_too_large_declared_length_is_refused_before_reading_any_bytes(world: World) -> None:
    resource = world.register(size_bytes=3)
    read: list[bytes] = []

    async def body() -> AsyncIterator[bytes]:
        read.append(b"abcd")
        yield b"abcd"

    with pytest.raises(UploadTooLarge):
        run(world.service.upload(resource.id, body(), 4))

    assert read == []


def test_a_refused_upload_leaves_the_bytes_of_an_earlier_one(world: World) -> None:
    resource = world.register(size_bytes=3)
    world.upload(resource.id, b"abc")

    with pytest.raises(UploadTooLarge):
        world.upload(resource.id, b"abcd")

    assert world.blobs.bytes_of(resource.id) == b"abc"


def test_a_link_takes_no_upload(world: World) -> None:
    link = world.register(url="https://example.com/doc")

    with pytest.raises(LinkHasNoUpload):
        world.upload(link.id, b"abc")

    assert world.blobs.names(link.id) == []


def test_a_confirmed_upload_takes_no_more_bytes(world: World) -> None:
    resource = world.register(size_bytes=3)
    world.upload(resource.id, b"abc")
    world.update(resource.id, confirm_upload=True)

    with pytest.raises(AlreadyUploaded):
        world.upload(resource.id, b"xyz")

    assert world.blobs.bytes_of(resource.id) == b"abc"


def test_a_deleted_resource_takes_no_upload(world: World) -> None:
    resource = world.register()
    world.delete(resource.id)

    with pytest.raises(ResourceDeleted):
        world.upload(resource.id, b"abc")
    with pytest.raises(ResourceNotFound):
        world.upload(resource.id + 1, b"abc")

    assert world.blobs.objects == {}


def test_an_uploaded_file_downloads_its_bytes_and_a_pending_one_is_not_found(
    world: World,
) -> None:
    resource = world.register(size_bytes=3)
    world.upload(resource.id, b"abc")

    with pytest.raises(ResourceNotFound):
        run(world.service.download(resource.id))

    world.update(resource.id, confirm_upload=True)

    async def download() -> tuple[ResourceRecord, bytes]:
        record, name = await world.service.download(resource.id)
        return record, b"".join([chunk async for chunk in world.blobs.read(name)])

    record, content = run(download())
    assert (record.status, content) == ("uploaded", b"abc")


# Reads


def test_a_listing_shows_the_callers_project_newest_first(world: World) -> None:
    first = world.register(name="first")
    world.register(caller=world.outsider, name="theirs")
    second = world.register(name="second", url="https://example.com/second")

    everything = run(world.service.page(world.caller, "all", 1, 10))
    pending = run(world.service.page(world.caller, "pending", 1, 10))

    assert [record.id for record in everything.resources] == [second.id, first.id]
    assert everything.total == 2
    assert [record.id for record in pending.resources] == [first.id]


# The file store under races and faults


class MovedWhileConfirming(FileBlobStore):
    """A file store in which another process confirms the upload (moves it to its
    object) just after this one found it."""

    moved = False

    async def newest_upload(self, resource_id: int) -> StoredBlob | None:
        found = await super().newest_upload(resource_id)
        if found is not None and not self.moved:
            self.moved = True
            await super().keep(found, self.object_name(resource_id, found))
        return found


def test_a_confirmation_whose_upload_another_process_moved_meanwhile_is_confirmed(
    tmp_path: Path,
) -> None:
    world = World(blobs=cast(Any, MovedWhileConfirming(tmp_path)))
    resource = world.register(size_bytes=5)
    world.upload(resource.id, b"12345")

    outcome = world.update(resource.id, confirm_upload=True)

    assert (outcome.record.status, outcome.record.size_bytes) == ("uploaded", 5)


def test_an_upload_the_file_store_cannot_take_is_the_stores_unavailability(
    tmp_path: Path,
) -> None:
    (tmp_path / "uploads").write_text("a file where the uploads folder should be")
    world = World(blobs=cast(Any, FileBlobStore(tmp_path)))
    resource = world.register(size_bytes=5)

    with pytest.raises(BlobStoreUnavailable):
        world.upload(resource.id, b"12345")
