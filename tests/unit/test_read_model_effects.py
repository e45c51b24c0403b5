"""What each event does to its row of the `resources` read model, and the row <-> aggregate laws."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

from eventsourcing.domain import Aggregate
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import DomainError
from domain.resource import Actor, Resource, audited_state
from projections.resources import (
    Insert,
    Remove,
    Rows,
    Update,
    fold_effects,
    merge_effects,
    record_of,
    resource_effect,
    resource_from_record,
)

BY = Actor(user_id="user-1", key_id=3, request_id="req-1")


def a_file(size_bytes: int | None = 5) -> Resource:
    return Resource.register_file(
        resource_id=7,
        project_id=4,
        name="a.txt",
        description="first",
        mime_type="text/plain",
        size_bytes=size_bytes,
        by=BY,
    )


def a_link() -> Resource:
    return Resource.register_link(
        resource_id=8,
        project_id=4,
        name="docs",
        description=None,
        mime_type=None,
        size_bytes=None,
        url="https://example.com/docs",
        by=BY,
    )


def events_of(resource: Resource) -> list[Aggregate.Event]:
    return [event for event in resource.collect_events() if isinstance(event, Aggregate.Event)]


def effects_of(events: list[Aggregate.Event]) -> list[Insert | Update | Remove]:
    return [effect for event in events if (effect := resource_effect(event)) is not None]


def folded(events: list[Aggregate.Event], rows: Rows | None = None) -> Rows:
    return fold_effects({} if rows is None else rows, effects_of(events))


# Each event's effect


def test_a_file_registration_inserts_a_pending_file_row() -> None:
    resource = a_file()
    [registered] = events_of(resource)

    effect = resource_effect(registered)

    assert effect == Insert(
        {
            "aggregate_id": resource.id,
            "id": 7,
            "project_id": 4,
            "name": "a.txt",
            "description": "first",
            "status": "pending",
            "kind": "file",
            "mime_type": "text/plain",
            "size_bytes": 5,
            "link_url": None,
            "created_by": "user-1",
            "created_at": registered.timestamp,
            "updated_at": registered.timestamp,
            "version": 1,
            "blob": None,
            "digest": None,
        }
    )


def test_a_link_registration_inserts_an_uploaded_link_row() -> None:
    [registered] = events_of(a_link())

    effect = resource_effect(registered)

    assert isinstance(effect, Insert)
    assert (effect.values["kind"], effect.values["status"], effect.values["link_url"]) == (
        "link",
        "uploaded",
        "https://example.com/docs",
    )
    assert effect.values["mime_type"] == "application/octet-stream"


def test_a_rename_updates_the_name_and_stamps_the_row() -> None:
    resource = a_file()
    resource.collect_events()
    resource.rename("b.txt", by=BY)
    [renamed] = events_of(resource)

    assert resource_effect(renamed) == Update(
        resource.id, 2, {"name": "b.txt", "updated_at": renamed.timestamp, "version": 2}
    )


def test_clearing_the_description_updates_it_to_none() -> None:
    resource = a_file()
    resource.collect_events()
    resource.describe(None, by=BY)
    [described] = events_of(resource)

    effect = resource_effect(described)

    assert isinstance(effect, Update)
    assert effect.values == {
        "description": None,
        "updated_at": described.timestamp,
        "version": 2,
    }


def test_a_confirmed_upload_makes_the_row_uploaded_with_the_stored_size() -> None:
    resource = a_file(size_bytes=None)
    resource.collect_events()
    resource.confirm_upload(12, by=BY, blob="objects/7/u1", digest="sha256:ab")
    [confirmed] = events_of(resource)

    effect = resource_effect(confirmed)

    assert isinstance(effect, Update)
    assert (effect.values["status"], effect.values["size_bytes"], effect.version) == (
        "uploaded",
        12,
        2,
    )
    assert (effect.values["blob"], effect.values["digest"]) == ("objects/7/u1", "sha256:ab")


def test_a_deletion_removes_the_row() -> None:
    resource = a_file()
    resource.collect_events()
    resource.delete(by=BY)
    [deleted] = events_of(resource)

    assert resource_effect(deleted) == Remove(resource.id)


# Folding effects in memory


def test_folding_a_history_gives_the_row_of_the_resource() -> None:
    resource = a_file()
    resource.rename("b.txt", by=BY)
    resource.confirm_upload(5, by=BY)

    rows = folded(events_of(resource))

    row = rows[resource.id]
    assert row is not None
    assert (row["name"], row["status"], row["version"]) == ("b.txt", "uploaded", 3)
    assert rows == {resource.id: _record_values(resource)}


def _record_values(resource: Resource) -> dict[str, Any]:
    record = record_of(resource)
    return {name: getattr(record, name) for name in record.__struct_fields__}


def test_applying_each_event_twice_changes_nothing() -> None:
    resource = a_file()
    resource.rename("b.txt", by=BY)
    resource.describe("second", by=BY)
    resource.confirm_upload(5, by=BY)
    events = events_of(resource)
    once = folded(events)

    for event in events:
        again = folded([event], copy.deepcopy(once))
        assert again == once, type(event).__name__


def test_an_older_change_applied_after_a_newer_one_changes_nothing() -> None:
    resource = a_file()
    resource.rename("b.txt", by=BY)
    resource.rename("c.txt", by=BY)
    registered, to_b, to_c = events_of(resource)

    rows = folded([registered, to_c, to_b])

    assert rows[resource.id] is not None
    assert rows[resource.id] == _record_values(resource)


def test_a_deleted_resource_has_no_row_after_folding() -> None:
    resource = a_file()
    resource.rename("b.txt", by=BY)
    resource.delete(by=BY)

    assert folded(events_of(resource)) == {resource.id: None}


# Merging one append's effects


def test_a_registration_and_a_rename_in_one_append_merge_into_one_insert() -> None:
    resource = a_file()
    resource.rename("b.txt", by=BY)

    inserts, updates, removals = merge_effects(effects_of(events_of(resource)))

    assert [(row["name"], row["version"]) for row in inserts] == [("b.txt", 2)]
    assert inserts == [_record_values(resource)]
    assert (updates, removals) == ([], [])


def test_changes_to_an_earlier_row_merge_into_one_update_at_the_last_version() -> None:
    resource = a_file()
    resource.collect_events()
    resource.rename("b.txt", by=BY)
    resource.describe("second", by=BY)
    events = events_of(resource)

    inserts, updates, removals = merge_effects(effects_of(events))

    assert (inserts, removals) == ([], [])
    assert updates == [
        Update(
            resource.id,
            3,
            {
                "name": "b.txt",
                "description": "second",
                "updated_at": events[-1].timestamp,
                "version": 3,
            },
        )
    ]


def test_a_change_then_a_deletion_in_one_append_merge_into_a_removal_only() -> None:
    resource = a_file()
    resource.collect_events()
    resource.rename("b.txt", by=BY)
    resource.delete(by=BY)

    assert merge_effects(effects_of(events_of(resource))) == ([], [], [resource.id])


def test_a_registration_and_a_deletion_in_one_append_leave_nothing_to_write() -> None:
    resource = a_file()
    resource.delete(by=BY)

    assert merge_effects(effects_of(events_of(resource))) == ([], [], [])


# Row <-> aggregate


any_text = st.text(max_size=30)
changes = st.lists(
    st.one_of(
        st.tuples(st.just("rename"), any_text),
        st.tuples(st.just("describe"), st.none() | any_text),
        st.tuples(st.just("confirm"), st.none() | st.integers(0, 10)),
    ),
    max_size=15,
)


def change(resource: Resource, command: str, argument: Any) -> None:
    if command == "rename":
        resource.rename(argument, by=BY)
    elif command == "describe":
        resource.describe(argument, by=BY)
    else:
        resource.confirm_upload(argument, by=BY)


@given(link=st.booleans(), size=st.none() | st.integers(0, 10), history=changes)
def test_the_row_of_a_resource_is_the_fold_of_its_events_and_restores_it(
    link: bool, size: int | None, history: list[tuple[str, Any]]
) -> None:
    resource = a_link() if link else a_file(size_bytes=size)
    for command, argument in history:
        with contextlib.suppress(DomainError):
            change(resource, command, argument)

    record = record_of(resource)
    rows = folded(events_of(resource))
    restored = resource_from_record(record)

    assert rows == {resource.id: _record_values(resource)}
    assert audited_state(restored) == audited_state(resource)
    assert (restored.id, restored.version, restored.resource_id) == (
        resource.id,
        resource.version,
        resource.resource_id,
    )
    assert (restored.project_id, restored.created_by) == (resource.project_id, resource.created_by)
    assert record_of(restored) == record
