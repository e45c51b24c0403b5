"""The resources' event streams for history and time travel, read on the resource
store's async pool (its answer to an outage too: 503, a broken connection tried
once more).

A page of history or a version is one prepared statement: the caller's live key
(as the store's `load` looks it up), the stream's latest version, the nearest
snapshot and the events after it, all by primary key. Stored events are decoded by
the library's mapper, so upcasting applies as it does to every other reader.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, Snapshot
from eventsourcing.persistence import Mapper, StoredEvent
from psycopg.sql import SQL, Identifier

from adapters.read_models.timeline import TIMELINE_TABLE
from adapters.resource_store import PostgresResourceStore, live_key
from application.access import Caller, Principal
from application.errors import Unauthenticated
from application.ports import StreamStretch
from domain.resource import resource_uuid


class PostgresEventHistory:
    """EventHistory over the events, snapshots and timeline tables."""

    def __init__(
        self,
        store: PostgresResourceStore,
        mapper: Mapper[UUID],
        *,
        events_table: str,
        snapshots_table: str,
        timeline_table: str = TIMELINE_TABLE,
    ) -> None:
        self._store = store
        self._mapper = mapper
        # No live key, no row. Otherwise the latest version is a scalar subquery (run
        # once, an index-only probe), and the LEFT JOIN keeps one row with the key and
        # the latest version when there is nothing else to return.
        self._stretch = (
            SQL(
                "WITH snapshot AS (SELECT originator_version, topic, state FROM {snapshots}"
                "  WHERE originator_id = %(id)s AND originator_version <= %(restore_at)s"
                "  ORDER BY originator_version DESC LIMIT 1)"
                " SELECT k.*, (SELECT max(originator_version) FROM {events}"
                "  WHERE originator_id = %(id)s) AS latest,"
                " s.is_snapshot, s.originator_version, s.topic, s.state"
                " FROM ({key}) AS k LEFT JOIN ("
                "  SELECT true AS is_snapshot, originator_version, topic, state FROM snapshot"
                "  UNION ALL"
                "  SELECT false, originator_version, topic, state FROM {events}"
                "  WHERE originator_id = %(id)s AND originator_version <= %(until)s"
                "   AND originator_version >"
                "    coalesce((SELECT originator_version FROM snapshot), 0)"
                " ) AS s ON true"
            )
            .format(
                key=live_key(SQL("%(digest)s")),
                events=Identifier(events_table),
                snapshots=Identifier(snapshots_table),
            )
            .as_bytes(None)
        )
        self._version_at = (
            SQL(
                "SELECT k.*, (SELECT max(version) FROM {timeline}"
                "  WHERE aggregate_id = %(id)s AND occurred_at <= %(moment)s) AS version"
                " FROM ({key}) AS k"
            )
            .format(key=live_key(SQL("%(digest)s")), timeline=Identifier(timeline_table))
            .as_bytes(None)
        )

    async def stretch(
        self, caller: Caller, resource_id: int, *, restore_at: int, until: int
    ) -> tuple[Principal, StreamStretch]:
        aggregate_id = resource_uuid(resource_id)
        params = {
            "digest": caller.digest,
            "id": aggregate_id,
            "restore_at": restore_at,
            "until": until,
        }
        rows = await self._store.fetch(self._stretch, params)
        principal = _principal(rows)
        latest = rows[0]["latest"]
        snapshot: Snapshot | None = None
        events: list[Aggregate.Event] = []
        # In version order here rather than by an ORDER BY: the rows are one
        # resource's few, and the plan then has no sort at all.
        for row in sorted(rows, key=lambda found: found["originator_version"] or 0):
            if row["is_snapshot"] is None:  # nothing but the latest version
                continue
            decoded = self._decoded(aggregate_id, row)
            if row["is_snapshot"]:
                assert isinstance(decoded, Snapshot)
                snapshot = decoded
            else:
                assert isinstance(decoded, Aggregate.Event)
                events.append(decoded)
        return principal, StreamStretch(latest=latest or 0, snapshot=snapshot, events=events)

    def _decoded(self, aggregate_id: UUID, row: dict[str, Any]) -> object:
        return self._mapper.to_domain_event(
            StoredEvent(
                originator_id=aggregate_id,
                originator_version=row["originator_version"],
                topic=row["topic"],
                state=bytes(row["state"]),
            )
        )

    async def version_at(
        self, caller: Caller, resource_id: int, moment: datetime
    ) -> tuple[Principal, int | None]:
        params = {"digest": caller.digest, "id": resource_uuid(resource_id), "moment": moment}
        rows = await self._store.fetch(self._version_at, params)
        principal = _principal(rows)
        version = rows[0]["version"]
        return principal, None if version is None else int(version)


def _principal(rows: list[dict[str, Any]]) -> Principal:
    """The key of a statement's rows; none when the caller's key is not live."""
    if not rows:
        raise Unauthenticated
    row = rows[0]
    return Principal(
        key_id=row["key_id"], project_id=row["key_project_id"], user_id=row["key_user_id"]
    )
