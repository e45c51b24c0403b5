"""The `resources` read model: one row per live resource, written only from events.

`ResourceRecord` declares the row once: the table's columns and DDL (through
`TableShape`), the statements that write it, the rows read back, and the
aggregate restored from a row all derive from it. `resource_effect` says, once,
what each event does to a row. Two writers carry it out: SQL inside each
append's transaction (so a PATCH reads its own write), and `fold_effects` in
memory for the bulk rebuild. Both are guarded by the row's version, so applying
an event twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from eventsourcing.domain import Aggregate, Snapshot
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic
from msgspec import Struct

from domain.resource import Resource
from projections.shapes import TableShape

_RESOURCE_TOPIC_PREFIX = f"{Resource.__module__}:{Resource.__qualname__}."


def is_resource_event(stored: StoredEvent) -> bool:
    """Whether a stored event is one of the Resource aggregate's (decoding not needed)."""
    return stored.topic.startswith(_RESOURCE_TOPIC_PREFIX)


class ResourceRecord(Struct, frozen=True, kw_only=True, gc=False):
    """One row of the read model: a live resource as its events left it.

    Only scalars, so never part of a reference cycle: not tracked by the garbage
    collector (a server keeps thousands of them in its caches).
    """

    aggregate_id: UUID
    id: int
    project_id: int
    name: str
    description: str | None
    status: Literal["pending", "uploaded"]
    kind: Literal["file", "link"]
    mime_type: str
    size_bytes: int | None
    link_url: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    version: int
    """The number of events the row reflects."""
    blob: str | None = None
    """The confirmed bytes' object in the blob store (None: a link, pending, or older)."""
    digest: str | None = None


RESOURCES = TableShape(
    name="resources",
    version=2,
    row_type=ResourceRecord,
    primary_key=("id",),
    unique=("aggregate_id",),
    indexes=(
        ("listing_idx", "project_id, status, id DESC"),
        # The list with ?status=all: a project's rows newest first, read only to the page.
        ("project_idx", "project_id, id DESC"),
    ),
)
"""The live table's shape. Raise `version` with any change to the row or to what an
event does to it: servers then rebuild the table aside and swap it in on start."""

READ_MODEL_TABLE = RESOURCES.name


def resource_from_record(record: ResourceRecord) -> Resource:
    """The aggregate as the row says it is at `record.version`.

    The row is written in the same transaction as the events, so it is the state
    after exactly `version` events; a command decided on it appends at
    `version + 1`, which the store refuses if anyone appended first.
    """
    state = {
        "_created_on": record.created_at,
        "_modified_on": record.updated_at,
        "resource_id": record.id,
        "project_id": record.project_id,
        "name": record.name,
        "description": record.description,
        "mime_type": record.mime_type,
        "size_bytes": record.size_bytes,
        "url": record.link_url,
        "status": record.status,
        "created_by": record.created_by,
        "deleted": False,
        "blob": record.blob,
        "digest": record.digest,
        "class_version": Resource.class_version,
    }
    snapshot = Snapshot(
        originator_id=record.aggregate_id,
        originator_version=record.version,
        timestamp=record.updated_at,
        topic=get_topic(Resource),
        state=state,
    )
    restored = snapshot.mutate(None)
    assert isinstance(restored, Resource)
    return restored


def record_of(resource: Resource) -> ResourceRecord:
    """The row of a resource rebuilt from its events (time travel)."""
    return ResourceRecord(
        aggregate_id=resource.id,
        id=resource.resource_id,
        project_id=resource.project_id,
        name=resource.name,
        description=resource.description,
        status=resource.status,
        kind="link" if resource.is_link else "file",
        mime_type=resource.mime_type,
        size_bytes=resource.size_bytes,
        link_url=resource.url,
        created_by=resource.created_by,
        created_at=resource.created_on,
        updated_at=resource.modified_on,
        version=resource.version,
        blob=resource.blob,
        digest=resource.digest,
    )


@dataclass(frozen=True, slots=True)
class Insert:
    values: dict[str, Any]
    """Every column of the row."""


@dataclass(frozen=True, slots=True)
class Update:
    aggregate_id: UUID
    version: int
    values: dict[str, Any]
    """Changed columns, `updated_at` and `version` included."""


@dataclass(frozen=True, slots=True)
class Remove:
    aggregate_id: UUID


Effect = Insert | Update | Remove


def resource_effect(event: Aggregate.Event) -> Effect | None:
    """What one event does to its resource's row."""
    aggregate_id = event.originator_id
    version = event.originator_version
    at = event.timestamp
    stamp = {"updated_at": at, "version": version}
    match event:
        case Resource.Registered():
            link = event.url if isinstance(event, Resource.LinkRegistered) else None
            return Insert(
                {
                    "aggregate_id": aggregate_id,
                    "id": event.resource_id,
                    "project_id": event.project_id,
                    "name": event.name,
                    "description": event.description,
                    "status": "uploaded" if link is not None else "pending",
                    "kind": "link" if link is not None else "file",
                    "mime_type": event.mime_type,
                    "size_bytes": event.size_bytes,
                    "link_url": link,
                    "created_by": event.actor,
                    "created_at": at,
                    "updated_at": at,
                    "version": version,
                    "blob": None,
                    "digest": None,
                }
            )
        case Resource.Renamed(name=name):
            return Update(aggregate_id, version, {"name": name, **stamp})
        case Resource.DescriptionChanged(description=description):
            return Update(aggregate_id, version, {"description": description, **stamp})
        case Resource.UploadConfirmed(size_bytes=size, blob=blob, digest=digest):
            values = {"status": "uploaded", "size_bytes": size, "blob": blob, "digest": digest}
            return Update(aggregate_id, version, {**values, **stamp})
        case Resource.Deleted():
            return Remove(aggregate_id)
    return None


Rows = dict[UUID, dict[str, Any] | None]
"""Rows by aggregate id, in memory; None marks a removed row."""


def fold_effects(rows: Rows, effects: Iterable[Effect]) -> Rows:
    """Applies effects to rows in memory, as the SQL would."""
    for effect in effects:
        match effect:
            case Insert(values=values):
                if rows.get(values["aggregate_id"]) is None:
                    rows[values["aggregate_id"]] = dict(values)
            case Update(aggregate_id=aggregate_id, version=version, values=values):
                current = rows.get(aggregate_id)
                if current is not None and current["version"] < version:
                    current.update(values)
            case Remove(aggregate_id=aggregate_id):
                rows[aggregate_id] = None
    return rows


def merge_effects(
    effects: Iterable[Effect],
) -> tuple[list[dict[str, Any]], list[Update], list[UUID]]:
    """One append's effects, merged per resource: rows to insert, updates, removals.

    Rows registered in the same append are folded in memory; changes to earlier
    rows merge into one update each, guarded by the last event's version.
    """
    created: Rows = {}
    updates: dict[UUID, Update] = {}
    removed: list[UUID] = []
    for effect in effects:
        match effect:
            case Insert(values=values) if values["aggregate_id"] not in created:
                created[values["aggregate_id"]] = dict(values)
            case Update(aggregate_id=aggregate_id) if aggregate_id in created:
                fold_effects(created, [effect])
            case Update(aggregate_id=aggregate_id, version=version, values=values):
                earlier = updates.get(aggregate_id)
                merged = {**earlier.values, **values} if earlier else dict(values)
                updates[aggregate_id] = Update(aggregate_id, version, merged)
            case Remove(aggregate_id=aggregate_id):
                if aggregate_id in created:
                    created[aggregate_id] = None
                else:
                    updates.pop(aggregate_id, None)
                    removed.append(aggregate_id)
    inserts = [row for row in created.values() if row is not None]
    return inserts, list(updates.values()), removed
