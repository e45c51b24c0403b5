"""Where each projection stands, read from the store: position, head, lag, runner and
rebuild."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Mapper
from eventsourcing.postgres import PostgresApplicationRecorder

from adapters.read_models.activity import UPSTREAM, ActivityView
from adapters.read_models.reader import CommitOrderedReader, oldest_writer
from adapters.read_models.rebuild import rebuilds_in_progress
from adapters.read_models.runner import runner_is_active
from projections.status import ProjectionStatus

INLINE = ("resources", "timeline")
HELD_AFTER_SECONDS = 1.0
"""A writing transaction open longer than this, while a projection lags, is named as
what holds it back (appends last milliseconds)."""


def projection_status(
    *,
    recorder: PostgresApplicationRecorder,
    mapper: Mapper[UUID],
    activity: ActivityView,
    conninfo: str,
) -> list[ProjectionStatus]:
    head = recorder.max_notification_id() or 0
    rebuilding = rebuilds_in_progress(recorder.datastore)
    statuses = [
        ProjectionStatus(
            name=name,
            kind="inline",
            position=head,
            head=head,
            lag_events=0,
            lag_seconds=0.0,
            runner="in append",
            rebuild_position=rebuilding.get(name),
        )
        for name in INLINE
    ]
    position = activity.max_tracking_id(UPSTREAM) or 0
    lag_events, lag_seconds = 0, 0.0
    held_by = None
    with recorder.datastore.get_connection() as session:  # pooled: no connect per call
        if position < head:
            reader = CommitOrderedReader(recorder.events_table_name, recorder.datastore.schema)
            waiting = reader.visible_after(session, position, 1)
            if waiting:
                lag_events = head - position
                oldest = mapper.to_domain_event(waiting[0])
                if isinstance(oldest, Aggregate.Event):
                    lag_seconds = max(0.0, (datetime.now(UTC) - oldest.timestamp).total_seconds())
            writer = oldest_writer(session)
            if writer is not None and writer.age_seconds > HELD_AFTER_SECONDS:
                held_by = writer
        active = runner_is_active(session, activity.activity_table)
    statuses.append(
        ProjectionStatus(
            name="activity",
            kind="async",
            position=position,
            head=head,
            lag_events=lag_events,
            lag_seconds=lag_seconds,
            runner="active" if active else "none",
            rebuild_position=rebuilding.get("activity"),
            held_by=held_by,
        )
    )
    return statuses
