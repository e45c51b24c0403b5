"""Zero-downtime rebuilds: build aside, catch up, verify, swap.

A rebuild replays the whole event store into a new table beside the live one,
in large batches (read thousands of events, fold them in memory, write with
COPY); each batch commits with the rebuild's position, so a rebuild killed at
any point resumes where it stopped. It then compares the two tables row by row
in one snapshot that sees exactly the events the rebuilt table holds (no lock:
requests go on), and only then locks the live table, applies the few events
appended since, and swaps the tables in the same transaction: readers see the
old table or the new one, never a half-built one, and wait at most a moment.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
from eventsourcing.persistence import Notification
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Cursor
from psycopg.rows import dict_row
from psycopg.sql import SQL, Composed, Identifier

from adapters.read_models.counts import rename_counts
from adapters.read_models.reader import CommitOrderedReader

STATE_TABLE = "projection_rebuilds"
BATCH_SIZE = 10_000
SWAP_LOCK_WAIT = "150ms"
"""How long the swap waits for the live table: requests that arrive meanwhile queue
behind it, so this bounds their extra wait."""
SWAP_ATTEMPTS = 50


class Rebuildable(Protocol):
    """A read model that can be rebuilt from the event store."""

    name: str
    live_table: str
    columns: tuple[str, ...]
    """The columns compared before the swap; the first ones identify a row."""
    key_columns: int

    def create_statements(self, table: str) -> list[Composed]: ...

    def write_batch(
        self, curs: Cursor[Any], table: str, notifications: Sequence[Notification]
    ) -> None: ...

    def after_swap(self, curs: Cursor[Any], position: int) -> None: ...

    def live_position(self, curs: Cursor[Any]) -> int | None:
        """How far the live table has got, if it lags (asynchronous); None if it cannot."""
        ...


@dataclass(frozen=True)
class RebuildProgress:
    name: str
    position: int
    head: int
    events_this_run: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events_this_run / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class RebuildOutcome:
    name: str
    position: int
    events: int
    seconds: float
    swap_seconds: float
    resumed_from: int
    differences: int


class RebuildBusy(Exception):
    """Another rebuild of the same projection is running."""


class RebuildStopped(Exception):
    """Asked to stop (Ctrl-C): stopped at a batch's end, the live table untouched."""


class VerificationFailed(Exception):
    """The rebuilt table differs from the live one; nothing was swapped."""

    def __init__(self, name: str, count: int, samples: list[str]) -> None:
        super().__init__(
            f"{name}: {count} rows differ between the rebuilt and the live read model "
            f"(first: {', '.join(samples)}); the live read model is unchanged"
        )
        self.count = count
        self.samples = samples


def create_state_table_statements() -> list[Composed]:
    return [
        SQL(
            "CREATE TABLE IF NOT EXISTS {0} ("
            " name text PRIMARY KEY,"
            " aside_table text NOT NULL,"
            " position bigint NOT NULL,"
            " started_at timestamptz NOT NULL DEFAULT now(),"
            " updated_at timestamptz NOT NULL DEFAULT now())"
        ).format(Identifier(STATE_TABLE))
    ]


def rebuilds_in_progress(datastore: PostgresDatastore) -> dict[str, int]:
    """Each projection being rebuilt, and the position its rebuild has reached."""
    with datastore.get_connection() as conn:
        rows = conn.execute(
            SQL("SELECT name, position FROM {0}").format(Identifier(STATE_TABLE))
        ).fetchall()
    return {row["name"]: int(row["position"]) for row in rows}


class Rebuilder:
    def __init__(
        self,
        *,
        datastore: PostgresDatastore,
        conninfo: str,
        recorder: PostgresApplicationRecorder,
        target: Rebuildable,
        batch_size: int = BATCH_SIZE,
        report: Callable[[RebuildProgress], None] = lambda _: None,
        stop: threading.Event | None = None,
    ) -> None:
        self._datastore = datastore
        self._stop = stop or threading.Event()
        """Set (by a Ctrl-C handler) to stop at the end of the current batch."""
        self._conninfo = conninfo
        self._recorder = recorder
        self._target = target
        self._batch_size = batch_size
        self._report = report
        self.aside = f"{target.live_table}__rebuild"
        self._reader = CommitOrderedReader(recorder.events_table_name, datastore.schema)
        self._locked_seconds = 0.0
        """How long the last swap held the live table (lock asked, swap committed)."""

    def run(self, *, accept_changes: bool = False, restart: bool = False) -> RebuildOutcome:
        """Rebuilds and swaps; raises VerificationFailed (and swaps nothing) on a mismatch."""
        with psycopg.connect(self._conninfo, autocommit=True) as guard:
            key = f"rebuild:{self._target.name}"
            row = guard.execute("SELECT pg_try_advisory_lock(hashtext(%s)::bigint)", (key,))
            acquired = row.fetchone()
            if not (acquired and acquired[0]):
                raise RebuildBusy(f"a rebuild of {self._target.name} is already running")
            started = time.perf_counter()
            resumed_from = self._begin(restart=restart)
            position = self._build(resumed_from, started)
            try:
                position, differences = self._swap(position, accept_changes=accept_changes)
            except VerificationFailed:
                self._discard()  # what it built is suspect: the next run starts afresh
                raise
            finished = time.perf_counter()
        return RebuildOutcome(
            name=self._target.name,
            position=position,
            events=position - resumed_from,
            seconds=finished - started,
            swap_seconds=self._locked_seconds,
            resumed_from=resumed_from,
            differences=differences,
        )

    def _begin(self, *, restart: bool) -> int:
        """The position to continue from: a rebuild left unfinished, or a new one at 0."""
        with self._datastore.transaction(commit=True) as curs:
            state = curs.execute(
                SQL("SELECT position FROM {0} WHERE name = %s").format(Identifier(STATE_TABLE)),
                (self._target.name,),
            ).fetchone()
            exists = curs.execute("SELECT to_regclass(%s) IS NOT NULL AS found", (self.aside,))
            aside_exists = bool((exists.fetchone() or {}).get("found"))
            if state is not None and aside_exists and not restart:
                return int(state["position"])
            curs.execute(SQL("DROP TABLE IF EXISTS {0}").format(Identifier(self.aside)))
            for statement in self._target.create_statements(self.aside):
                curs.execute(statement)
            curs.execute(
                SQL(
                    "INSERT INTO {0} (name, aside_table, position) VALUES (%s, %s, 0) "
                    "ON CONFLICT (name) DO UPDATE SET position = 0, started_at = now(),"
                    " updated_at = now(), aside_table = EXCLUDED.aside_table"
                ).format(Identifier(STATE_TABLE)),
                (self._target.name, self.aside),
            )
        return 0

    def _discard(self) -> None:
        with self._datastore.transaction(commit=True) as curs:
            curs.execute(SQL("DROP TABLE IF EXISTS {0}").format(Identifier(self.aside)))
            curs.execute(
                SQL("DELETE FROM {0} WHERE name = %s").format(Identifier(STATE_TABLE)),
                (self._target.name,),
            )

    def _next_batch(self, position: int) -> Sequence[Notification]:
        """The settled events after `position`: never past one that may still commit."""
        with self._datastore.get_connection() as conn:
            return self._reader.settled_after(conn, position, self._batch_size)

    def _write(self, curs: Cursor[Any], notifications: Sequence[Notification]) -> int:
        self._target.write_batch(curs, self.aside, notifications)
        position = notifications[-1].id
        curs.execute(
            SQL("UPDATE {0} SET position = %s, updated_at = now() WHERE name = %s").format(
                Identifier(STATE_TABLE)
            ),
            (position, self._target.name),
        )
        return position

    def _build(self, position: int, started: float) -> int:
        """Replays batches until caught up with the head as it was a moment ago."""
        first = position
        with self._datastore.get_connection() as conn:
            head = self._reader.head(conn)
        self._report(RebuildProgress(self._target.name, position, head, 0, 0.0))
        while notifications := self._next_batch(position):
            self._check_stop()
            with self._datastore.transaction(commit=True) as curs:
                position = self._write(curs, notifications)
            head = max(head, position)
            self._report(
                RebuildProgress(
                    self._target.name,
                    position,
                    head,
                    position - first,
                    time.perf_counter() - started,
                )
            )
            if len(notifications) < self._batch_size:
                break
        return position

    def _check_stop(self) -> None:
        if self._stop.is_set():
            raise RebuildStopped(self._target.name)

    def _swap(self, position: int, *, accept_changes: bool) -> tuple[int, int]:
        """Verifies, then swaps; the live table is locked only for the swap itself."""
        self._check_stop()
        self._analyze()
        position, differences, samples = self._verify(position)
        if differences and not accept_changes:
            raise VerificationFailed(self._target.name, differences, samples)
        # What was appended while the comparison ran, applied before the lock is asked:
        # under it, only the last few events remain.
        position = self._catch_up(position)
        self._check_stop()  # the last moment to stop: the swap itself runs to its end
        for attempt in range(1, SWAP_ATTEMPTS + 1):
            try:
                return self._swap_locked(position), differences
            except psycopg.errors.LockNotAvailable:
                # Requests held the table: they waited at most SWAP_LOCK_WAIT behind
                # this attempt. Let them through, catch up, and try again.
                position = self._catch_up(position)
                time.sleep(0.05 * attempt)
        raise RebuildBusy(
            f"{self._target.name}: the live table stayed busy; nothing was swapped."
            " Run the same command again to resume."
        )

    def _analyze(self) -> None:
        """Gathers the rebuilt table's statistics before it goes live.

        A table filled by COPY has none until autovacuum comes by, up to a minute
        later; meanwhile the planner guesses one row per project, and a list page
        read and sorted all of a project's rows (1.5 ms for 1,000) instead of
        walking an index to its LIMIT (0.4 ms)."""
        with psycopg.connect(self._conninfo, autocommit=True) as conn:
            conn.execute(SQL("ANALYZE {0}").format(Identifier(self.aside)))

    def _catch_up(self, position: int) -> int:
        while notifications := self._next_batch(position):
            with self._datastore.transaction(commit=True) as curs:
                position = self._write(curs, notifications)
        return position

    def _verify(self, position: int) -> tuple[int, int, list[str]]:
        """Catches up, then compares the two tables in one snapshot: no lock, requests go on.

        In a REPEATABLE READ snapshot the inline read models reflect exactly the events
        it sees (they commit together). The events it sees that the rebuilt table lacks
        are applied to it first, so both tables stand at the same events when they are
        compared, however fast appends come. Those writes are then rolled back: they
        may lie beyond a gap that has not settled, and the rebuild's position must not
        pass over it (the catch-up and the swap apply them again)."""
        position = self._catch_up(position)
        with psycopg.connect(self._conninfo, row_factory=dict_row) as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            with conn.transaction(force_rollback=True), conn.cursor() as curs:
                seen = position
                while notifications := self._reader.visible_after(conn, seen, self._batch_size):
                    seen = self._write(curs, notifications)
                differences, samples = self._compare(curs)
        return position, differences, samples

    def _swap_locked(self, position: int) -> int:
        live = Identifier(self._target.live_table)
        aside = Identifier(self.aside)
        started = time.perf_counter()
        with self._datastore.transaction(commit=True) as curs:
            curs.execute(SQL("SET LOCAL lock_timeout = {0}").format(SWAP_LOCK_WAIT))
            curs.execute(SQL("LOCK TABLE {0} IN ACCESS EXCLUSIVE MODE").format(live))
            # Only what was appended since the verification: a handful of events,
            # applied by the code just verified on all the others.
            position = self._apply_locked(curs, position)
            curs.execute(SQL("DROP TABLE {0}").format(live))
            curs.execute(SQL("ALTER TABLE {0} RENAME TO {1}").format(aside, live))
            self._rename_indexes(curs)
            for statement in rename_counts(self.aside, self._target.live_table):
                curs.execute(statement)
            self._target.after_swap(curs, position)
            curs.execute(
                SQL("DELETE FROM {0} WHERE name = %s").format(Identifier(STATE_TABLE)),
                (self._target.name,),
            )
        self._locked_seconds = time.perf_counter() - started
        return position

    def _apply_locked(self, curs: Cursor[Any], position: int) -> int:
        """Applies the events after `position` while the live table is locked.

        An inline read model takes every committed event: no append can commit to the
        live table now, and those still running write to the table that goes live. An
        asynchronous one takes the settled events only; its runner goes on from there."""
        conn = curs.connection
        inline = self._target.live_position(curs) is None
        while True:
            if inline:
                notifications = self._reader.visible_after(conn, position, self._batch_size)
            else:
                notifications = self._reader.read(conn, position, self._batch_size).notifications
            if not notifications:
                return position
            position = self._write(curs, notifications)

    def _compare(self, curs: Cursor[Any]) -> tuple[int, list[str]]:
        """Rows that differ between the rebuilt and the live table, and a few of their keys.

        Only the columns both tables have are compared: a new projection version may
        add columns, which the live table cannot have."""
        live_columns = {
            row["column_name"]
            for row in curs.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name = %s",
                (self._target.live_table,),
            ).fetchall()
        }
        common = [column for column in self._target.columns if column in live_columns]
        columns = SQL(", ").join(map(Identifier, common))
        keys = self._target.columns[: self._target.key_columns]
        # An asynchronous read model may lag: compare what it has had time to see.
        live_position = self._target.live_position(curs)
        within = (
            SQL("TRUE")
            if live_position is None
            else SQL("{0} <= {1}").format(Identifier(keys[0]), live_position)
        )
        differing = SQL(
            "(SELECT {columns} FROM {aside} WHERE {within}"
            " EXCEPT ALL SELECT {columns} FROM {live} WHERE {within})"
            " UNION ALL "
            "(SELECT {columns} FROM {live} WHERE {within}"
            " EXCEPT ALL SELECT {columns} FROM {aside} WHERE {within})"
        ).format(
            columns=columns,
            aside=Identifier(self.aside),
            live=Identifier(self._target.live_table),
            within=within,
        )
        row = curs.execute(SQL("SELECT count(*) AS n FROM ({0}) d").format(differing)).fetchone()
        count = int(row["n"]) if row else 0
        if not count:
            return 0, []
        found = curs.execute(
            SQL("SELECT DISTINCT {keys} FROM ({0}) d ORDER BY {keys} LIMIT 10").format(
                differing, keys=SQL(", ").join(map(Identifier, keys))
            )
        ).fetchall()
        samples = ["/".join(str(value) for value in sample.values()) for sample in found]
        return count, samples

    def _rename_indexes(self, curs: Cursor[Any]) -> None:
        indexes = curs.execute(
            "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
            " AND tablename = %s",
            (self._target.live_table,),
        ).fetchall()
        for index in indexes:
            old = index["indexname"]
            if old.startswith(self.aside):
                new = self._target.live_table + old[len(self.aside) :]
                curs.execute(
                    SQL("ALTER INDEX {0} RENAME TO {1}").format(Identifier(old), Identifier(new))
                )
