"""Reads of the `resources` read model."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from eventsourcing.domain import Snapshot
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.utils import get_topic
from msgspec import Struct
from psycopg.sql import SQL, Identifier

from domain.resource import Resource, resource_uuid
from projections.resources import READ_MODEL_TABLE

StatusFilter = Literal["uploaded", "pending", "all"]


class ResourceRecord(Struct, frozen=True, kw_only=True, gc=False):
    """One row of the read model: a live resource as its events left it.

    Only scalars, so never part of a reference cycle: not tracked by the garbage
    collector (a server keeps thousands of them, see `api.hot_path`).
    """

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


def resource_from_record(record: ResourceRecord) -> Resource:
    """The aggregate as the row says it is at `record.version`.

    The row is written in the same transaction as the events, so it is the state
    after exactly `version` events; a command decided on it appends at
    `version + 1`, which the store refuses if anyone appended first. So the row
    serves as the write side's cached state, verified by every append.
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
    }
    snapshot = Snapshot(
        originator_id=resource_uuid(record.id),
        originator_version=record.version,
        timestamp=record.updated_at,
        topic=get_topic(Resource),
        state=state,
    )
    restored = snapshot.mutate(None)
    assert isinstance(restored, Resource)
    return restored


class ResourcePage(Struct, frozen=True, kw_only=True):
    resources: list[ResourceRecord]
    total: int


_FIELDS = SQL(", ").join(Identifier(field) for field in ResourceRecord.__struct_fields__)


class ResourceQueries:
    """Answers questions from the read model only: never from the event store."""

    def __init__(self, datastore: PostgresDatastore, table: str = READ_MODEL_TABLE) -> None:
        self._datastore = datastore
        name = Identifier(table)
        self._get = SQL("SELECT {fields} FROM {name} WHERE id = %s AND project_id = %s").format(
            fields=_FIELDS, name=name
        )
        self._find = SQL("SELECT {fields} FROM {name} WHERE id = %s").format(
            fields=_FIELDS, name=name
        )

    def get(self, project_id: int, resource_id: int) -> ResourceRecord | None:
        with self._datastore.get_connection() as conn:
            row = conn.execute(self._get, (resource_id, project_id), prepare=True).fetchone()
        return None if row is None else ResourceRecord(**row)

    def find(self, resource_id: int) -> ResourceRecord | None:
        """A live resource of any project: for requests authorised by a signed URL."""
        with self._datastore.get_connection() as conn:
            row = conn.execute(self._find, (resource_id,), prepare=True).fetchone()
        return None if row is None else ResourceRecord(**row)
