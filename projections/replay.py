"""Replays the whole event store through a projection, in notification order."""

from __future__ import annotations

from eventsourcing.postgres import PostgresApplicationRecorder

from projections.store import InlineProjection

BATCH_SIZE = 1000


def replay(
    recorder: PostgresApplicationRecorder,
    projection: InlineProjection,
    *,
    after: int = 0,
    batch_size: int = BATCH_SIZE,
) -> int:
    """Applies every event after notification id `after` to the projection's table.

    Each batch commits in one transaction. Returns the last notification id applied.
    """
    datastore = recorder.datastore
    with datastore.transaction(commit=True) as curs:
        for statement in projection.create_table_statements():
            curs.execute(statement, prepare=False)
    position = after
    while notifications := recorder.select_notifications(
        start=position, limit=batch_size, inclusive_of_start=False
    ):
        with datastore.transaction(commit=True) as curs:
            projection.apply_stored(curs, notifications)
        position = notifications[-1].id
    return position
