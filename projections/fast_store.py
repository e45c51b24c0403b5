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

import psycopg
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, StoredEvent
from psycopg import AsyncConnection, errors
from psycopg.rows import DictRow, dict_row
from psycopg.sql import SQL, Composable, Identifier, Literal
from psycopg_pool import AsyncConnectionPool

from projections.resources import ResourcesProjection
from projections.store import SCHEMA_LOCK, ProjectingApplicationRecorder
from projections.timeline import TimelineProjection

GUARD_REFUSED = "RSG01"
"""The SQLSTATE the append function raises when its guard is false."""

_NO_GUARD = SQL("TRUE")

Guard = tuple[Composable, Sequence[Any]]
"""A boolean SQL expression, and its parameters, that an append requires."""


class GuardRefused(Exception):
    """The append's guard was false: nothing was written."""


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
            min_size=min(4, pool_size),  # grows to max_size under load
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
        self._function = function
        # The guard (a condition the caller passes, such as "the key is still
        # valid") is checked in the same statement: a refusal aborts it all.
        self._create_function = SQL(
            "CREATE OR REPLACE FUNCTION {function}(allowed boolean,"
            " ids uuid[], versions bigint[], topics text[], states bytea[])"
            " RETURNS SETOF bigint LANGUAGE plpgsql AS $$ BEGIN"
            " IF NOT allowed THEN"
            "  RAISE EXCEPTION 'the append''s guard refused it' USING ERRCODE = {refused};"
            " END IF;"
            " LOCK TABLE {events} IN EXCLUSIVE MODE;"
            " NOTIFY {channel};"
            " RETURN QUERY INSERT INTO {events} (originator_id, originator_version, topic, state)"
            " SELECT * FROM unnest(ids, versions, topics, states) RETURNING notification_id;"
            " END $$"
        ).format(
            function=function,
            events=events,
            channel=Identifier(recorder.channel_name),
            refused=Literal(GUARD_REFUSED),
        )
        self._events_statements: dict[tuple[int, bool], Composable] = {}
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
        guard: Guard | None = None,
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
        ]
        events_at = len(parts)
        parts.append(self._events_part(stored_events, guard))
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
        query = self._combined(tuple(statement for statement, _ in parts), events_at)
        params = [param for _, part_params in parts for param in part_params]
        async with self.pool.connection() as conn:
            try:
                cursor = await conn.execute(query, params, prepare=True)
                row = await cursor.fetchone()
            except errors.UniqueViolation as conflict:
                raise IntegrityError(str(conflict)) from conflict
            except psycopg.Error as error:
                if error.sqlstate == GUARD_REFUSED:
                    raise GuardRefused from error
                raise
        for listener in self._recorder.on_recorded:
            listener(stored_events)
        return row if row and row.get("id") is not None else None

    def _events_part(
        self, stored_events: Sequence[StoredEvent], guard: Guard | None
    ) -> tuple[Composable, Sequence[Any]]:
        condition, guard_params = guard if guard is not None else (_NO_GUARD, ())
        single = len(stored_events) == 1
        key = (id(condition), single)
        statement = self._events_statements.get(key)
        if statement is None:
            # One event (most PATCHes) as scalars: dumping arrays costs more per request.
            arrays = SQL(
                "ARRAY[%s::uuid], ARRAY[%s::bigint], ARRAY[%s::text], ARRAY[%s::bytea]"
                if single
                else "%s::uuid[], %s::bigint[], %s::text[], %s::bytea[]"
            )
            statement = SQL("SELECT * FROM {0}(({1}), {2})").format(
                self._function, condition, arrays
            )
            self._events_statements[key] = statement
        if single:
            (event,) = stored_events
            return statement, (
                *guard_params,
                event.originator_id,
                event.originator_version,
                event.topic,
                event.state,
            )
        return statement, (
            *guard_params,
            [event.originator_id for event in stored_events],
            [event.originator_version for event in stored_events],
            [event.topic for event in stored_events],
            [event.state for event in stored_events],
        )

    def _combined(self, statements: tuple[Composable, ...], events_at: int) -> bytes:
        """One statement of CTEs for these parts; the first part's rows are returned.

        `statements[events_at]` is the events part."""
        key = tuple(id(statement) for statement in statements)
        query = self._combined_cache.get(key)
        if query is None:
            ctes = SQL(", ").join(
                SQL("{0} AS ({1})").format(Identifier(f"part{number}"), statement)
                for number, statement in enumerate(statements)
            )
            # The events part is a SELECT of a function: only a referenced CTE runs.
            events_part = Identifier(f"part{events_at}")
            combined = SQL(
                "WITH {ctes} SELECT part0.*, (SELECT count(*) FROM {events}) AS appended"
                " FROM (SELECT 1) AS one LEFT JOIN part0 ON true"
            ).format(ctes=ctes, events=events_part)
            query = combined.as_bytes(None)
            self._combined_cache[key] = query
        return query
