"""Reads from a read replica, and read-your-writes with a Session-Token.

The edge marks a request whose reads may go to the replica (`replica_reads`): GET
one, lists, history, time travel, activity, the event feed and the stream's
backlog. Everything else reads the primary: a write's own reads, the feed's hub.

A background task watches the replica (`ReplicaWatch`): every `WATCH_INTERVAL` it
reads the primary's WAL position and how far the replica has replayed. The replica
serves a marked read when it is reachable and at most `max_lag` seconds behind, and,
when the request carries a Session-Token (the primary's WAL position read after a
write committed), once it has replayed that far: up to `wait` seconds are spent
waiting for that, then the read goes to the primary. A replica that cannot be
reached costs a read one failed attempt at most; it is tried again in the
background.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import deque
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from psycopg.sql import Composed
from psycopg_pool import AsyncConnectionPool

logger = logging.getLogger(__name__)

WATCH_INTERVAL = 0.1
"""Seconds between the watch's looks at the primary and the replica."""
TOKEN_POLL_FIRST = 0.001
TOKEN_POLL_MAX = 0.02
"""While a read waits for the replica to replay its Session-Token, it asks again after
TOKEN_POLL_FIRST seconds, then twice as long each time, up to TOKEN_POLL_MAX."""
KEPT_SAMPLES = 600
"""The primary's positions remembered for the lag (a minute at WATCH_INTERVAL)."""

_LSN = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")


class InvalidSessionToken(ValueError):
    """A Session-Token this service did not hand out."""


def parse_token(text: str) -> int:
    """A Session-Token (a WAL position, `16/B374D848`) as a number."""
    found = _LSN.match(text.strip())
    if found is None:
        raise InvalidSessionToken(
            "Session-Token must be one that a write answered, such as 0/16B3748"
        )
    return (int(found[1], 16) << 32) + int(found[2], 16)


def format_token(position: int) -> str:
    return f"{position >> 32:X}/{position & 0xFFFFFFFF:X}"


@dataclass(frozen=True)
class ReplicaRead:
    """A request whose reads the replica may serve; `token`: what it must have replayed."""

    token: int | None = None


replica_reads: ContextVar[ReplicaRead | None] = ContextVar("replica_reads", default=None)
"""Set by the edge for the requests whose reads may go to the replica."""


@dataclass(frozen=True)
class ReplicaState:
    """What /ready says of the replica."""

    reachable: bool
    lag_seconds: float | None
    detail: str


class ReplicaWatch:
    """Follows how far the replica is behind the primary, and picks it for reads."""

    def __init__(self, replica: AsyncConnectionPool[Any], *, max_lag: float, wait: float) -> None:
        self.pool = replica
        self._max_lag = max_lag
        self._wait = wait
        self._samples: deque[tuple[float, int]] = deque(maxlen=KEPT_SAMPLES)
        """(when, the primary's WAL position then), oldest first."""
        self._replayed: int | None = None
        self._error: str | None = "not looked at yet"

    # What the watch sees

    def primary_at(self, position: int, now: float | None = None) -> None:
        self._samples.append((time.monotonic() if now is None else now, position))

    def replica_at(self, replayed: int | None) -> None:
        if replayed is None:
            self.unreachable("it is not a replica (not in recovery)")
            return
        if self._error is not None:
            logger.info("the replica answers again: reads go to it")
        self._replayed, self._error = replayed, None

    def unreachable(self, error: str) -> None:
        if self._error is None:
            logger.warning("the replica cannot be used (%s): reads go to the primary", error)
        self._error = error

    def lag(self, now: float | None = None) -> float | None:
        """Seconds the replica is behind: since the primary first held a position the
        replica has not replayed (0 when it has replayed all the watch has seen)."""
        if self._error is not None or self._replayed is None:
            return None
        now = time.monotonic() if now is None else now
        for when, position in self._samples:
            if position > self._replayed:
                return max(0.0, now - when)
        return 0.0

    def state(self) -> ReplicaState:
        lag = self.lag()
        if lag is None:
            return ReplicaState(False, None, f"{self._error}; reads go to the primary")
        if lag > self._max_lag:
            detail = f"{lag:.1f} s behind (bound {self._max_lag:g} s); reads go to the primary"
            return ReplicaState(True, lag, detail)
        return ReplicaState(True, lag, f"{lag:.1f} s behind; serves reads")

    # Choosing

    async def serves(self, read: ReplicaRead) -> bool:
        """Whether the replica serves this read (waiting up to `wait` for its token)."""
        lag = self.lag()
        if lag is None or lag > self._max_lag:
            return False
        token = read.token
        if token is None or (self._replayed is not None and self._replayed >= token):
            return True
        # Ask at once (the watch's last look may be 100 ms old; replay takes a
        # millisecond or two), then ever less often until `wait` is up.
        deadline = time.monotonic() + self._wait
        pause = TOKEN_POLL_FIRST
        while True:
            try:
                replayed = await self.replayed()
            except Exception as error:  # any failure: the primary serves the read
                self.unreachable(str(error)[:200])
                return False
            self.replica_at(replayed)
            if replayed is not None and replayed >= token:
                return True
            if time.monotonic() + pause > deadline:
                return False
            await asyncio.sleep(pause)
            pause = min(pause * 2, TOKEN_POLL_MAX)

    async def rows_once_at(
        self, head: bytes | Composed, needed: int, query: bytes | Composed, params: Any
    ) -> list[Any] | None:
        """`query`'s rows once `head` (a position, as `head`) reaches `needed` on the
        replica, asked on the same connection just before, so the query's later
        snapshot holds every position up to it too; None when it has not within
        `wait`."""
        deadline = time.monotonic() + self._wait
        pause = TOKEN_POLL_FIRST
        async with self.pool.connection() as conn:
            while True:
                cursor = await conn.execute(head)
                row = await cursor.fetchone()
                if row is not None and int(row["head"]) >= needed:
                    cursor = await conn.execute(query, params)
                    rows: list[Any] = await cursor.fetchall()
                    return rows
                if time.monotonic() + pause > deadline:
                    return None
                await asyncio.sleep(pause)
                pause = min(pause * 2, TOKEN_POLL_MAX)

    async def replayed(self) -> int | None:
        async with self.pool.connection(timeout=0.5) as conn:
            cursor = await conn.execute(
                "SELECT pg_last_wal_replay_lsn() - '0/0'::pg_lsn AS replayed"
            )
            row = await cursor.fetchone()
        value = None if row is None else row["replayed"]
        return None if value is None else int(value)
