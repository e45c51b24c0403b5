"""A stream whose backlog cannot be read: its 200 has gone, so it ends with a comment
that says why, and the client resumes with Last-Event-ID; nothing escapes to the
server as an error."""

from __future__ import annotations

import asyncio
import contextlib
from typing import cast

from litestar.types import Scope

from api.http.controllers.events import RETRY_MILLISECONDS, UNAVAILABLE_COMMENT, Frames, _sse
from application.errors import DatabaseUnavailable
from application.feed import EventFeed, FeedFilter, FeedHub
from projections.activity import ActivityEntry

SCOPE = cast(Scope, {"type": "http"})
"""A request's scope without a server's extras (no body writer, no aborter)."""


class UnreachableFeed:
    """FeedReads whose head is known but whose pages find no connection."""

    async def page(
        self, project_id: int, where: FeedFilter, after: int, limit: int, upto: int | None
    ) -> list[ActivityEntry]:
        raise DatabaseUnavailable("no database connection within the pool's wait")

    async def since(self, after: int, limit: int) -> list[tuple[int, ActivityEntry]]:
        return []

    async def head(self) -> int:
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
        sent = [frame async for frame in _sse(feed, Frames(), 1, FeedFilter(), 0, SCOPE)]
        assert feed.open_streams == 0
        return sent
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
