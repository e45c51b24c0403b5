"""Where each projection stands: position, head, lag, runner and rebuild."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import Mapper
from eventsourcing.postgres import PostgresApplicationRecorder
from msgspec import Struct

from projections.activity import UPSTREAM, ActivityView
from projections.reader import CommitOrderedReader, Writer, oldest_writer
from projections.rebuild import rebuilds_in_progress
from projections.runner import runner_is_active

INLINE = ("resources", "timeline")
HELD_AFTER_SECONDS = 1.0
"""A writing transaction open longer than this, while a projection lags, is named as
what holds it back (appends last milliseconds)."""


class ProjectionStatus(Struct, frozen=True, kw_only=True):
    name: str
    kind: Literal["inline", "async"]
    position: int
    head: int
    lag_events: int
    lag_seconds: float
    runner: Literal["active", "none", "in append"]
    """Inline projections run in each append; async ones need a runner."""
    rebuild_position: int | None
    """Where a rebuild in progress has reached, or None."""
    held_by: Writer | None = None
    """The old transaction that keeps the projection from reading on, if one may: the
    commit-ordered reader waits at a gap for every transaction open when it saw it."""


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
