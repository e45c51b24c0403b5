"""The requests clients make most — GET one, the list, PATCH — on async I/O.

Each starts with one query that checks the key and reads the resource (or the
page) together; a PATCH then appends its events and updates the read model in
one pipelined transaction that returns the row after it. No thread per request,
no replay: the row is the state the command is decided on, and the append's
version check refuses it if it was stale (then the command runs again).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.domain import Snapshot
from litestar import Request
from psycopg.sql import SQL, Identifier

from api.auth import bearer_secret, invalid_key
from api.keys import Principal, secret_digest
from api.request_ids import request_id
from api.services import Services
from application.commands import UpdateResource
from application.errors import ResourceNotFound
from application.resources import update_async
from domain.resource import Resource
from projections.queries import ResourcePage, ResourceRecord, StatusFilter, resource_from_record
from projections.resources import READ_MODEL_TABLE

_FIELDS = ResourceRecord.__struct_fields__
_KEY = SQL("k.id AS key_id, k.project_id AS key_project_id, k.user_id AS key_user_id")
_ROW = SQL(", ").join(SQL("r.{0}").format(Identifier(field)) for field in _FIELDS)

LOAD_ONE = SQL(
    "SELECT {key}, {row} FROM api_keys k"
    " LEFT JOIN {resources} r ON r.id = %(resource_id)s AND r.project_id = k.project_id"
    " WHERE k.secret_sha256 = %(digest)s AND k.revoked_at IS NULL"
).format(key=_KEY, row=_ROW, resources=Identifier(READ_MODEL_TABLE))

LOAD_PAGE = SQL(
    "WITH k AS (SELECT id, project_id, user_id FROM api_keys"
    "  WHERE secret_sha256 = %(digest)s AND revoked_at IS NULL),"
    " total AS (SELECT count(*) AS total FROM {resources} r, k"
    "  WHERE r.project_id = k.project_id"
    "  AND (%(status)s::text = 'all' OR r.status = %(status)s)),"
    " page AS (SELECT r.* FROM {resources} r, k WHERE r.project_id = k.project_id"
    "  AND (%(status)s::text = 'all' OR r.status = %(status)s)"
    "  ORDER BY r.id DESC LIMIT %(limit)s OFFSET %(offset)s)"
    " SELECT {key}, total.total, {row} FROM k CROSS JOIN total"
    " LEFT JOIN page r ON true ORDER BY r.id DESC"
).format(key=_KEY, row=_ROW, resources=Identifier(READ_MODEL_TABLE))

SNAPSHOT_INTERVAL = 50


def _principal(request: Request[Any, Any, Any], row: dict[str, Any] | None) -> Principal:
    if row is None:
        raise invalid_key()
    return Principal(
        key_id=row["key_id"],
        project_id=row["key_project_id"],
        user_id=row["key_user_id"],
        request_id=request_id(request),
    )


def _record(row: dict[str, Any]) -> ResourceRecord | None:
    if row.get("id") is None:
        return None
    return ResourceRecord(**{field: row[field] for field in _FIELDS})


class HotPath:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._pool = services.appender.pool
        # Rendered once: composing SQL on every request shows in profiles.
        self._load_one = LOAD_ONE.as_bytes(None)
        self._load_page = LOAD_PAGE.as_bytes(None)

    def _digest(self, request: Request[Any, Any, Any]) -> bytes:
        digest = secret_digest(bearer_secret(request))
        if digest is None:
            raise invalid_key()
        return digest

    async def load(
        self, request: Request[Any, Any, Any], resource_id: int
    ) -> tuple[Principal, ResourceRecord | None]:
        """The caller, and the resource if it is theirs (None otherwise)."""
        digest = self._digest(request)
        async with self._pool.connection() as conn:
            cursor = await conn.execute(
                self._load_one, {"resource_id": resource_id, "digest": digest}, prepare=True
            )
            row = await cursor.fetchone()
        principal = _principal(request, row)
        assert row is not None
        return principal, _record(row)

    async def page(
        self, request: Request[Any, Any, Any], status: StatusFilter, page: int, per_page: int
    ) -> tuple[Principal, ResourcePage]:
        digest = self._digest(request)
        params = {
            "digest": digest,
            "status": status,
            "limit": per_page,
            "offset": (page - 1) * per_page,
        }
        async with self._pool.connection() as conn:
            cursor = await conn.execute(self._load_page, params, prepare=True)
            rows = await cursor.fetchall()
        principal = _principal(request, rows[0] if rows else None)
        records = [record for row in rows if (record := _record(row)) is not None]
        return principal, ResourcePage(resources=records, total=int(rows[0]["total"]))

    async def update(
        self,
        request: Request[Any, Any, Any],
        resource_id: int,
        command_for: Callable[[Principal], UpdateResource],
    ) -> ResourceRecord:
        """Runs the update use case; returns the read-model row after it."""
        principal, record = await self.load(request, resource_id)
        if record is None:
            raise ResourceNotFound(resource_id)
        fresh: list[ResourceRecord] = [record]
        latest: list[ResourceRecord] = []

        async def load() -> Resource:
            current = fresh.pop() if fresh else (await self.load(request, resource_id))[1]
            if current is None:
                raise ResourceNotFound(resource_id)
            latest[:] = [current]
            return resource_from_record(current)

        _, after = await update_async(
            command_for(principal),
            load=load,
            append=self._append,
            blobs=self.services.resources.blobs,
        )
        return after if after is not None else latest[0]

    async def _append(
        self, resource: Resource, events: Sequence[Resource.Changed]
    ) -> ResourceRecord:
        """Appends the events (and a snapshot when one is due); the row after them."""
        mapper = self.services.resources.mapper
        stored = [mapper.to_stored_event(event) for event in events]
        first, last = events[0].originator_version, events[-1].originator_version
        snapshot = None
        if last // SNAPSHOT_INTERVAL > (first - 1) // SNAPSHOT_INTERVAL:
            snapshot = mapper.to_stored_event(Snapshot.take(resource))
        row = await self.services.appender.append(events, stored, snapshot)
        assert row is not None
        return ResourceRecord(**{field: row[field] for field in _FIELDS})
