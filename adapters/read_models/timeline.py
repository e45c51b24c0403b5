"""The `resource_timeline` read model: when each event of each resource happened.

It answers "which version was current at time T" for `?as_of=` without reading
events (the caller then checks the project on the resource itself; the query is
`adapters.event_history.PostgresEventHistory.version_at`). Written inline, like
`resources`; replays are harmless.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Mapper, StoredEvent
from psycopg import Cursor
from psycopg.sql import SQL, Composed, Identifier

from projections.resources import is_resource_event

TIMELINE_TABLE = "resource_timeline"


def create_timeline_statements(table: str = TIMELINE_TABLE) -> list[Composed]:
    return [
        SQL(
            "CREATE TABLE IF NOT EXISTS {name} ("
            " aggregate_id uuid NOT NULL,"
            " version bigint NOT NULL,"
            " occurred_at timestamptz NOT NULL,"
            " PRIMARY KEY (aggregate_id, version))"
        ).format(name=Identifier(table))
    ]


def timeline_row(event: Aggregate.Event) -> tuple[UUID, int, datetime]:
    return (event.originator_id, event.originator_version, event.timestamp)


class TimelineProjection:
    """Records (resource, version, time) for every Resource event."""

    def __init__(self, mapper: Mapper[UUID], table: str = TIMELINE_TABLE) -> None:
        self.mapper = mapper
        self.table = table
        self._insert = SQL(
            "INSERT INTO {name} (aggregate_id, version, occurred_at) "
            "SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::timestamptz[]) "
            "ON CONFLICT DO NOTHING"
        ).format(name=Identifier(table))
        # One row (a PATCH's append) goes as scalars, more as arrays.
        self._insert_one = SQL(
            "INSERT INTO {name} (aggregate_id, version, occurred_at) VALUES (%s, %s, %s) "
            "ON CONFLICT DO NOTHING"
        ).format(name=Identifier(table))

    def create_table_statements(self) -> list[Composed]:
        return create_timeline_statements(self.table)

    def _rows(self, stored_events: Iterable[StoredEvent]) -> list[tuple[UUID, int, datetime]]:
        rows = []
        for stored in stored_events:
            if is_resource_event(stored):
                domain_event = self.mapper.to_domain_event(stored)
                assert isinstance(domain_event, Aggregate.Event)
                rows.append(timeline_row(domain_event))
        return rows

    def statements(
        self, stored_events: Iterable[StoredEvent]
    ) -> list[tuple[Composed, Sequence[Any]]]:
        """One multi-row insert for all of an append's events."""
        return self.rows_statements(self._rows(stored_events))

    def statements_for(
        self, events: Iterable[Aggregate.Event]
    ) -> list[tuple[Composed, Sequence[Any]]]:
        return self.rows_statements([timeline_row(event) for event in events])

    def rows_statements(
        self, rows: Sequence[tuple[UUID, int, datetime]]
    ) -> list[tuple[Composed, Sequence[Any]]]:
        if not rows:
            return []
        if len(rows) == 1:
            return [(self._insert_one, rows[0])]
        return [(self._insert, [list(column) for column in zip(*rows, strict=True)])]

    def apply_stored(self, curs: Cursor[Any], stored_events: Iterable[StoredEvent]) -> None:
        for statement, params in self.statements(stored_events):
            curs.execute(statement, params)

    def write_batch(
        self, curs: Cursor[Any], table: str, stored_events: Sequence[StoredEvent]
    ) -> None:
        """Bulk-appends a batch's rows to `table` with COPY."""
        with curs.copy(
            SQL("COPY {name} (aggregate_id, version, occurred_at) FROM STDIN").format(
                name=Identifier(table)
            )
        ) as copy:
            for row in self._rows(stored_events):
                copy.write_row(row)
