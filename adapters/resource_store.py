"""The resource store on PostgreSQL, on async I/O: key lookup, reads, the guarded append.

An append is one statement: the inline read models' writes (built by the same
projection code as every other writer), the events through the append function
(no lock, no NOTIFY: `adapters.event_store`), a snapshot when one is due, and
the Idempotency-Key's outcome. One round trip, one implicit transaction: all of it
commits, or none. The function first checks the append's guard (the key is still
live for the project; the row decided on is still the resource's row), so a
refusal aborts the whole statement. After the commit, the process's `Wakeup`
announces it to the consumers of the event sequence.

Rows to decide on are read fresh here; `CachingResourceStore` (adapters/
caching_store.py) wraps this store to remember them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from datetime import UTC
from typing import Any, NamedTuple, cast
from uuid import UUID

import anyio
import msgspec
import psycopg
from eventsourcing.domain import Aggregate, Snapshot
from eventsourcing.persistence import Mapper, StoredEvent
from psycopg import AsyncConnection, AsyncCursor, errors
from psycopg.abc import AdaptContext
from psycopg.pq import ExecStatus
from psycopg.rows import DictRow, RowMaker, dict_row
from psycopg.sql import SQL, Composable, Composed, Identifier, Literal
from psycopg.types.datetime import TimestamptzLoader
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from adapters.event_store import GUARD_REFUSED, ProjectingApplicationRecorder, append_function_name
from adapters.read_models.counts import total as kept_total
from adapters.read_models.resources import ResourcesProjection
from adapters.read_models.timeline import TimelineProjection
from adapters.replica import WATCH_INTERVAL, ReplicaWatch, format_token, replica_reads
from adapters.wakeup import Wakeup
from application.access import Caller, Principal
from application.errors import (
    DatabaseUnavailable,
    DuplicateRequest,
    StaleState,
    Unauthenticated,
)
from application.ports import Basis, Guard, Outcome, RememberedOutcome, ResourcePage, StatusFilter
from domain.resource import Resource
from projections.resources import ResourceRecord

ID_SEQUENCE = "resource_ids"
OUTCOMES_TABLE = "idempotency_outcomes"
OUTCOME_TTL_HOURS = 24
POOL_WAIT = 1.0
"""Seconds a request waits for a pooled connection before it answers 503."""
CONNECT_TIMEOUT = 2
"""Seconds a new connection may take (libpq's least)."""
RECONNECT_GIVE_UP = 2.0
"""Seconds the pool retries a lost connection in the background (after 1 s, then
2 s: its back-off doubles without bound) before it lets the connection go. A request
that then finds none starts a new attempt at once, so through an outage or a
failover the pool tries again about every second while requests come, and finds the
new primary within a second or two of its promotion (a day of retries, as before,
waited 8, 16, 32 s between attempts)."""
REPLICA_POOL_WAIT = 0.5
"""Seconds a read waits for a replica connection before the primary serves it."""
STATEMENT_TIMEOUT_MS = 1500
LOCK_TIMEOUT_MS = 1000


def live_key(digest: Composable) -> Composed:
    """The one key lookup: the live key whose stored digest is `digest`."""
    return SQL(
        "SELECT id AS key_id, project_id AS key_project_id, user_id AS key_user_id"
        " FROM api_keys WHERE secret_sha256 = {0} AND revoked_at IS NULL"
    ).format(digest)


def outcomes_table() -> list[Composed]:
    return [
        SQL(
            "CREATE TABLE IF NOT EXISTS {0} ("
            " project_id bigint NOT NULL,"
            " key text NOT NULL,"
            " fingerprint bytea NOT NULL,"
            " created boolean NOT NULL,"
            " record jsonb NOT NULL,"
            " created_at timestamptz NOT NULL DEFAULT now(),"
            " PRIMARY KEY (project_id, key))"
        ).format(Identifier(OUTCOMES_TABLE))
    ]


def id_sequence() -> list[Composed]:
    return [
        SQL("CREATE SEQUENCE IF NOT EXISTS {0} AS bigint MINVALUE 1").format(
            Identifier(ID_SEQUENCE)
        )
    ]


TUPLES_OK = ExecStatus.TUPLES_OK


class _ConnectionLost(Exception):
    """A pooled connection was found broken; another one may work."""


class Found(NamedTuple):
    """A row of a statement that reads resources: the key's principal (when the
    statement looks the key up), the resource's row (None where a LEFT JOIN found
    none), and a page's total (when the statement counts one)."""

    principal: Principal | None
    record: ResourceRecord | None
    total: int | None


class _Layout:
    """Where a statement's columns are in its rows, and how a row becomes `Found`."""

    def __init__(self, names: Sequence[str], row_type: type[ResourceRecord], fields: Sequence[str]):
        at = {name: position for position, name in enumerate(names)}
        self._total = at.get("total")
        key = tuple(at.get(name) for name in ("key_id", "key_project_id", "key_user_id"))
        self._key = None if None in key else cast(tuple[int, int, int], key)
        self._id = at.get("id")
        self._fields = [(field, at[field]) for field in fields] if self._id is not None else []
        self._row_type = row_type

    def found(self, row: Sequence[Any]) -> Found:
        principal = None
        if self._key is not None:
            key_id, project_id, user_id = self._key
            principal = Principal(
                key_id=row[key_id], project_id=row[project_id], user_id=row[user_id]
            )
        record = None
        if self._id is not None and row[self._id] is not None:
            record = self._row_type(**{field: row[position] for field, position in self._fields})
        total = None if self._total is None else int(row[self._total])
        return Found(principal, record, total)


class _UtcTimestamptzLoader(TimestamptzLoader):
    """timestamptz as UTC datetimes, whatever time zone the pooler reported."""

    def __init__(self, oid: int, context: AdaptContext | None = None) -> None:
        super().__init__(oid, context)
        self._timezone = UTC


async def _json_by_msgspec(conn: AsyncConnection[Any]) -> None:
    # The stdlib's json decoder was a quarter of a feed page's time on the server
    # (the activity rows' changes); msgspec's gives the same values several times
    # faster.
    set_json_loads(msgspec.json.decode, conn)


async def _json_by_msgspec_times_in_utc(conn: AsyncConnection[Any]) -> None:
    await _json_by_msgspec(conn)
    conn.adapters.register_loader("timestamptz", _UtcTimestamptzLoader)


class Replica(NamedTuple):
    """DATABASE_REPLICA_URL, REPLICA_MAX_LAG (seconds) and REPLICA_WAIT_MS (as seconds)."""

    conninfo: str
    max_lag: float
    wait: float


def _pool(
    conninfo: str, size: int, *, pooled: bool, wait: float = POOL_WAIT
) -> AsyncConnectionPool[AsyncConnection[DictRow]]:
    kwargs: dict[str, Any] = {
        "row_factory": dict_row,
        "autocommit": True,
        "connect_timeout": CONNECT_TIMEOUT,
    }
    if pooled:
        # Through a transaction pooler (adapters.database.Database): no startup
        # options and no prepared statements; the timeouts are the role's defaults.
        kwargs["prepare_threshold"] = None
    else:
        # A request never waits long on a lock (a rebuild's swap) or a statement.
        # Times in UTC: psycopg then makes datetimes without a zone lookup, and
        # they are shown in UTC as they are.
        kwargs["options"] = (
            f"-c statement_timeout={STATEMENT_TIMEOUT_MS}"
            f" -c lock_timeout={LOCK_TIMEOUT_MS} -c TimeZone=UTC"
        )
    return AsyncConnectionPool(
        conninfo,
        connection_class=AsyncConnection[DictRow],
        kwargs=kwargs,
        configure=_json_by_msgspec_times_in_utc if pooled else _json_by_msgspec,
        min_size=min(4, size),  # grows to max_size under load
        max_size=size,
        timeout=wait,
        reconnect_timeout=RECONNECT_GIVE_UP,
        open=False,
    )


class PostgresResourceStore:
    """ResourceStore, IdAllocator and IdempotencyRecords on one async pool (and the
    reads the edge marks, on a replica's when one is configured)."""

    def __init__(
        self,
        *,
        conninfo: str,
        recorder: ProjectingApplicationRecorder,
        mapper: Mapper[UUID],
        resources: ResourcesProjection,
        timeline: TimelineProjection,
        snapshots_table: str,
        pool_size: int = 8,
        pooled: bool = False,
        replica: Replica | None = None,
    ) -> None:
        self._prepare: bool | None = None if pooled else True
        self.pool = _pool(conninfo, pool_size, pooled=pooled)
        self.replica: ReplicaWatch | None = None
        """Set with DATABASE_REPLICA_URL: the replica's pool, and how far behind it is."""
        if replica is not None:
            self.replica = ReplicaWatch(
                _pool(replica.conninfo, pool_size, pooled=False, wait=REPLICA_POOL_WAIT),
                max_lag=replica.max_lag,
                wait=replica.wait,
            )
        self.follower = _pool(conninfo, 1, pooled=pooled)
        """The event feed's follower's own connection (adapters/activity_reads.py): its
        reads never queue behind the requests'."""
        self._watching: asyncio.Task[None] | None = None
        self._recorder = recorder
        self._wakeup = Wakeup(self.pool, recorder.wake)
        self._mapper = mapper
        self._resources = resources
        self._timeline = timeline
        self._row_type = cast(type[ResourceRecord], resources.shape.row_type)
        self._fields = resources.shape.columns
        self._layouts: dict[tuple[str, ...], _Layout] = {}
        """Each statement's layout, by its columns' names."""
        self.on_connection_lost: list[Callable[[], None]] = []
        """Told when a pooled connection was found dead (the database restarted)."""
        table = Identifier(resources.table)
        row = SQL(", ").join(SQL("r.{0}").format(Identifier(field)) for field in self._fields)
        # Statements are rendered once, here.
        self._authenticate = live_key(SQL("%(digest)s")).as_bytes(None)
        self._position = b"SELECT pg_current_wal_lsn() - '0/0'::pg_lsn AS position"
        self._load_one = (
            SQL(
                "SELECT k.*, {row} FROM ({key}) k"
                " LEFT JOIN {table} r ON r.id = %(resource_id)s AND r.project_id = k.key_project_id"
            )
            .format(row=row, key=live_key(SQL("%(digest)s")), table=table)
            .as_bytes(None)
        )
        page = SQL(
            "WITH k AS ({key}),"
            " total AS MATERIALIZED (SELECT {total} AS total FROM k),"
            " page AS (SELECT f.* FROM {table} f WHERE f.id = ANY (ARRAY (SELECT r.id"
            "  FROM {table} r WHERE r.project_id = (SELECT key_project_id FROM k) {status}"
            "  ORDER BY r.id DESC LIMIT %(limit)s OFFSET %(offset)s)))"
            " SELECT k.*, total.total, {row} FROM k CROSS JOIN total"
            " LEFT JOIN page r ON true ORDER BY r.id DESC"
        )
        # The total is the kept count (adapters/read_models/counts.py): a few rows read by key,
        # however many resources the project has. The page's ids come from an
        # index-only scan of the project's (and status's) index, then its rows by
        # primary key: a deep page skips index entries, not rows, and never walks
        # other projects' rows. Two statements, not one with
        # "(%(status)s = 'all' OR ...)": a prepared statement's generic plan cannot
        # drop that OR, and then reads every row of the project instead of walking an
        # index to the page.
        project = SQL("k.key_project_id")
        self._page_all = page.format(
            key=live_key(SQL("%(digest)s")),
            table=table,
            row=row,
            status=SQL(""),
            total=kept_total(resources.table, project),
        ).as_bytes(None)
        self._page_with_status = page.format(
            key=live_key(SQL("%(digest)s")),
            table=table,
            row=row,
            status=SQL("AND r.status = %(status)s"),
            total=kept_total(resources.table, project, SQL("%(status)s")),
        ).as_bytes(None)
        self._find = (
            SQL("SELECT {row} FROM {table} r WHERE r.id = %s")
            .format(row=row, table=table)
            .as_bytes(None)
        )
        self._has_history = (
            SQL("SELECT EXISTS (SELECT FROM {0} WHERE originator_id = %s) AS found")
            .format(Identifier(recorder.events_table_name))
            .as_bytes(None)
        )
        self._next_id = SQL("SELECT nextval({0}) AS id").format(Literal(ID_SEQUENCE)).as_bytes(None)
        key_still_live = SQL("EXISTS (SELECT FROM ({key}) k WHERE k.key_project_id = %s)").format(
            key=live_key(SQL("%s"))
        )
        self._guard_key = key_still_live
        self._guard_key_and_row = SQL(
            "{key} AND EXISTS (SELECT FROM {table} WHERE id = %s AND version = %s"
            " AND updated_at = %s)"
        ).format(key=key_still_live, table=table)
        self._append_function = Identifier(append_function_name(recorder.events_table_name))
        self._insert_snapshot = SQL(
            "INSERT INTO {0} (originator_id, originator_version, topic, state) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1"
        ).format(Identifier(snapshots_table))
        self._remember = SQL(
            "INSERT INTO {0} (project_id, key, fingerprint, created, record)"
            " SELECT %s, %s, %s, %s, to_jsonb(part0) FROM part0"
        ).format(Identifier(OUTCOMES_TABLE))
        self._events_statements: dict[tuple[bool, bool], Composed] = {}
        self._combined_cache: dict[tuple[int, ...], tuple[tuple[Composable, ...], bytes]] = {}
        """Each append's combined statement by the identities of the statements it is
        made of (the projections build each statement once and keep it). The entry
        holds those statements too, so no identity in a key can be reused."""
        outcomes = Identifier(OUTCOMES_TABLE)
        self._forget_expired = SQL(
            "DELETE FROM {0} WHERE project_id = %s AND key = %s"
            " AND created_at < now() - make_interval(hours => {1})"
        ).format(outcomes, Literal(OUTCOME_TTL_HOURS))
        self._sweep = SQL(
            "DELETE FROM {0} WHERE created_at < now() - make_interval(hours => {1}) RETURNING 1"
        ).format(outcomes, Literal(OUTCOME_TTL_HOURS))
        self._outcome = SQL(
            "SELECT fingerprint, created, record::text AS record FROM {0}"
            " WHERE project_id = %s AND key = %s"
        ).format(outcomes)
        self._keep: Composed = SQL(
            "INSERT INTO {0} (project_id, key, fingerprint, created, record)"
            " VALUES (%s, %s, %s, %s, %s::jsonb) ON CONFLICT DO NOTHING RETURNING 1"
        ).format(outcomes)

    async def open(self) -> None:
        await self.pool.open(wait=True)
        await self.follower.open(wait=True)
        if self.replica is not None:
            # Not waited for: a replica that is down costs the service nothing.
            await self.replica.pool.open(wait=False)
            self._watching = asyncio.create_task(self._watch(self.replica))

    async def _watch(self, replica: ReplicaWatch) -> None:
        """Every WATCH_INTERVAL: the primary's WAL position, then the replica's replay."""
        while True:
            with contextlib.suppress(DatabaseUnavailable):
                replica.primary_at(await self._wal_position())
            try:
                with anyio.fail_after(1.0):
                    replica.replica_at(await replica.replayed())
            except Exception as error:
                replica.unreachable(str(error)[:200] or type(error).__name__)
            await asyncio.sleep(WATCH_INTERVAL)

    async def _wal_position(self) -> int:
        found = await self._one(self._position, (), pool=self.pool)
        assert found is not None
        return int(found["position"])

    async def session_token(self) -> str | None:
        """After a write: the primary's WAL position, which a replica that has replayed
        it holds the write at (None without a replica: reads are the primary's)."""
        if self.replica is None:
            return None
        return format_token(await self._wal_position())

    async def ping(self) -> None:
        """Raises DatabaseUnavailable unless the database answers."""
        await self._one(b"SELECT 1 AS one", ())

    async def close(self) -> None:
        if self._watching is not None:
            self._watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watching
        if self.replica is not None:
            await self.replica.pool.close()
        await self._wakeup.close()
        await self.follower.close()
        await self.pool.close()

    # Reads

    def _found_rows(self, cursor: AsyncCursor[Any]) -> RowMaker[Found]:
        """The psycopg row factory of the statements that read resources (and keys):
        each row as `Found`, by a layout read once per set of columns."""
        names = tuple(column.name for column in cursor.description or ())
        layout = self._layouts.get(names)
        if layout is None:
            layout = self._layouts[names] = _Layout(names, self._row_type, self._fields)
        return layout.found

    @staticmethod
    def _principal(rows: Sequence[Found]) -> Principal:
        """The live key's principal, or Unauthenticated (no row: the key is not live)."""
        principal = rows[0].principal if rows else None
        if principal is None:
            raise Unauthenticated
        return principal

    async def fetch(self, query: bytes | Composed, params: Any) -> list[dict[str, Any]]:
        """The rows of one statement, as dicts, on this store's pool: for the other
        readers of the database, with the same answer to an outage (503)."""
        rows: list[dict[str, Any]] = await self._rows(query, params)
        return rows

    async def follow(self, query: bytes | Composed, params: Any) -> list[dict[str, Any]]:
        """`fetch` on the follower's own connection, always the primary's."""
        rows: list[dict[str, Any]] = await self._rows(query, params, pool=self.follower)
        return rows

    async def _one(
        self, query: bytes | Composed, params: Any, *, pool: AsyncConnectionPool[Any] | None = None
    ) -> dict[str, Any] | None:
        rows = await self._rows(query, params, first_only=True, pool=pool)
        return rows[0] if rows else None

    async def _rows(
        self,
        query: bytes | Composed,
        params: Any,
        *,
        first_only: bool = False,
        found: bool = False,
        pool: AsyncConnectionPool[Any] | None = None,
    ) -> list[Any]:
        """The rows of one statement on a pooled connection (autocommit: no transaction),
        on `pool` if given, else on the replica's for a read the edge marked
        (`replica_reads`) that the replica serves, else on the primary's.

        A database that cannot be reached is DatabaseUnavailable. A connection that
        turns out to be broken (the server restarted since it was pooled) is dropped
        by the pool; the others are checked and the statement tried once more.
        """
        if pool is None:
            if self.replica is None:  # make run's case: no await on the hot path
                pool = self.pool
            else:
                pool = await self._reads_pool()
                if pool is not self.pool:
                    return await self._replica_rows(pool, query, params, first_only, found)
        for attempt in (1, 2):
            try:
                return await self._rows_once(pool, query, params, first_only, found)
            except _ConnectionLost as lost:
                if attempt == 2:
                    raise DatabaseUnavailable("the database connection was lost") from lost
                # The others in the pool are likely broken too (a restart, a failover):
                # check them all before the second try, and tell whoever else holds
                # connections to this database.
                await pool.check()
                for listener in self.on_connection_lost:
                    listener()
        raise AssertionError("unreachable")

    async def fetch_reaching(
        self, head: bytes | Composed, needed: int, query: bytes | Composed, params: Any
    ) -> list[dict[str, Any]]:
        """`fetch`, from a snapshot that holds every position up to `needed`: on the
        replica (for a read the edge marked) once its `head` has reached it, else on
        the primary. A feed read bounded by the hub's head needs that: the hub, which
        follows the primary, goes on from there, and would pass over what the
        replica had not replayed yet."""
        replica = self.replica
        if replica is not None and await self._reads_pool() is replica.pool:
            try:
                rows = await replica.rows_once_at(head, needed, query, params)
            except (psycopg.Error, PoolTimeout) as error:
                replica.unreachable(str(error)[:200])
                rows = None
            if rows is not None:
                return rows
        return await self._rows(query, params, pool=self.pool)

    async def _reads_pool(self) -> AsyncConnectionPool[Any]:
        read = replica_reads.get()
        if read is None or self.replica is None or not await self.replica.serves(read):
            return self.pool
        return self.replica.pool

    async def _replica_rows(
        self,
        replica: AsyncConnectionPool[Any],
        query: bytes | Composed,
        params: Any,
        first_only: bool,
        found: bool,
    ) -> list[Any]:
        """A read on the replica; on the primary if the replica fails it, or does not
        know the key yet (a key made a moment ago: 401 only if the primary agrees)."""
        assert self.replica is not None
        try:
            rows = await self._rows_once(replica, query, params, first_only, found)
        except (DatabaseUnavailable, _ConnectionLost) as error:
            self.replica.unreachable(str(error.__cause__ or error)[:200])
            rows = None
        if rows is None or (found and (not rows or rows[0].principal is None)):
            primary = self.pool
            return await self._rows(query, params, first_only=first_only, found=found, pool=primary)
        return rows

    async def _rows_once(
        self,
        pool: AsyncConnectionPool[Any],
        query: bytes | Composed,
        params: Any,
        first_only: bool,
        found: bool = False,
    ) -> list[Any]:
        try:
            async with pool.connection() as conn:
                try:
                    return await self._execute(conn, query, params, first_only, found)
                except psycopg.OperationalError as error:
                    if conn.broken:  # the pool discards it when it is handed back
                        raise _ConnectionLost from error
                    raise DatabaseUnavailable(str(error)[:200]) from error
        except PoolTimeout as error:
            raise DatabaseUnavailable("no database connection within the pool's wait") from error

    async def _execute(
        self,
        conn: AsyncConnection[Any],
        query: bytes | Composed,
        params: Any,
        first_only: bool,
        found: bool,
    ) -> list[Any]:
        cursor: AsyncCursor[Any] = (
            conn.cursor(row_factory=self._found_rows) if found else conn.cursor()
        )
        await cursor.execute(query, params, prepare=self._prepare)
        result = cursor.pgresult
        if result is None or result.status != TUPLES_OK:  # a statement without rows
            return []
        if first_only:
            row = await cursor.fetchone()
            return [] if row is None else [row]
        return await cursor.fetchall()

    async def _found(
        self,
        query: bytes,
        params: Any,
        *,
        first_only: bool = False,
        pool: AsyncConnectionPool[Any] | None = None,
    ) -> list[Found]:
        """The rows of a statement that reads resources (and keys), as `Found`."""
        rows: list[Found] = await self._rows(
            query, params, first_only=first_only, found=True, pool=pool
        )
        return rows

    async def authenticate(self, caller: Caller) -> Principal:
        rows = await self._found(self._authenticate, {"digest": caller.digest}, first_only=True)
        return self._principal(rows)

    async def load(
        self, caller: Caller, resource_id: int
    ) -> tuple[Principal, ResourceRecord | None]:
        rows = await self._found(
            self._load_one, {"resource_id": resource_id, "digest": caller.digest}, first_only=True
        )
        return self._principal(rows), rows[0].record

    async def basis(self, caller: Caller, resource_id: int) -> Basis:
        principal, row = await self.load(caller, resource_id)
        return Basis(principal=principal, row=row, confirmed=True)

    async def page(
        self, caller: Caller, status: StatusFilter, page: int, per_page: int
    ) -> tuple[Principal, ResourcePage]:
        params = {
            "digest": caller.digest,
            "status": status,
            "limit": per_page,
            "offset": (page - 1) * per_page,
        }
        query = self._page_all if status == "all" else self._page_with_status
        rows = await self._found(query, params)
        principal = self._principal(rows)
        records = [row.record for row in rows if row.record is not None]
        return principal, ResourcePage(resources=records, total=rows[0].total or 0)

    async def find(self, resource_id: int) -> ResourceRecord | None:
        rows = await self._found(self._find, (resource_id,), first_only=True)
        return rows[0].record if rows else None

    async def has_history(self, resource_id: int) -> bool:
        found = await self._one(self._has_history, (Resource.create_id(resource_id),))
        return bool(found and found["found"])

    async def next_id(self) -> int:
        found = await self._one(self._next_id, ())
        assert found is not None
        return int(found["id"])

    # Idempotency-Key outcomes

    async def outcome(self, project_id: int, key: str) -> RememberedOutcome | None:
        await self._rows(self._forget_expired, (project_id, key))
        found = await self._one(self._outcome, (project_id, key))
        if found is None:
            return None
        record = msgspec.json.decode(found["record"], type=self._row_type)
        return RememberedOutcome(
            fingerprint=bytes(found["fingerprint"]),
            outcome=Outcome(record=record, created=found["created"]),
        )

    async def sweep(self) -> int:
        """Removes the outcomes older than their 24 hours; how many."""
        rows = await self._rows(self._sweep, ())
        return len(rows)

    async def keep(self, project_id: int, key: str, remembered: RememberedOutcome) -> bool:
        params = (
            project_id,
            key,
            remembered.fingerprint,
            remembered.outcome.created,
            msgspec.json.encode(remembered.outcome.record).decode(),
        )
        return await self._one(self._keep, params) is not None

    # The append

    async def append(
        self,
        events: Sequence[Aggregate.Event],
        *,
        guard: Guard,
        snapshot: Snapshot | None = None,
        remember_as: tuple[str, bytes, bool] | None = None,
    ) -> ResourceRecord | None:
        stored = [self._mapper.to_stored_event(event) for event in events]
        parts: list[tuple[Composable, Sequence[Any]]] = [
            *self._resources.statements_for(events, returning=True),
            *self._timeline.statements_for(events),
        ]
        events_at = len(parts)
        parts.append(self._events_part(stored, guard))
        if snapshot is not None:
            state = self._mapper.to_stored_event(cast(Aggregate.Event, snapshot))
            parts.append(
                (
                    self._insert_snapshot,
                    (state.originator_id, state.originator_version, state.topic, state.state),
                )
            )
        if remember_as is not None:
            key, fingerprint, created = remember_as
            parts.append((self._remember, (guard.project_id, key, fingerprint, created)))
        query = self._combined(tuple(statement for statement, _ in parts), events_at)
        params = [param for _, part_params in parts for param in part_params]
        try:
            # A connection lost mid-append is tried again once: if the first try had
            # committed, the second is refused (StaleState) and the command decided
            # again on what the store now holds, so nothing is appended twice.
            found = await self._found(query, params, first_only=True, pool=self.pool)
        except errors.UniqueViolation as conflict:
            if conflict.diag.table_name == OUTCOMES_TABLE:
                raise DuplicateRequest from conflict
            raise StaleState from conflict
        except psycopg.Error as error:
            if error.sqlstate != GUARD_REFUSED:
                raise
            raise StaleState from error
        self._wakeup.commit_seen()
        for listener in self._recorder.on_recorded:
            listener(stored)
        if not found or isinstance(events[-1], Resource.Deleted):
            return None
        return found[0].record

    def _events_part(
        self, stored_events: Sequence[StoredEvent], guard: Guard
    ) -> tuple[Composable, Sequence[Any]]:
        if guard.basis is None:
            condition = self._guard_key
            guard_params: tuple[Any, ...] = (guard.digest, guard.project_id)
        else:
            basis = guard.basis
            condition = self._guard_key_and_row
            guard_params = (
                guard.digest,
                guard.project_id,
                basis.id,
                basis.version,
                basis.updated_at,
            )
        single = len(stored_events) == 1
        statement = self._events_statements.get((guard.basis is None, single))
        if statement is None:
            # One event (most PATCHes) goes as scalars, more as arrays.
            arrays = SQL(
                "ARRAY[%s::uuid], ARRAY[%s::bigint], ARRAY[%s::text], ARRAY[%s::bytea]"
                if single
                else "%s::uuid[], %s::bigint[], %s::text[], %s::bytea[]"
            )
            statement = SQL("SELECT * FROM {0}(({1}), {2})").format(
                self._append_function, condition, arrays
            )
            self._events_statements[(guard.basis is None, single)] = statement
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
        cached = self._combined_cache.get(key)
        if cached is None:
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
            cached = (statements, combined.as_bytes(None))
            self._combined_cache[key] = cached
        return cached[1]
