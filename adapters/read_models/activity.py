"""The project activity feed: an asynchronous projection with its own tracking.

Rows and the tracking record of a batch commit in one transaction (the pattern
of the library's `PostgresTrackingRecorder` views), so a runner killed at any
moment resumes exactly after the last committed batch: no row lost, none twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.persistence import Mapper, Notification, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg import Connection
from psycopg.rows import dict_row
from psycopg.sql import SQL, Composable, Composed, Identifier, Literal
from psycopg.types.json import Jsonb

from adapters.read_models.counts import NO_STATUS, actor_key, type_key
from adapters.read_models.counts import total as counted_total
from domain.resource import Resource
from projections.activity import ActivityEntry, ActivityFilter, ActivityPage, ResourceStates
from projections.resources import is_resource_event

ACTIVITY_TABLE = "activity"
UPSTREAM = "Resources"
"""The application whose events the feed follows (its tracking name)."""

ACTIVITY_INDEXES = (
    ("page_idx", "project_id, id DESC) INCLUDE (occurred_at"),
    ("resource_idx", "project_id, resource_id, id DESC"),
    ("actor_idx", "project_id, actor, id DESC"),
    ("type_idx", "project_id, type, id DESC"),
)
"""(suffix, columns) of each index of the feed, newest first: a project's page (with
the time, for `since` and `until` without reading rows), and one per other filter."""

COUNT_BOUND = 10_000
"""A filtered activity page counts its matches up to this many, then says "at least"."""


class ActivityView(PostgresTrackingRecorder):
    """The `activity` table and its tracking records, written together."""

    def __init__(
        self,
        datastore: PostgresDatastore,
        *,
        tracking_table_name: str = "activity_tracking",
        activity_table: str = ACTIVITY_TABLE,
        **kwargs: Any,
    ) -> None:
        super().__init__(datastore, tracking_table_name=tracking_table_name, **kwargs)
        self.activity_table = activity_table
        self.sql_create_statements.extend(create_activity_statements(activity_table))
        name = Identifier(activity_table)
        self._copy = SQL(
            "COPY {name} (id, project_id, resource_id, version, type, occurred_at,"
            " actor, key_id, request_id, changes) FROM STDIN"
        ).format(name=name)
        self._project_of = SQL(
            "SELECT project_id FROM {name} WHERE resource_id = %s LIMIT 1"
        ).format(name=name)

    def write(
        self, session: Connection[Any], rows: Sequence[tuple[Any, ...]], tracking: Tracking
    ) -> None:
        """Writes a batch of feed rows and its tracking record, in the caller's transaction.

        The rows go in one COPY: one statement for the database to run, where an
        INSERT per row cost the runner a third of its time and the database one
        execution per event. A row already there (an id is unique) fails the COPY
        as it failed the INSERT, and the transaction with it."""
        with session.cursor(row_factory=dict_row) as curs:
            if rows:
                with curs.copy(self._copy) as copy:
                    for row in rows:
                        copy.write_row(row)
            self._insert_tracking(curs, tracking)

    def tracked_position(self, session: Connection[Any], application_name: str) -> int:
        """The last position recorded for `application_name`, read on `session` (0: none)."""
        with session.cursor(row_factory=dict_row) as curs:
            return self._max_tracking_id(application_name, curs) or 0

    def page_statement(
        self, project_id: int, where: ActivityFilter, page: int, per_page: int
    ) -> tuple[Composed, list[Any]]:
        """One statement for a page of the project's entries matching `where`, newest
        first, each row with the page's total. The page's ids come from the index that
        fits the filter, then its rows by primary key: a deep page skips index
        entries, not rows, and other projects' rows are never walked.

        No count of the project: unfiltered, or filtered by actor alone or by type
        alone, the total is a kept count (adapters/read_models/counts.py); with other filters,
        the matching rows are counted on an index up to `COUNT_BOUND` + 1, and a total
        of `COUNT_BOUND` is then a lower bound."""
        conditions: list[Composable] = [SQL("project_id = %s")]
        params: list[Any] = [project_id]
        for column, value, operator in (
            ("actor", where.actor, "="),
            ("type", where.type, "="),
            ("resource_id", where.resource_id, "="),
            ("occurred_at", where.since, ">="),
            ("occurred_at", where.until, "<"),
        ):
            if value is not None:
                conditions.append(SQL("{0} " + operator + " %s").format(Identifier(column)))
                params.append(value)
        matching = SQL(" AND ").join(conditions)
        name = Identifier(self.activity_table)
        kept = _kept_count_key(where)
        if kept is not None:
            total: Composable = counted_total(self.activity_table, SQL("%s"), Literal(kept))
            total_params: list[Any] = [project_id]
        else:
            total = SQL(
                "(SELECT count(*) FROM (SELECT FROM {name} WHERE {matching} LIMIT {bound}) m)"
            ).format(name=name, matching=matching, bound=Literal(COUNT_BOUND + 1))
            total_params = list(params)
        statement = SQL(
            "SELECT {total} AS total, {bounded} AS bounded, e.* FROM (SELECT 1) one"
            " LEFT JOIN LATERAL"
            " (SELECT {columns} FROM {name} WHERE id = ANY (ARRAY (SELECT id FROM {name}"
            " WHERE {matching} ORDER BY id DESC LIMIT %s OFFSET %s))) e ON true ORDER BY e.id DESC"
        ).format(
            total=total,
            bounded=Literal(kept is None),
            columns=ENTRY_COLUMNS,
            name=name,
            matching=matching,
        )
        return statement, [*total_params, *params, per_page, (page - 1) * per_page]

    @staticmethod
    def page_of(rows: Sequence[dict[str, Any]]) -> ActivityPage:
        """The page that `page_statement`'s rows hold."""
        counted = int(rows[0]["total"]) if rows else 0
        bounded = bool(rows and rows[0]["bounded"]) and counted > COUNT_BOUND
        return ActivityPage(
            entries=[entry_of(row) for row in rows if row["id"] is not None],
            total=COUNT_BOUND if bounded else counted,
            total_is_lower_bound=bounded,
        )

    def feed_statement(
        self,
        project_id: int,
        *,
        type: str | None,
        resource_id: int | None,
        after: int,
        limit: int,
        upto: int | None,
    ) -> tuple[Composed, list[Any]]:
        """The project's entries after position `after` (up to `upto`), oldest first: the
        event feed. The index that fits the filter is walked from `after` on."""
        conditions: list[Composable] = [SQL("project_id = %s")]
        params: list[Any] = [project_id]
        for column, value, operator in (
            ("type", type, "="),
            ("resource_id", resource_id, "="),
            ("id", after, ">"),
            ("id", upto, "<="),
        ):
            if value is not None:
                conditions.append(SQL("{0} " + operator + " %s").format(Identifier(column)))
                params.append(value)
        statement = SQL(
            "SELECT {columns} FROM {name} WHERE {matching} ORDER BY id LIMIT %s"
        ).format(
            columns=ENTRY_COLUMNS,
            name=Identifier(self.activity_table),
            matching=SQL(" AND ").join(conditions),
        )
        return statement, [*params, limit]

    def since_statement(self) -> Composed:
        """Every project's entries after a position, oldest first, with their project
        (parameters: the position, the limit)."""
        return SQL(
            "SELECT project_id, {columns} FROM {name} WHERE id > %s ORDER BY id LIMIT %s"
        ).format(columns=ENTRY_COLUMNS, name=Identifier(self.activity_table))

    def head_statement(self) -> Composed:
        """The newest position in the feed, as `head` (0 when it is empty)."""
        return SQL("SELECT coalesce(max(id), 0) AS head FROM {name}").format(
            name=Identifier(self.activity_table)
        )


ENTRY_COLUMNS = SQL(
    "id, resource_id, version, type, occurred_at, actor, key_id, request_id, changes"
)


def entry_of(row: dict[str, Any]) -> ActivityEntry:
    """The entry a row of the feed holds."""
    return ActivityEntry(
        id=row["id"],
        resource_id=row["resource_id"],
        version=row["version"],
        type=row["type"],
        occurred_at=row["occurred_at"],
        actor=row["actor"],
        key_id=row["key_id"],
        request_id=row["request_id"],
        changes={field: (old, new) for field, (old, new) in row["changes"].items()},
    )


def _kept_count_key(where: ActivityFilter) -> str | None:
    """The kept count that is a filter's exact total, if one is."""
    given = {name for name, value in msgspec.structs.asdict(where).items() if value is not None}
    if not given:
        return NO_STATUS
    if given == {"actor"} and where.actor is not None:
        return actor_key(where.actor)
    if given == {"type"} and where.type is not None:
        return type_key(where.type)
    return None


def create_activity_statements(table: str) -> list[Composed]:
    name = Identifier(table)
    return [
        SQL(
            "CREATE TABLE IF NOT EXISTS {name} ("
            " id bigint PRIMARY KEY,"
            " project_id bigint NOT NULL,"
            " resource_id bigint NOT NULL,"
            " version bigint NOT NULL,"
            " type text NOT NULL,"
            " occurred_at timestamptz NOT NULL,"
            " actor text NOT NULL,"
            " key_id bigint,"
            " request_id text,"
            " changes jsonb NOT NULL)"
        ).format(name=name),
        *(
            SQL("CREATE INDEX IF NOT EXISTS {index} ON {name} ({columns})").format(
                index=Identifier(f"{table}_{suffix}"), name=name, columns=SQL(columns)
            )
            for suffix, columns in ACTIVITY_INDEXES
        ),
        # Earlier releases' page index, which `page_idx` replaces.
        SQL("DROP INDEX IF EXISTS {0}").format(Identifier(f"{table}_project_idx")),
    ]


class ActivityProjection:
    """Turns stored events into feed rows."""

    def __init__(self, mapper: Mapper[UUID], states: ResourceStates) -> None:
        self.mapper = mapper
        self.states = states

    def rows(self, notifications: Sequence[Notification]) -> list[tuple[Any, ...]]:
        rows = []
        for notification in notifications:
            if not is_resource_event(notification):
                continue
            event = self.mapper.to_domain_event(notification)
            assert isinstance(event, Resource.Registered | Resource.Changed)
            resource, changes = self.states.apply(event)
            rows.append(
                (
                    notification.id,
                    resource.project_id,
                    resource.resource_id,
                    event.originator_version,
                    type(event).__name__,
                    event.timestamp,
                    event.actor,
                    event.key_id,
                    event.request_id,
                    Jsonb({field: list(pair) for field, pair in changes.items()}, dumps=_dumps),
                )
            )
        return rows


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
