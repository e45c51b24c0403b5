"""Runs asynchronous projections: one active runner per projection, others on standby.

A runner holds a PostgreSQL advisory lock while it processes; others wait for
it and take over when it dies (its session ends, so the lock goes). It reads
events in batches after its tracked position and sleeps on LISTEN/NOTIFY when
caught up, so new events reach the feed well within a second. It reads through the
commit-ordered reader: an append that commits after a later one is never passed over.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

from adapters.read_models.activity import UPSTREAM, ActivityProjection, ActivityView
from adapters.read_models.reader import CommitOrderedReader

logger = logging.getLogger(__name__)

BATCH_SIZE = 500
GATHER_SECONDS = 0.03
"""While appends come, how long the runner lets them gather into one batch (the feed
then trails the store by about this much; each batch costs the runner about a
millisecond of its own, whatever its size). A gap waiting to settle is read again
sooner (`SETTLE_POLL`), whether or not the batch before it carried events."""
SETTLE_POLL = 0.02
"""While a gap in the positions waits to settle, how often the runner reads again."""


def runner_lock_key(table: str) -> str:
    return f"projection:{table}"


def runner_is_active(session: psycopg.Connection[Any], table: str) -> bool:
    """Whether some runner holds the projection's lock (asked without keeping it)."""
    key = runner_lock_key(table)
    cursor = session.execute("SELECT pg_try_advisory_lock(hashtext(%s)::bigint) AS locked", (key,))
    row = cursor.fetchone()
    locked = (row["locked"] if isinstance(row, dict) else row[0]) if row is not None else False
    if locked:
        session.execute("SELECT pg_advisory_unlock(hashtext(%s)::bigint)", (key,))
        return False
    return True


class ActivityRunner:
    def __init__(
        self,
        *,
        connect: Callable[[], psycopg.Connection[tuple[Any, ...]]],
        recorder: PostgresApplicationRecorder,
        view: ActivityView,
        projection: ActivityProjection,
        batch_size: int = BATCH_SIZE,
        standby_poll_seconds: float = 1.0,
    ) -> None:
        self._connect = connect
        self._recorder = recorder
        self._reader = CommitOrderedReader(recorder.events_table_name, recorder.datastore.schema)
        self._held = False
        """Whether the last read stopped at a gap that had not settled."""
        self._view = view
        self._projection = projection
        self._batch_size = batch_size
        self._standby_poll = standby_poll_seconds
        self.is_active = threading.Event()
        """Set while this runner holds the lock and processes."""
        self._position: int | None = None
        """The position of the last batch this runner committed, while it holds the lock."""

    @property
    def lock_key(self) -> str:
        return runner_lock_key(self._view.activity_table)

    def run(self, stop: threading.Event) -> None:
        """Processes until `stop` is set; waits on standby while another runner is active."""
        unreachable = False
        while not stop.is_set():
            try:
                with self._connect() as session:
                    session.autocommit = True
                    if unreachable:
                        logger.warning("the runner reached the database again")
                        unreachable = False
                    if not self._try_lock(session):
                        logger.info("another runner holds %s; standing by", self.lock_key)
                        stop.wait(self._standby_poll)
                        continue
                    logger.info("holding %s; processing", self.lock_key)
                    self.is_active.set()
                    try:
                        self._process(session, stop)
                    finally:
                        self.is_active.clear()
            except psycopg.OperationalError as error:
                if not _lost(error):
                    logger.exception("the runner stopped processing; starting again in a moment")
                # The database away (a restart, a failover): said once, not with a
                # traceback every second until it is back.
                elif not unreachable:
                    logger.warning(
                        "the runner cannot reach the database; trying again every %s s: %s",
                        self._standby_poll,
                        (str(error).strip().splitlines() or [type(error).__name__])[0],
                    )
                    unreachable = True
                stop.wait(self._standby_poll)
            except Exception:  # any other failure (a bug in a batch): go on
                logger.exception("the runner stopped processing; starting again in a moment")
                stop.wait(self._standby_poll)

    def _try_lock(self, session: psycopg.Connection[tuple[Any, ...]]) -> bool:
        row = session.execute(
            "SELECT pg_try_advisory_lock(hashtext(%s)::bigint)", (self.lock_key,)
        ).fetchone()
        return bool(row and row[0])

    def _process(self, session: psycopg.Connection[tuple[Any, ...]], stop: threading.Event) -> None:
        """Projects batch after batch on the session that holds the lock, so that no
        batch is written once the lock is gone (its session is the writer's).

        Behind, it reads the next batch at once; busy, it reads again after a moment,
        so appends gather into batches; waiting for a gap in the positions to settle,
        it reads again after `SETTLE_POLL`; caught up, it listens for the wake-up that
        processes send after their commits (adapters/wakeup.py). It does not listen
        while busy: it reads again soon anyway."""
        self._position = None
        listening = False
        while not stop.is_set():
            try:
                processed = self.process_batch(session)
            except psycopg.IntegrityError:
                # Our position moved under us (a rebuild swapped the feed in, or
                # another runner got there first): read it again and go on.
                logger.info("tracking position moved; continuing from the new one")
                self._position = None
                continue
            if processed >= self._batch_size:
                continue
            if processed or self._held:
                # Busy, or waiting for a gap to settle (a commit under way, usually a
                # matter of milliseconds): read again in a moment.
                if listening:
                    session.execute(SQL("UNLISTEN {0}").format(self._channel))
                    listening = False
                stop.wait(SETTLE_POLL if self._held else GATHER_SECONDS)
            elif not listening:
                # Listen, then read once more: an append that committed between the
                # last read and LISTEN is read now rather than missed.
                session.execute(SQL("LISTEN {0}").format(self._channel))
                listening = True
            else:
                self._wait_for_appends(session, stop)

    @property
    def _channel(self) -> Identifier:
        return Identifier(self._recorder.channel_name)

    def _wait_for_appends(
        self, session: psycopg.Connection[tuple[Any, ...]], stop: threading.Event
    ) -> None:
        """Sleeps until a wake-up comes, then a moment more, so that appends after a
        quiet spell are projected in a batch rather than one event per wake-up. A
        second without one proves the session, and so the lock, still lives (and the
        batch after it reads whatever a lost wake-up announced)."""
        notified = False
        for _ in session.notifies(timeout=1.0, stop_after=1):
            notified = True
        if not notified:
            session.execute("SELECT 1")
            return
        stop.wait(GATHER_SECONDS)
        for _ in session.notifies(timeout=0, stop_after=10_000):
            pass  # those appends are read with the batch

    def process_batch(self, session: psycopg.Connection[tuple[Any, ...]] | None = None) -> int:
        """Projects the next batch after the tracked position; returns its size.

        On `session` (a session of its own when not given): the batch is read with
        one statement, and its rows and tracking record written in one transaction."""
        if session is None:
            with self._connect() as own:
                own.autocommit = True
                return self.process_batch(own)
        position = self._position
        if position is None:
            position = self._view.tracked_position(session, UPSTREAM)
        batch = self._reader.read(session, position, self._batch_size)
        self._held = batch.held
        notifications = batch.notifications
        if not notifications:
            return 0
        started = time.perf_counter()
        try:
            rows = self._projection.rows(notifications)
            with session.transaction():
                self._view.write(session, rows, Tracking(UPSTREAM, notifications[-1].id))
        except Exception:
            self._projection.states.forget()
            self._position = None
            raise
        # The tracking record committed with the rows: this is where the next batch
        # starts (read again from the table only after a failure or a move).
        self._position = notifications[-1].id
        logger.debug(
            "projected %s events up to %s in %.1f ms",
            len(notifications),
            notifications[-1].id,
            (time.perf_counter() - started) * 1000,
        )
        return len(notifications)


QUERY_CANCELED = "57014"


def _lost(error: psycopg.OperationalError) -> bool:
    """Whether an error says the database went away (no connection, or one cut by a
    shutdown), not that a statement failed on it (a timeout, a lock)."""
    state = error.sqlstate
    if state == QUERY_CANCELED:  # class 57 too, but a statement's timeout
        return False
    return state is None or state.startswith(("08", "57"))
