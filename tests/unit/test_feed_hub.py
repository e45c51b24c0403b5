"""The feed hub's law without a database: a held request or a stream that subscribes
while the hub is between reads gets every later event of its project, exactly once,
whatever the hub was awaiting at that moment."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import UTC, datetime

from application.feed import EventFeed, FeedFilter, FeedHub, held_page
from projections.activity import ActivityEntry

PROJECT = 1
WAIT = 5.0


def entry(position: int) -> ActivityEntry:
    return ActivityEntry(
        id=position,
        resource_id=1,
        version=position,
        type="Renamed",
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        actor="someone",
        key_id=None,
        request_id=None,
        changes={},
    )


class MemoryFeed:
    """FeedReads over a list; `head` can be held at the point where it has read the
    newest position but not yet answered, as a slow database would hold it."""

    def __init__(self) -> None:
        self.entries: list[ActivityEntry] = []
        self.hold_head: asyncio.Event | None = None
        self.head_read = asyncio.Event()
        self.hold_page: asyncio.Event | None = None
        self.page_read = asyncio.Event()

    async def page(
        self, project_id: int, where: FeedFilter, after: int, limit: int, upto: int | None
    ) -> list[ActivityEntry]:
        found = [e for e in self.entries if e.id > after and (upto is None or e.id <= upto)]
        if self.hold_page is not None:
            self.page_read.set()
            await self.hold_page.wait()
        return found[:limit]

    async def since(self, after: int, limit: int) -> list[tuple[int, ActivityEntry]]:
        return [(PROJECT, e) for e in self.entries if e.id > after][:limit]

    async def head(self) -> int:
        newest = self.entries[-1].id if self.entries else 0
        if self.hold_head is not None:
            self.head_read.set()
            await self.hold_head.wait()
        return newest


def test_a_request_held_while_the_hub_reads_the_head_misses_nothing() -> None:
    asyncio.run(held_while_the_head_is_read())


async def held_while_the_head_is_read() -> None:
    reads = MemoryFeed()
    reads.entries = [entry(1), entry(2)]
    hub = FeedHub(reads, poll_seconds=0.01, idle_poll_seconds=0.01)
    running = asyncio.create_task(hub.run())
    try:
        assert await hub.known_head() == 2
        # The hub, idle, reads the head: it sees 3 and 4 committed, and is held there.
        reads.hold_head = asyncio.Event()
        reads.head_read.clear()
        reads.entries += [entry(3), entry(4)]
        await reads.head_read.wait()
        # A held request that has read up to the hub's head (2) finds nothing there...
        waiting = asyncio.create_task(
            held_page(reads, hub, PROJECT, FeedFilter(), after=2, limit=10, wait=WAIT)
        )
        await asyncio.sleep(0.05)
        # ... so it subscribes at 2; then the hub's read of the head answers 4.
        reads.hold_head.set()
        reads.hold_head = None
        entries, _ = await asyncio.wait_for(waiting, WAIT)
        assert [e.id for e in entries] == [3, 4]
    finally:
        running.cancel()


def test_a_stream_whose_backlog_read_the_hub_overtook_gets_every_event_once() -> None:
    asyncio.run(overtaken_while_reading_the_backlog())


async def overtaken_while_reading_the_backlog() -> None:
    reads = MemoryFeed()
    reads.entries = [entry(1), entry(2), entry(3)]
    hub = FeedHub(reads, poll_seconds=0.01, idle_poll_seconds=0.01)
    feed = EventFeed(reads, hub, max_streams=10, heartbeat=WAIT)
    running = asyncio.create_task(hub.run())
    other = hub.subscribe(PROJECT, FeedFilter(), 3)  # keeps the hub reading as events come
    try:
        assert await hub.known_head() == 3
        # The stream's backlog read (up to 3) is held while 4 and 5 commit and the hub
        # reads them, for its subscribers of the moment.
        reads.hold_page = asyncio.Event()
        stream = feed.stream(PROJECT, FeedFilter(), after=0)

        async def first_page() -> list[ActivityEntry]:
            return await anext(stream)

        first = asyncio.create_task(first_page())
        await reads.page_read.wait()
        reads.entries += [entry(4), entry(5)]
        assert [e.id for e in await other.next_batch(WAIT)] == [4, 5]
        reads.hold_page.set()
        reads.hold_page = None
        received = [e.id for e in await first]
        while received[-1] < 5:
            received += [e.id for e in await asyncio.wait_for(anext(stream), WAIT)]
        reads.entries.append(entry(6))
        received += [e.id for e in await asyncio.wait_for(anext(stream), WAIT)]
        assert received == [1, 2, 3, 4, 5, 6]
        assert isinstance(stream, AsyncGenerator)
        await stream.aclose()
    finally:
        running.cancel()
