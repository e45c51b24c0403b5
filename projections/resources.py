"""The `resources` read model: one row per live resource, written only from events.

The same `ResourcesProjection.apply` serves two callers: the recorder that applies
it inside each append's transaction (so a PATCH reads its own write) and the
replay that rebuilds the table from the whole event store. Every statement is
guarded by the row's version, so applying an event twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Mapper, StoredEvent
from psycopg import Cursor
from psycopg.sql import SQL, Composed, Identifier

from domain.resource import Resource

READ_MODEL_TABLE = "resources"

_RESOURCE_TOPIC_PREFIX = f"{Resource.__module__}:{Resource.__qualname__}."


def is_resource_event(stored: StoredEvent) -> bool:
    """Whether a stored event is one of the Resource aggregate's (decoding not needed)."""
    return stored.topic.startswith(_RESOURCE_TOPIC_PREFIX)


_COLUMNS = (
    "id, project_id, name, description, status, kind, mime_type, size_bytes, "
    "link_url, created_by, created_at, updated_at, version"
)


def create_table_statements(table: str = READ_MODEL_TABLE) -> list[Composed]:
    """DDL for a `resources`-shaped table under the given name."""
    name = Identifier(table)
    return [
        SQL(
            "CREATE TABLE IF NOT EXISTS {name} ("
            " id bigint PRIMARY KEY,"
            " aggregate_id uuid NOT NULL UNIQUE,"
            " project_id bigint NOT NULL,"
            " name text NOT NULL,"
            " description text,"
            " status text NOT NULL,"
            " kind text NOT NULL,"
            " mime_type text NOT NULL,"
            " size_bytes bigint,"
            " link_url text,"
            " created_by text NOT NULL,"
            " created_at timestamptz NOT NULL,"
            " updated_at timestamptz NOT NULL,"
            " version bigint NOT NULL)"
        ).format(name=name),
        SQL("CREATE INDEX IF NOT EXISTS {index} ON {name} (project_id, status, id DESC)").format(
            index=Identifier(f"{table}_listing_idx"), name=name
        ),
    ]


Kind = Literal["file", "link"]


class ResourcesProjection:
    """Applies Resource events to a `resources`-shaped table."""

    def __init__(self, mapper: Mapper[UUID], table: str = READ_MODEL_TABLE) -> None:
        self.mapper = mapper
        self.table = table
        name = Identifier(table)
        self._insert = SQL(
            "INSERT INTO {name} (aggregate_id, " + _COLUMNS + ") "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (id) DO NOTHING"
        ).format(name=name)
        self._guard = SQL(" WHERE aggregate_id = %s AND version < %s")
        self._rename = (
            SQL("UPDATE {name} SET name = %s, updated_at = %s, version = %s").format(name=name)
            + self._guard
        )
        self._describe = (
            SQL("UPDATE {name} SET description = %s, updated_at = %s, version = %s").format(
                name=name
            )
            + self._guard
        )
        self._confirm = (
            SQL(
                "UPDATE {name} SET status = 'uploaded', size_bytes = %s,"
                " updated_at = %s, version = %s"
            ).format(name=name)
            + self._guard
        )
        self._delete = SQL("DELETE FROM {name} WHERE aggregate_id = %s").format(name=name)

    def create_table_statements(self) -> list[Composed]:
        return create_table_statements(self.table)

    def apply_stored(self, curs: Cursor[Any], stored_events: Iterable[StoredEvent]) -> None:
        """Decodes stored events and applies those of Resource aggregates."""
        for stored in stored_events:
            if is_resource_event(stored):
                domain_event = self.mapper.to_domain_event(stored)
                assert isinstance(domain_event, Aggregate.Event)
                self.apply(curs, domain_event)

    def apply(self, curs: Cursor[Any], domain_event: Aggregate.Event) -> None:
        """Writes one event's effect on the read model."""
        aggregate_id = domain_event.originator_id
        version = domain_event.originator_version
        at = domain_event.timestamp
        match domain_event:
            case Resource.Registered():
                self._register(curs, domain_event, at)
            case Resource.Renamed(name=name):
                curs.execute(self._rename, (name, at, version, aggregate_id, version))
            case Resource.DescriptionChanged(description=description):
                curs.execute(self._describe, (description, at, version, aggregate_id, version))
            case Resource.UploadConfirmed(size_bytes=size):
                curs.execute(self._confirm, (size, at, version, aggregate_id, version))
            case Resource.Deleted():
                curs.execute(self._delete, (aggregate_id,))
            case _:
                pass

    def _register(self, curs: Cursor[Any], registered: Resource.Registered, at: datetime) -> None:
        link = registered.url if isinstance(registered, Resource.LinkRegistered) else None
        kind: Kind = "link" if link is not None else "file"
        curs.execute(
            self._insert,
            (
                registered.originator_id,
                registered.resource_id,
                registered.project_id,
                registered.name,
                registered.description,
                "uploaded" if kind == "link" else "pending",
                kind,
                registered.mime_type,
                registered.size_bytes,
                link,
                registered.actor,
                at,
                at,
                registered.originator_version,
            ),
        )
