"""History and time travel (`ResourceHistory`) over an in-memory `EventHistory`: no database.

The resources are made through the real `ResourceService` over the fake store, so the
events and snapshots are the ones production appends."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
from msgspec.structs import replace

from adapters.caching_store import CachingResourceStore
from application.access import Caller, Principal
from application.commands import DeleteResource, RegisterResource, UpdateResource
from application.errors import ResourceNotFound, Unauthenticated
from application.history import HistoryPage, ResourceHistory
from application.service import SNAPSHOT_INTERVAL, ResourceService
from domain.resource import Resource, resource_uuid
from tests.fakes import FakeResourceStore, MemoryBlobStore, MemoryEventHistory

T = TypeVar("T")

PROJECT = 4
OTHER_PROJECT = 5


def run(awaitable: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(awaitable)


class World:
    def __init__(self) -> None:
        self.store = FakeResourceStore()
        self.service = ResourceService(
            store=CachingResourceStore(self.store),
            ids=self.store,
            outcomes=self.store,
            blobs=MemoryBlobStore(),
            max_upload_bytes=1000,
        )
        self.caller = self.store.add_key("alice-key", project_id=PROJECT, user_id="alice")
        self.outsider = self.store.add_key(
            "mallory-key", project_id=OTHER_PROJECT, user_id="mallory", key_id=2
        )
        self.events = MemoryEventHistory(self.store)
        self.acting: list[Principal] = []
        self.history = ResourceHistory(self.events, on_principal=self.acting.append)

    def register(self, **fields: Any) -> int:
        command = replace(RegisterResource(name="n0", size_bytes=3), **fields)
        return run(self.service.register(self.caller, command)).record.id

    def rename(self, resource_id: int, name: str) -> None:
        run(self.service.update(self.caller, UpdateResource(resource_id=resource_id, name=name)))

    def delete(self, resource_id: int) -> None:
        run(self.service.delete(self.caller, DeleteResource(resource_id=resource_id)))

    def page(
        self, resource_id: int, page: int = 1, per_page: int = 20, caller: Caller | None = None
    ) -> HistoryPage:
        return run(self.history.page(caller or self.caller, resource_id, page, per_page))

    def at_version(self, resource_id: int, version: int, caller: Caller | None = None) -> Resource:
        return run(self.history.at_version(caller or self.caller, resource_id, version))

    def as_of(self, resource_id: int, moment: datetime, caller: Caller | None = None) -> Resource:
        return run(self.history.as_of(caller or self.caller, resource_id, moment))


@pytest.fixture
def world() -> World:
    return World()


def renamed_times(world: World, resource_id: int, times: int) -> None:
    for number in range(1, times + 1):
        world.rename(resource_id, f"n{number}")


def test_a_page_lists_events_oldest_first_with_what_each_changed(world: World) -> None:
    resource_id = world.register(description="draft")
    renamed_times(world, resource_id, 2)

    found = world.page(resource_id)

    assert found.total == 3
    assert [(entry.version, entry.type) for entry in found.entries] == [
        (1, "FileRegistered"),
        (2, "Renamed"),
        (3, "Renamed"),
    ]
    registered, first, second = found.entries
    assert registered.changes["name"] == (None, "n0")
    assert registered.changes["description"] == (None, "draft")
    assert first.changes == {"name": ("n0", "n1")}
    assert second.changes == {"name": ("n1", "n2")}
    assert {entry.actor for entry in found.entries} == {"alice"}
    assert world.events.reads == 1


def test_pages_split_the_stream_and_a_page_past_the_end_is_empty(world: World) -> None:
    resource_id = world.register()
    renamed_times(world, resource_id, 6)

    assert [entry.version for entry in world.page(resource_id, 2, 3).entries] == [4, 5, 6]
    assert world.page(resource_id, 2, 3).entries[0].changes == {"name": ("n2", "n3")}
    assert [entry.version for entry in world.page(resource_id, 3, 3).entries] == [7]
    beyond = world.page(resource_id, 9, 3)
    assert (beyond.entries, beyond.total) == ([], 7)


def test_a_resource_that_never_existed_has_no_history(world: World) -> None:
    with pytest.raises(ResourceNotFound):
        world.page(41)
    with pytest.raises(ResourceNotFound):
        world.at_version(41, 1)


@pytest.mark.parametrize("page", [1, 2, 9])
def test_another_projects_history_is_not_found_on_any_page(world: World, page: int) -> None:
    resource_id = world.register()
    renamed_times(world, resource_id, 3)

    with pytest.raises(ResourceNotFound):
        world.page(resource_id, page, 2, caller=world.outsider)
    with pytest.raises(ResourceNotFound):
        world.at_version(resource_id, 2, caller=world.outsider)
    with pytest.raises(ResourceNotFound):
        world.as_of(resource_id, datetime.now(UTC), caller=world.outsider)


def test_a_deleted_resources_history_stays_readable(world: World) -> None:
    resource_id = world.register()
    world.rename(resource_id, "n1")
    world.delete(resource_id)

    found = world.page(resource_id)

    assert [entry.type for entry in found.entries] == ["FileRegistered", "Renamed", "Deleted"]
    assert found.entries[-1].changes == {"deleted": (False, True)}
    assert world.page(resource_id, 5, 2).total == 3


def test_a_version_is_the_resource_after_that_event(world: World) -> None:
    resource_id = world.register()
    renamed_times(world, resource_id, 3)

    past = world.at_version(resource_id, 2)

    assert (past.name, past.version, past.project_id) == ("n1", 2, PROJECT)
    assert world.events.reads == 1


@pytest.mark.parametrize("version", [0, -1, 4, 2**63 - 1])
def test_a_version_out_of_range_is_not_found(world: World, version: int) -> None:
    resource_id = world.register()
    world.rename(resource_id, "n1")
    world.delete(resource_id)  # version 3

    with pytest.raises(ResourceNotFound):
        world.at_version(resource_id, version)


def test_a_version_once_deleted_is_not_found_and_the_versions_before_it_are(
    world: World,
) -> None:
    resource_id = world.register()
    world.rename(resource_id, "n1")
    world.delete(resource_id)

    assert world.at_version(resource_id, 2).name == "n1"
    with pytest.raises(ResourceNotFound):
        world.at_version(resource_id, 3)


def test_as_of_a_moment_is_the_version_current_then(world: World) -> None:
    resource_id = world.register()
    renamed_times(world, resource_id, 2)
    world.delete(resource_id)
    times = [event.timestamp for event in world.store.events[resource_uuid(resource_id)]]

    def as_of(moment: datetime) -> Resource:
        return world.as_of(resource_id, moment)

    with pytest.raises(ResourceNotFound):
        as_of(times[0] - timedelta(microseconds=1))  # before it existed
    for moment in times:
        current = max(version for version, time in enumerate(times, 1) if time <= moment)
        if current == len(times):
            with pytest.raises(ResourceNotFound):
                as_of(moment)  # deleted by then
        else:
            assert (as_of(moment).version, as_of(moment).name) == (current, f"n{current - 1}")
    world.events.reads = 0
    as_of(times[1])
    assert world.events.reads == 2  # the version then, and the resource at it


def test_snapshots_bound_the_events_read_and_change_no_answer(world: World) -> None:
    resource_id = world.register()
    renamed_times(world, resource_id, SNAPSHOT_INTERVAL + 9)  # 60 events
    assert [s.originator_version for s in world.store.snapshots] == [SNAPSHOT_INTERVAL]
    without = World()
    without.store.events = world.store.events  # the same stream, without snapshots

    found = world.page(resource_id, 6, 10)  # events 51 to 60, from the snapshot at 50

    assert world.events.events_read == 10
    assert [entry.version for entry in found.entries] == list(range(51, 61))
    assert found.entries[0].changes == {"name": ("n49", "n50")}
    for page, per_page in [(1, 20), (3, 20), (5, 10), (6, 10), (7, 10), (2, 49), (1, 100)]:
        assert world.page(resource_id, page, per_page) == without.page(resource_id, page, per_page)
    for version in (1, 49, 50, 51, 60):
        with_snapshot = world.at_version(resource_id, version)
        replayed = without.at_version(resource_id, version)
        assert (with_snapshot.name, with_snapshot.version) == (replayed.name, replayed.version)
        assert with_snapshot.name == f"n{version - 1}"


def test_every_read_looks_up_the_key_first_and_names_whom_it_acts_for(world: World) -> None:
    resource_id = world.register()
    revoked = world.store.add_key("old-key", project_id=PROJECT, user_id="bob", key_id=3)
    world.store.revoke(revoked)
    moment = datetime.now(UTC)

    for read in (
        lambda: world.page(resource_id, caller=revoked),
        lambda: world.page(41, caller=revoked),  # 401 before 404
        lambda: world.at_version(resource_id, 1, caller=revoked),
        lambda: world.at_version(resource_id, 0, caller=revoked),
        lambda: world.as_of(resource_id, moment, caller=revoked),
        lambda: world.as_of(resource_id, moment - timedelta(days=1), caller=revoked),
    ):
        with pytest.raises(Unauthenticated):
            read()

    with pytest.raises(ResourceNotFound):
        run(world.history.page(world.outsider, resource_id, 1, 20))

    assert world.acting == [world.store.keys[world.outsider.digest]]  # for the log line
