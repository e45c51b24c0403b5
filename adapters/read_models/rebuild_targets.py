"""The read models that `resources projections rebuild` knows, and how each is rebuilt."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import Notification
from psycopg import Cursor
from psycopg.sql import SQL, Composed, Identifier

from adapters.read_models.activity import (
    ACTIVITY_TABLE,
    UPSTREAM,
    ActivityProjection,
    ActivityView,
    create_activity_statements,
)
from adapters.read_models.counts import counted_by_project_actor_and_type, counted_by_status
from adapters.read_models.resources import ResourcesProjection
from adapters.read_models.tables import create_table_statements
from adapters.read_models.timeline import (
    TIMELINE_TABLE,
    TimelineProjection,
    create_timeline_statements,
)


class InlineRebuild:
    """A read model written inline by every append: no position of its own to move."""

    name: str
    live_table: str
    columns: tuple[str, ...]
    key_columns: int

    def __init__(
        self,
        projection: ResourcesProjection | TimelineProjection,
        create: Callable[[str], list[Composed]],
    ) -> None:
        self.projection = projection
        self._create = create

    def create_statements(self, table: str) -> list[Composed]:
        return self._create(table)

    def write_batch(
        self, curs: Cursor[Any], table: str, notifications: Sequence[Notification]
    ) -> None:
        self.projection.write_batch(curs, table, notifications)

    def live_position(self, curs: Cursor[Any]) -> int | None:
        """None: written in every append, the live table never lags."""
        return None

    def after_swap(self, curs: Cursor[Any], position: int) -> None:
        """Nothing to do: the inline projection writes to whichever table is live."""


class ResourcesRebuild(InlineRebuild):
    """The `resources` read model: folded in memory, written with COPY, in the shape
    (and projection version) of the code that rebuilds it."""

    name = "resources"
    key_columns = 1

    def __init__(self, projection: ResourcesProjection) -> None:
        shape = projection.shape
        super().__init__(
            projection,
            lambda table: [*create_table_statements(shape, table), *counted_by_status(table)],
        )
        self.live_table = projection.shape.name
        key = projection.shape.primary_key[0]
        self.columns = (key, *(column for column in projection.shape.columns if column != key))


class TimelineRebuild(InlineRebuild):
    """The `resource_timeline` read model."""

    name = "timeline"
    live_table = TIMELINE_TABLE
    columns: tuple[str, ...] = ("aggregate_id", "version", "occurred_at")
    key_columns = 2

    def __init__(self, projection: TimelineProjection) -> None:
        super().__init__(projection, create_timeline_statements)


class ActivityRebuild:
    """The `activity` feed (asynchronous): on swap, its runner's position moves too."""

    name = "activity"
    live_table = ACTIVITY_TABLE
    columns: tuple[str, ...] = (
        "id",
        "project_id",
        "resource_id",
        "version",
        "type",
        "occurred_at",
        "actor",
        "key_id",
        "request_id",
        "changes",
    )
    key_columns = 1

    def __init__(self, projection: ActivityProjection, view: ActivityView) -> None:
        self.projection = projection
        self.view = view

    def create_statements(self, table: str) -> list[Composed]:
        return [*create_activity_statements(table), *counted_by_project_actor_and_type(table)]

    def write_batch(
        self, curs: Cursor[Any], table: str, notifications: Sequence[Notification]
    ) -> None:
        rows = self.projection.rows(notifications)
        with curs.copy(
            SQL("COPY {name} ({columns}) FROM STDIN").format(
                name=Identifier(table), columns=SQL(", ").join(map(Identifier, self.columns))
            )
        ) as copy:
            for row in rows:
                copy.write_row(row)

    def live_position(self, curs: Cursor[Any]) -> int | None:
        """The live feed's runner position (feed ids are event positions)."""
        row = curs.execute(
            SQL("SELECT notification_id FROM {0} WHERE application_name = %s").format(
                Identifier(self.view.tracking_table_name)
            ),
            (UPSTREAM,),
        ).fetchone()
        return 0 if row is None else int(row["notification_id"])

    def after_swap(self, curs: Cursor[Any], position: int) -> None:
        """The swapped-in feed holds every event up to `position`: the runner goes on from there."""
        curs.execute(
            SQL(
                "INSERT INTO {0} (application_name, notification_id) VALUES (%s, %s) "
                "ON CONFLICT (application_name)"
                " DO UPDATE SET notification_id = EXCLUDED.notification_id"
            ).format(Identifier(self.view.tracking_table_name)),
            (UPSTREAM, position),
        )
