"""The `resource_timeline` read model: when each event of each resource happened.

It answers "which version was current at time T" for `?as_of=` without reading
events. Written inline, like `resources`, and guarded so replays are harmless.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.postgres import PostgresDatastore
from psycopg import Cursor
from psycopg.sql import SQL, Composed, Identifier

from domain.resource import Resource, resource_uuid
from projections.resources import is_resource_event

TIMELINE_TABLE = "resource_timeline"


def create_timeline_statements(table: str = TIMELINE_TABLE) -> list[Composed]:
    return [
        SQL(
            "CREATE TABLE IF NOT EXISTS {name} ("
            " aggregate_id uuid NOT NULL,"
            " version bigint NOT NULL,"
            " project_id bigint NOT NULL,"
            " occurred_at timestamptz NOT NULL,"
            " PRIMARY KEY (aggregate_id, version))"
        ).format(name=Identifier(table))
    ]


class TimelineProjection:
    """Records (resource, version, time) for every Resource event."""

    def __init__(self, mapper: Mapper[UUID], table: str = TIMELINE_TABLE) -> None:
        self.mapper = mapper
        self.table = table
        name = Identifier(table)
        self._first = SQL(
            "INSERT INTO {name} (aggregate_id, version, project_id, occurred_at) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING"
        ).format(name=name)
        self._next = SQL(
            "INSERT INTO {name} (aggregate_id, version, project_id, occurred_at) "
            "SELECT %s, %s, project_id, %s FROM {name} WHERE aggregate_id = %s AND version = 1 "
            "ON CONFLICT DO NOTHING"
        ).format(name=name)

    def create_table_statements(self) -> list[Composed]:
        return create_timeline_statements(self.table)

    def apply_stored(self, curs: Cursor[Any], stored_events: Iterable[StoredEvent]) -> None:
        for stored in stored_events:
            if is_resource_event(stored):
                domain_event = self.mapper.to_domain_event(stored)
                assert isinstance(domain_event, Aggregate.Event)
                self.apply(curs, domain_event)

    def apply(self, curs: Cursor[Any], domain_event: Aggregate.Event) -> None:
        aggregate_id = domain_event.originator_id
        version = domain_event.originator_version
        if isinstance(domain_event, Resource.Registered):
            curs.execute(
                self._first,
                (aggregate_id, version, domain_event.project_id, domain_event.timestamp),
            )
        else:
            curs.execute(self._next, (aggregate_id, version, domain_event.timestamp, aggregate_id))


class TimelineQueries:
    def __init__(self, datastore: PostgresDatastore, table: str = TIMELINE_TABLE) -> None:
        self._datastore = datastore
        self._version_at = SQL(
            "SELECT max(version) AS version FROM {name} "
            "WHERE aggregate_id = %s AND project_id = %s AND occurred_at <= %s"
        ).format(name=Identifier(table))

    def version_at(self, project_id: int, resource_id: int, moment: datetime) -> int | None:
        """The resource's version current at `moment`, or None before it existed."""
        with self._datastore.get_connection() as conn:
            row = conn.execute(
                self._version_at, (resource_uuid(resource_id), project_id, moment), prepare=True
            ).fetchone()
        return None if row is None or row["version"] is None else int(row["version"])
