"""The event store: the library's PostgreSQL recorder, with read models applied inline.

`PostgresApplicationRecorder.insert_events` opens one transaction (in pipeline
mode) and first calls `_insert_events` — the library's extension point that
`PostgresProcessRecorder` uses to write its tracking record — before it locks
the table and inserts the events. We use the same point to write the read model:
the rows and the events commit together or not at all, so a PATCH reads its own
write without waiting for an asynchronous projection, and no acknowledged event
is ever missing from the read model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, Protocol
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import get_topic, retry
from psycopg import Cursor
from psycopg.rows import DictRow

from application.service import SNAPSHOT_INTERVAL
from domain.resource import Resource

PIPELINE_LIMIT = 100
"""Appends of more events than this run without psycopg's pipeline mode."""


class InlineProjection(Protocol):
    """Projection code that can run inside an append's transaction, and in a replay."""

    table: str

    def apply_stored(self, curs: Cursor[Any], stored_events: Iterable[StoredEvent]) -> None: ...


class ProjectingApplicationRecorder(PostgresApplicationRecorder):
    """An application recorder that also applies inline projections in each append."""

    def __init__(
        self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"
    ) -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.inline_projections: list[InlineProjection] = []
        self.on_recorded: list[Callable[[Sequence[StoredEvent]], None]] = []
        """Told of each batch of events after it commits (metrics)."""
        if datastore.enable_db_functions:
            msg = "inline projections need the pipelined insert, not the database function"
            raise ValueError(msg)

    def project_inline(self, projection: InlineProjection) -> None:
        """Applies `projection` in the transaction of every later append (its table is
        created by the schema step, `adapters.schema`)."""
        self.inline_projections.append(projection)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        notification_ids: Sequence[int] | None
        if len(stored_events) <= PIPELINE_LIMIT:
            notification_ids = super().insert_events(stored_events, **kwargs)
        else:
            notification_ids = self._insert_without_pipeline(stored_events, **kwargs)
        for listener in self.on_recorded:
            listener(stored_events)
        return notification_ids

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _insert_without_pipeline(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        """The same transaction as the library's, statement by statement.

        The library pipelines an append; with thousands of events over a Unix
        socket, psycopg's pipeline then waits forever (seen with psycopg 3.3 and
        the embedded server). Large appends are rare (imports, seeding), so they
        take this path; a request's append (at most a few events) keeps the pipeline.
        """
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            self._insert_events(curs, stored_events, **kwargs)
            self._insert_stored_events(curs, stored_events, **kwargs)
            return self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)

    def _insert_events(
        self,
        curs: Cursor[DictRow],
        stored_events: Sequence[StoredEvent],
        **kwargs: Any,
    ) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        for projection in self.inline_projections:
            projection.apply_stored(curs, stored_events)


RECORDER_TOPIC = get_topic(ProjectingApplicationRecorder)


class ResourceEvents(Application[UUID]):
    """The Resource events, read through the library: streams, versions, snapshots.

    Nothing here changes a resource (`application.service` does, through the
    resource store); the library's `save` serves only bulk seeding in tests and
    benchmarks, and writes the same inline read models.
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
