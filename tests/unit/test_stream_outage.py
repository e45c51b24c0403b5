"""A stream whose backlog cannot be read: its 200 has gone, so it ends with a comment
that says why, and the client resumes with Last-Event-ID; nothing escapes to the
server as an error. An export that cannot read the head fails before its answer
starts: a 503, not a 200 cut short; one that loses the database on the way has its
connection cut, never its response ended as if complete."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import cast

import pytest
from litestar.types import Scope

from api.http.connections import ABORT
from api.http.controllers.events import (
    RETRY_MILLISECONDS,
    UNAVAILABLE_COMMENT,
    Frames,
    _ndjson,
    _sse,
)
from application.errors import DatabaseUnavailable
from application.feed import EventFeed, FeedFilter, FeedHub
from projections.activity import ActivityEntry
from tests.unit.test_feed_hub import entry

SCOPE = cast(Scope, {"type": "http"})
"""A request's scope without a server's extras (no body writer, no aborter)."""


class UnreachableFeed:
    """FeedReads whose head is known but whose pages find no connection (nor, with
    `head_fails`, the head)."""

    head_fails = False

    async def page(
        self, project_id: int, where: FeedFilter, after: int, limit: int, upto: int | None
    ) -> list[ActivityEntry]:
        raise DatabaseUnavailable("no database connection within the pool's wait")

    async def since(self, after: int, limit: int) -> list[tuple[int, ActivityEntry]]:
        return []

    async def head(self) -> int:
        if self.head_fails:
            raise DatabaseUnavailable("no database connection within the pool's wait")
        return 0


def test_a_stream_whose_backlog_cannot_be_read_ends_saying_so() -> None:
    frames = asyncio.run(stream_without_backlog())
    assert frames == [b"retry: %d\n\n" % RETRY_MILLISECONDS, UNAVAILABLE_COMMENT]


async def stream_without_backlog() -> list[bytes]:
    reads = UnreachableFeed()
    hub = FeedHub(reads, poll_seconds=0.01, idle_poll_seconds=0.01)
    feed = EventFeed(reads, hub, max_streams=10, heartbeat=5.0)
    running = asyncio.create_task(hub.run())
    try:
        sent = [
            frame async for frame in _sse(feed, feed.admit(), Frames(), 1, FeedFilter(), 0, SCOPE)
        ]
        assert feed.open_streams == 0
        return sent
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


def test_an_export_that_cannot_read_the_head_fails_before_it_starts() -> None:
    reads = UnreachableFeed()
    reads.head_fails = True
    feed = EventFeed(reads, FeedHub(reads), max_streams=10, heartbeat=5.0)
    # Raised by the call the handler awaits, before it returns the streamed answer
    # (api.http.errors answers DatabaseUnavailable 503).
    with pytest.raises(DatabaseUnavailable):
        asyncio.run(feed.export(1, FeedFilter(), 0, None))


def test_an_export_that_loses_the_database_on_the_way_is_cut_not_ended() -> None:
    aborted: list[bool] = []
    scope = cast(Scope, {"type": "http", "state": {ABORT: lambda: aborted.append(True)}})

    async def pages() -> AsyncIterator[list[ActivityEntry]]:
        yield [entry(1), entry(2)]
        raise DatabaseUnavailable("the connection was lost")

    async def sent() -> list[bytes]:
        return [chunk async for chunk in _ndjson(pages(), scope)]

    chunks = asyncio.run(sent())
    assert [json.loads(line)["position"] for line in b"".join(chunks).splitlines()] == [1, 2]
    assert aborted == [True]
