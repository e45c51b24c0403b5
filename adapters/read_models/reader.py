"""The commit-ordered reader: every consumer's way to read "the events after position P".

Appends take no lock: two appends commit in whatever order their transactions
end, so a position (the event's `notification_id`, drawn from a sequence when the
row is inserted) can become visible after a higher one. A reader that simply took
"everything after the last position I saw" would pass over such an event for ever.

This reader delivers events in position order and stops at the first *gap* (a
position missing below one it can see) until the gap is *settled*: filled by its
commit, or known to stay empty (a rolled-back append, a conflict, an insert that
failed). Every position below a visible one was drawn before that one committed,
by a transaction that already held an id (the append function takes its id before
it inserts). When the reader first meets a gap it takes a transaction id of its
own: ids are handed out in order, so every transaction that may hold a missing
position is older. Once a later snapshot's `xmin` (its oldest running transaction)
has reached that id, all of them have ended, and a position still missing never
appears. One statement per read returns the rows and its snapshot's `xmin`.

(A snapshot's `xmax` would not do: it is one past the newest *completed*
transaction, and a running one can be newer still. The law test found that.)

The trade-off: a writing transaction that stays open holds every reader back at
the first gap after it began (any transaction with an id on the server, not only
ours). `oldest_writer` names it, for `projections status` and `/ready`.

Positions are the event's sequence number, so they stay what they were before
appends ran without a lock, and every reader sees one order.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
from eventsourcing.persistence import Notification
from psycopg.rows import TupleRow
from psycopg.sql import SQL, Composed, Identifier

from projections.status import Writer

SETTLE_WAIT = 1.0
"""How long a one-off read (`settled_after`) waits for a gap to settle before it
answers with the events below the gap."""


@dataclass(frozen=True)
class Horizon:
    """A gap seen below position `below`: every position still missing below `below` is
    settled once no transaction older than `xid` runs (a snapshot's `xmin` reaches it)."""

    below: int
    xid: int


@dataclass(frozen=True)
class Batch:
    notifications: list[Notification]
    held: bool
    """Whether the read stopped at a gap that has not settled (more is visible)."""


class CommitOrder:
    """Which of the positions one snapshot shows may be delivered: a pure function of
    the positions, the snapshot's horizon, and the gap this reader last saw."""

    def __init__(self) -> None:
        self.pending: Horizon | None = None

    def settled(self, after: int, positions: Sequence[int], xmin: int) -> tuple[int, bool]:
        """How many of `positions` (ascending, all above `after`, as one snapshot whose
        oldest running transaction is `xmin` shows them) can be delivered without
        passing over an event that may still commit; and whether the gap they stop at
        needs a new horizon (`wait_for`) before it can settle."""
        expected = after + 1
        for count, position in enumerate(positions):
            if position != expected and not self._gap_settled(position, xmin):
                pending = self.pending
                return count, pending is None or position > pending.below
            expected = position + 1
        return len(positions), False

    def wait_for(self, below: int, xid: int) -> None:
        """The positions missing below `below` settle once no transaction older than
        `xid` runs: `xid` was assigned after the snapshot that saw them missing, so
        every transaction that could hold one of them is older."""
        self.pending = Horizon(below=below, xid=xid)

    def _gap_settled(self, position: int, xmin: int) -> bool:
        """Whether the positions missing just below `position` can no longer appear."""
        pending = self.pending
        return pending is not None and position <= pending.below and xmin >= pending.xid


NEW_XID = "SELECT pg_current_xact_id()::text::bigint AS xid"
"""A transaction id assigned now: later than every one assigned before (the horizon a
gap waits for). The statement's own transaction ends at once (autocommit) and writes
no WAL, so its commit waits for no flush."""


def _xid(row: Any) -> int:
    value = row["xid"] if isinstance(row, dict) else row[0]
    return int(value)


def _notification(row: Sequence[Any]) -> Notification:
    return Notification(
        id=row[0],
        originator_id=row[1] if isinstance(row[1], UUID) else UUID(str(row[1])),
        originator_version=row[2],
        topic=row[3],
        state=bytes(row[4]),
    )


class CommitOrderedReader:
    """Reads an events table in position order without passing over a late commit.

    Keeps the last gap it saw, so a reader that polls (the runner, a feed) settles a
    gap on its next read without waiting; a one-off read waits for it briefly."""

    def __init__(self, events_table: str, schema: str = "public") -> None:
        table = SQL("{0}.{1}").format(Identifier(schema), Identifier(events_table))
        self._order = CommitOrder()
        self._read = self._statement(table, stop=False)
        self._read_to = self._statement(table, stop=True)
        self._head = SQL("SELECT max(notification_id) FROM {0}").format(table)

    @staticmethod
    def _statement(table: Composed, *, stop: bool) -> Composed:
        return SQL(
            "SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, e.state,"
            " h.xmin FROM (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint"
            " AS xmin) h"
            " LEFT JOIN LATERAL (SELECT * FROM {table} WHERE notification_id > %s {stop}"
            " ORDER BY notification_id LIMIT %s) e ON true ORDER BY e.notification_id"
        ).format(table=table, stop=SQL("AND notification_id <= %s" if stop else ""))

    def _rows(
        self, conn: psycopg.Connection[Any], after: int, limit: int, stop: int | None
    ) -> tuple[list[TupleRow], int]:
        with conn.cursor(row_factory=psycopg.rows.tuple_row) as curs:
            if stop is None:
                curs.execute(self._read, (after, limit), prepare=True)
            else:
                curs.execute(self._read_to, (after, stop, limit), prepare=True)
            rows = curs.fetchall()
        return [row for row in rows if row[0] is not None], int(rows[0][5])

    def read(
        self, conn: psycopg.Connection[Any], after: int, limit: int, *, stop: int | None = None
    ) -> Batch:
        """The settled events after `after` (at most `limit`, none above `stop`), on an
        autocommit connection."""
        rows, xmin = self._rows(conn, after, limit, stop)
        count, needs_horizon = self._order.settled(after, [row[0] for row in rows], xmin)
        if needs_horizon:
            self._order.wait_for(rows[-1][0], _xid(conn.execute(NEW_XID).fetchone()))
        return Batch([_notification(row) for row in rows[:count]], held=count < len(rows))

    async def read_async(self, conn: psycopg.AsyncConnection[Any], after: int, limit: int) -> Batch:
        """`read`, on an asynchronous autocommit connection."""
        async with conn.cursor(row_factory=psycopg.rows.tuple_row) as curs:
            await curs.execute(self._read, (after, limit), prepare=True)
            found = await curs.fetchall()
            xmin = int(found[0][5])
            rows = [row for row in found if row[0] is not None]
            count, needs_horizon = self._order.settled(after, [row[0] for row in rows], xmin)
            if needs_horizon:
                await curs.execute(NEW_XID)
                self._order.wait_for(rows[-1][0], _xid(await curs.fetchone()))
        return Batch([_notification(row) for row in rows[:count]], held=count < len(rows))

    def settled_after(
        self,
        conn: psycopg.Connection[Any],
        after: int,
        limit: int,
        *,
        stop: int | None = None,
        wait: float = SETTLE_WAIT,
    ) -> list[Notification]:
        """`read`, waiting up to `wait` seconds for a gap to settle (appends are single
        statements: a gap usually settles within milliseconds)."""
        deadline = time.monotonic() + wait
        pause = 0.001
        while True:
            batch = self.read(conn, after, limit, stop=stop)
            if not batch.held or time.monotonic() >= deadline:
                return batch.notifications
            if batch.notifications:
                return batch.notifications  # progress: the caller reads on from there
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def visible_after(
        self, conn: psycopg.Connection[Any], after: int, limit: int, *, stop: int | None = None
    ) -> list[Notification]:
        """Every event the connection's snapshot shows after `after`, gaps or not.

        Only for a reader that works inside one snapshot and keeps no position past
        it: a rebuild comparing tables in a REPEATABLE READ transaction, or swapping
        them while no append can commit to the table it rebuilds."""
        rows, _ = self._rows(conn, after, limit, stop)
        return [_notification(row) for row in rows]

    def head(self, conn: psycopg.Connection[Any]) -> int:
        """The highest position the connection's snapshot shows (0: none)."""
        row = conn.execute(self._head).fetchone()
        value = None if row is None else (row["max"] if isinstance(row, dict) else row[0])
        return int(value or 0)


def oldest_writer(conn: psycopg.Connection[Any]) -> Writer | None:
    """The server's oldest running transaction that holds a transaction id: the one a
    gap may be waiting for."""
    row = conn.execute(
        "SELECT pid, extract(epoch FROM now() - xact_start)::float8, datname, state"
        " FROM pg_stat_activity WHERE backend_xid IS NOT NULL"
        " ORDER BY age(backend_xid) DESC LIMIT 1"
    ).fetchone()
    if row is None:
        return None
    values = list(row.values()) if isinstance(row, dict) else list(row)
    return Writer(
        pid=int(values[0]), age_seconds=float(values[1] or 0.0), database=values[2], state=values[3]
    )
