"""The append of a request's events on an async connection: one pipelined transaction.

It writes exactly what the library's recorder writes — the same events table,
the same table lock (so notification ids never interleave), the same NOTIFY —
and the same inline projections, built by the same `statements()` code, but
without a thread per request and with the read-model row returned by the
update itself. Every snapshot interval it also stores a snapshot, as the
library's application does, so history reads stay bounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, StoredEvent
from psycopg import AsyncConnection, errors
from psycopg.rows import DictRow, dict_row
from psycopg.sql import SQL, Composable, Identifier
from psycopg_pool import AsyncConnectionPool

from projections.resources import ResourcesProjection
from projections.store import SCHEMA_LOCK, ProjectingApplicationRecorder
from projections.timeline import TimelineProjection


class AsyncAppender:
    def __init__(
        self,
        *,
        conninfo: str,
        recorder: ProjectingApplicationRecorder,
        resources: ResourcesProjection,
        timeline: TimelineProjection,
        snapshots_table: str,
        pool_size: int = 8,
    ) -> None:
        self.pool = AsyncConnectionPool(
            conninfo,
            connection_class=AsyncConnection[DictRow],
            kwargs={"row_factory": dict_row, "autocommit": True},
            min_size=pool_size,
            max_size=pool_size,
            open=False,
        )
        self._recorder = recorder
        self._resources = resources
        self._timeline = timeline
        events = Identifier(recorder.events_table_name)
        function = Identifier(f"{recorder.events_table_name}_append")
        # The lock, the NOTIFY and the insert run server-side in one call, so the
        # table lock is held for no client round trip before the COMMIT.
        self._create_function = SQL(
            "CREATE OR REPLACE FUNCTION {function}("
            " ids uuid[], versions bigint[], topics text[], states bytea[])"
            " RETURNS SETOF bigint LANGUAGE plpgsql AS $$ BEGIN"
            " LOCK TABLE {events} IN EXCLUSIVE MODE;"
            " NOTIFY {channel};"
            " RETURN QUERY INSERT INTO {events} (originator_id, originator_version, topic, state)"
            " SELECT * FROM unnest(ids, versions, topics, states) RETURNING notification_id;"
            " END $$"
        ).format(function=function, events=events, channel=Identifier(recorder.channel_name))
        self._insert_events = SQL(
            "SELECT * FROM {0}(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[])"
        ).format(function)
        self._combined_cache: dict[tuple[int, ...], bytes] = {}
        self._insert_snapshot = SQL(
            "INSERT INTO {0} (originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1"
        ).format(Identifier(snapshots_table))

    async def open(self) -> None:
        await self.pool.open(wait=True)
        async with self.pool.connection() as conn, conn.transaction():
            # Workers start together; concurrent CREATE OR REPLACE of one function fails.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (SCHEMA_LOCK,))
            await conn.execute(self._create_function)

    async def close(self) -> None:
        await self.pool.close()

    async def append(
        self,
        events: Sequence[Aggregate.Event],
        stored_events: Sequence[StoredEvent],
        snapshot: StoredEvent | None = None,
    ) -> dict[str, Any] | None:
        """Appends atomically; returns the resource's read-model row after the append.

        Everything — the projections' writes, the events (with the table lock and
        NOTIFY, in the function) and a snapshot — is one statement of data-modifying
        CTEs: one round trip, one implicit transaction. Raises the library's
        IntegrityError when another writer got the version first.
        """
        parts: list[tuple[Composable, Sequence[Any]]] = [
            *self._resources.statements_for(events, returning=True),
            *self._timeline.statements_for(events),
            (
                self._insert_events,
                [
                    [event.originator_id for event in stored_events],
                    [event.originator_version for event in stored_events],
                    [event.topic for event in stored_events],
                    [event.state for event in stored_events],
                ],
            ),
        ]
        if snapshot is not None:
            parts.append(
                (
                    self._insert_snapshot,
                    (
                        snapshot.originator_id,
                        snapshot.originator_version,
                        snapshot.topic,
                        snapshot.state,
                    ),
                )
            )
        query = self._combined(tuple(statement for statement, _ in parts))
        params = [param for _, part_params in parts for param in part_params]
        async with self.pool.connection() as conn:
            try:
                cursor = await conn.execute(query, params, prepare=True)
                row = await cursor.fetchone()
            except errors.UniqueViolation as conflict:
                raise IntegrityError(str(conflict)) from conflict
        for listener in self._recorder.on_recorded:
            listener(stored_events)
        return row if row and row.get("id") is not None else None

    def _combined(self, statements: tuple[Composable, ...]) -> bytes:
        """One statement of CTEs for these parts; the first part's rows are returned."""
        key = tuple(id(statement) for statement in statements)
        query = self._combined_cache.get(key)
        if query is None:
            ctes = SQL(", ").join(
                SQL("{0} AS ({1})").format(Identifier(f"part{number}"), statement)
                for number, statement in enumerate(statements)
            )
            # The events part is a SELECT of a function: only a referenced CTE runs.
            events_part = Identifier(f"part{statements.index(self._insert_events)}")
            combined = SQL(
                "WITH {ctes} SELECT part0.*, (SELECT count(*) FROM {events}) AS appended"
                " FROM (SELECT 1) AS one LEFT JOIN part0 ON true"
            ).format(ctes=ctes, events=events_part)
            query = combined.as_bytes(None)
            self._combined_cache[key] = query
        return query
