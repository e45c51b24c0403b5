"""The event store: the library's PostgreSQL recorder, appending through the one function.

Every append, a request's or a bulk import's, inserts its events through one
database function (`append_function`): no table lock, no NOTIFY inside the
transaction, so concurrent appends commit together. Requests call it from
`PostgresResourceStore.append` (one statement with the read models and the guard);
the library's `insert_events` calls it here, after writing the same inline read
models in the same transaction. Reads of "the events after a position" go through
the commit-ordered reader (`adapters.read_models.reader`), which never passes over an
event that commits late.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, Protocol
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import (
    InterfaceError,
    Notification,
    OperationalError,
    StoredEvent,
)
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import get_topic, retry
from psycopg import Cursor
from psycopg.sql import SQL, Composed, Identifier, Literal

from adapters.read_models.reader import CommitOrderedReader
from application.service import SNAPSHOT_INTERVAL
from domain.resource import Resource

GUARD_REFUSED = "RSG01"
"""The SQLSTATE the append function raises when its guard is false."""


def append_function_name(events_table: str) -> str:
    return f"{events_table}_append"


def append_function(events_table: str) -> Composed:
    """DDL of the one function every append calls: the guard, then the insert.

    It takes no lock and sends no NOTIFY, so concurrent appends commit together in
    one WAL flush. It takes the transaction's id before the insert draws positions:
    the commit-ordered reader relies on every position being drawn by a transaction
    that already holds an id."""
    return SQL(
        "CREATE OR REPLACE FUNCTION {function}(allowed boolean,"
        " ids uuid[], versions bigint[], topics text[], states bytea[])"
        " RETURNS SETOF bigint LANGUAGE plpgsql AS $$ BEGIN"
        " IF NOT allowed THEN"
        "  RAISE EXCEPTION 'the append''s guard refused it' USING ERRCODE = {refused};"
        " END IF;"
        " PERFORM pg_current_xact_id();"
        " RETURN QUERY INSERT INTO {events} (originator_id, originator_version, topic, state)"
        " SELECT * FROM unnest(ids, versions, topics, states) RETURNING notification_id;"
        " END $$"
    ).format(
        function=Identifier(append_function_name(events_table)),
        events=Identifier(events_table),
        refused=Literal(GUARD_REFUSED),
    )


class InlineProjection(Protocol):
    """Projection code that can run inside an append's transaction, and in a replay."""

    table: str

    def apply_stored(self, curs: Cursor[Any], stored_events: Iterable[StoredEvent]) -> None: ...


class ProjectingApplicationRecorder(PostgresApplicationRecorder):
    """The library's application recorder, appending through the append function (with
    inline projections in the same transaction) and reading in commit order."""

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.inline_projections: list[InlineProjection] = []
        self.on_recorded: list[Callable[[Sequence[StoredEvent]], None]] = []
        """Told of each batch of events after it commits (metrics)."""
        self.reader = CommitOrderedReader(events_table_name, datastore.schema)
        self._append = SQL("SELECT * FROM {0}(true, %s, %s, %s, %s)").format(
            Identifier(append_function_name(events_table_name))
        )
        self.wake = SQL("NOTIFY {0}").format(Identifier(self.channel_name))
        """Sent after commits (never inside an append's transaction): wakes consumers."""
        if datastore.enable_db_functions:
            msg = "appends go through the project's append function, not the library's"
            raise ValueError(msg)

    def create_table(self) -> None:
        super().create_table()
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(append_function(self.events_table_name))

    def project_inline(self, projection: InlineProjection) -> None:
        """Applies `projection` in the transaction of every later append (its table is
        created by the schema step, `adapters.schema`)."""
        self.inline_projections.append(projection)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """Appends in one transaction: the inline read models, then the events through
        the append function. Then wakes the consumers, outside the transaction."""
        if not stored_events:
            return []
        with self.datastore.get_connection() as conn:  # translates psycopg's errors
            with conn.transaction(), conn.cursor() as curs:
                self._insert_events(curs, stored_events, **kwargs)
                curs.execute(
                    self._append,
                    (
                        [event.originator_id for event in stored_events],
                        [event.originator_version for event in stored_events],
                        [event.topic for event in stored_events],
                        [event.state for event in stored_events],
                    ),
                )
                notification_ids = [next(iter(row.values())) for row in curs.fetchall()]
            conn.execute(self.wake)
        for listener in self.on_recorded:
            listener(stored_events)
        return notification_ids

    def _insert_events(
        self,
        curs: Cursor[Any],
        stored_events: Sequence[StoredEvent],
        **kwargs: Any,
    ) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        for projection in self.inline_projections:
            projection.apply_stored(curs, stored_events)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """The library's call, answered by the commit-ordered reader: in position order,
        never past an event that may still commit (waiting a moment for a gap)."""
        after = 0 if start is None else (start - 1 if inclusive_of_start else start)
        found: list[Notification] = []
        with self.datastore.get_connection() as conn:
            while len(found) < limit:
                batch = self.reader.settled_after(conn, after, limit, stop=stop)
                if not batch:
                    break
                found.extend(n for n in batch if not topics or n.topic in topics)
                after = batch[-1].id
        return found[:limit]


RECORDER_TOPIC = get_topic(ProjectingApplicationRecorder)


class ResourceEvents(Application[UUID]):
    """The Resource events, read through the library: streams, versions, snapshots.

    Nothing here changes a resource (`application.service` does, through the
    resource store); the library's `save` serves only bulk seeding in tests and
    benchmarks, and appends through the same function with the same inline read
    models.
    """

    name = "Resources"
    snapshotting_intervals: ClassVar[dict[type[Aggregate], int]] = {  # type: ignore[assignment]
        Resource: SNAPSHOT_INTERVAL
    }

    def resource_at(self, aggregate_id: UUID, version: int) -> Resource:
        found: object = self.repository.get(aggregate_id, version=version)
        assert isinstance(found, Resource)
        return found

    @property
    def projecting_recorder(self) -> ProjectingApplicationRecorder:
        recorder = self.recorder
        assert isinstance(recorder, ProjectingApplicationRecorder)
        return recorder
