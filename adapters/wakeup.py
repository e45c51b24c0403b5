"""Wake-ups for the consumers of the event sequence, sent after appends commit.

An append sends no NOTIFY inside its transaction (that would serialise every
commit on the server's notification queue). Instead each process, after its own
commits, sends at most one NOTIFY per `WAKE_INTERVAL`, on a pooled connection of
its own: a consumer that listens wakes within a few milliseconds of a commit,
and a thousand appends a second cost a couple of hundred tiny notifications.
Consumers also read once a second without one, so a lost wake-up only delays.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import Any

import psycopg
from psycopg.sql import Composed
from psycopg_pool import AsyncConnectionPool

logger = logging.getLogger(__name__)

WAKE_INTERVAL = 0.005
"""Seconds between a commit and the NOTIFY that announces it (and any others since)."""


class Wakeup:
    def __init__(
        self,
        pool: AsyncConnectionPool[Any],
        notify: Composed,
        interval: float = WAKE_INTERVAL,
    ) -> None:
        self._pool = pool
        self._notify = notify
        self._interval = interval
        self._due: asyncio.TimerHandle | None = None
        self._sending: set[asyncio.Task[None]] = set()

    def commit_seen(self) -> None:
        """Called after an append commits: a NOTIFY follows within the interval."""
        if self._due is None:
            # In a context of its own: the NOTIFY belongs to no request (nor its trace).
            self._due = asyncio.get_running_loop().call_later(
                self._interval, self._send, context=contextvars.Context()
            )

    def _send(self) -> None:
        self._due = None  # commits from now on are announced by the next NOTIFY
        task = asyncio.get_running_loop().create_task(
            self._notify_now(), context=contextvars.Context()
        )
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _notify_now(self) -> None:
        try:
            async with self._pool.connection(timeout=1.0) as conn:
                await conn.execute(self._notify)
        except (psycopg.Error, TimeoutError, OSError) as error:
            # Consumers read at least once a second anyway: the events are only later.
            logger.warning("could not send the wake-up NOTIFY: %s", error)

    async def close(self) -> None:
        """Sends what is due now, and waits for the NOTIFYs under way."""
        if self._due is not None:
            self._due.cancel()
            self._send()
        if self._sending:
            await asyncio.gather(*self._sending, return_exceptions=True)
