"""The feed hub's law without a database: a held request or a stream that subscribes
while the hub is between reads gets every later event of its project, exactly once,
whatever the hub was awaiting at that moment."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from application.feed import EventFeed, FeedFilter, FeedHub, TooManyStreams, held_page
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
        assert await hub.known_head(WAIT) == 2
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
    try:
        assert await hub.known_head(WAIT) == 3
        other = hub.subscribe(PROJECT, FeedFilter(), 3)  # keeps the hub reading as they come
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


async def next_of(stream: AsyncIterator[list[ActivityEntry]]) -> list[ActivityEntry]:
    return await anext(stream)


async def close(stream: AsyncIterator[list[ActivityEntry]]) -> None:
    assert isinstance(stream, AsyncGenerator)
    await stream.aclose()


async def stop(
    running: asyncio.Task[None],
    stream: AsyncIterator[list[ActivityEntry]],
    sending: asyncio.Task[list[ActivityEntry]] | None,
) -> None:
    """Stops the hub, the stream's pending send if any, and the stream."""
    running.cancel()
    if sending is not None:
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sending
    await close(stream)


class Connection:
    """A stream's client as the sink sees it: takes writes unless paused, and keeps
    what it was written, by the sink or by the stream's own sends, in arrival order."""

    def __init__(self, paused: list[bool]) -> None:
        self.pauses = iter(paused)
        self.received: list[int] = []
        self.direct = 0
        self.written_at = float("-inf")

    def sink(self, entries: Sequence[ActivityEntry]) -> bool:
        if next(self.pauses, False):
            return False
        self.received += [e.id for e in entries]
        self.direct += 1
        self.written_at = asyncio.get_running_loop().time()
        return True


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=12),
    st.lists(st.booleans(), max_size=12),
)
def test_a_stream_with_a_sink_gets_every_event_once_in_order(
    batches: list[int], paused: list[bool]
) -> None:
    """Whatever the sink refuses (a paused connection) is queued and sent by the stream
    itself; nothing reaches the client twice or out of order."""
    asyncio.run(through_a_sink(batches, paused))


async def through_a_sink(batches: list[int], paused: list[bool]) -> None:
    reads = MemoryFeed()
    reads.entries = [entry(1)]
    hub = FeedHub(reads, poll_seconds=0.005, idle_poll_seconds=0.005)
    feed = EventFeed(reads, hub, max_streams=10, heartbeat=WAIT)
    running = asyncio.create_task(hub.run())
    client = Connection(paused)
    stream = feed.stream(PROJECT, FeedFilter(), after=0, sink=client.sink)
    try:
        await hub.known_head(WAIT)
        client.received += [e.id for e in await asyncio.wait_for(anext(stream), WAIT)]  # backlog
        sending = asyncio.create_task(next_of(stream))
        position = 1
        for size in batches:
            reads.entries += [entry(position + n) for n in range(1, size + 1)]
            position += size
            while hub.head != position:
                await asyncio.sleep(0.001)
            if sending.done():  # the stream had something queued: it "sends" it now
                client.received += [e.id for e in sending.result()]
                sending = asyncio.create_task(next_of(stream))
        while len(client.received) < position:
            client.received += [e.id for e in await asyncio.wait_for(sending, WAIT)]
            sending = asyncio.create_task(next_of(stream))
        assert client.received == list(range(1, position + 1))
    finally:
        await stop(running, stream, locals().get("sending"))


def test_events_wait_behind_a_batch_the_stream_is_still_sending() -> None:
    asyncio.run(behind_a_batch_in_flight())


async def until(condition: Callable[[], bool]) -> None:
    """Waits, at most WAIT seconds, for the condition to hold."""
    async with asyncio.timeout(WAIT):
        while not condition():
            await asyncio.sleep(0.001)


async def behind_a_batch_in_flight() -> None:
    reads = MemoryFeed()
    reads.entries = [entry(1)]
    hub = FeedHub(reads, poll_seconds=0.005, idle_poll_seconds=0.005)
    feed = EventFeed(reads, hub, max_streams=10, heartbeat=WAIT)
    running = asyncio.create_task(hub.run())
    client = Connection([True])  # the first live batch finds the connection paused
    stream = feed.stream(PROJECT, FeedFilter(), after=1, sink=client.sink)
    try:
        await hub.known_head(WAIT)
        sending = asyncio.create_task(next_of(stream))
        await until(lambda: hub.subscribers == 1)  # no backlog: the stream is live
        reads.entries.append(entry(2))
        assert [e.id for e in await asyncio.wait_for(sending, WAIT)] == [2]
        # Batch [2] is being sent (the stream has not been asked for more): 3 must
        # queue behind it, though the connection now takes writes.
        reads.entries.append(entry(3))
        await until(lambda: hub.head == 3)
        assert client.received == []
        assert [e.id for e in await asyncio.wait_for(anext(stream), WAIT)] == [3]
        # Once [3] is sent, nothing is queued nor in flight: 4 goes straight through
        # the sink, and the stream's own task has nothing to send.
        sending = asyncio.create_task(next_of(stream))
        await asyncio.sleep(0.01)
        reads.entries.append(entry(4))
        await until(lambda: client.received == [4])
        assert not sending.done()
    finally:
        await stop(running, stream, locals().get("sending"))


def test_a_stream_the_sink_keeps_busy_sends_no_keep_alive() -> None:
    asyncio.run(busy_through_the_sink())


async def busy_through_the_sink() -> None:
    heartbeat = 0.2
    reads = MemoryFeed()
    reads.entries = [entry(1)]
    hub = FeedHub(reads, poll_seconds=0.005, idle_poll_seconds=0.005)
    feed = EventFeed(reads, hub, max_streams=10, heartbeat=heartbeat)
    running = asyncio.create_task(hub.run())
    client = Connection([])
    stream = feed.stream(PROJECT, FeedFilter(), after=1, sink=client.sink)
    try:
        await hub.known_head(WAIT)
        keep_alive = asyncio.create_task(next_of(stream))
        loop = asyncio.get_running_loop()
        began = loop.time()
        for position in range(2, 12):  # an event every 0.05 s for half a second
            reads.entries.append(entry(position))
            await asyncio.sleep(0.05)
            assert not keep_alive.done()
        assert await asyncio.wait_for(keep_alive, WAIT) == []  # once quiet for a heartbeat
        assert loop.time() - client.written_at >= heartbeat * 0.9
        assert loop.time() - began >= 0.5
        assert client.received == list(range(2, 12))
    finally:
        running.cancel()
        await close(stream)


class MovingFeed(MemoryFeed):
    """A feed whose writers commit an event during every backlog read, and whose hub
    has read it before the read answers: the head has always moved on by then."""

    def __init__(self, hub_head: Callable[[], int | None]) -> None:
        super().__init__()
        self.hub_head = hub_head
        self.reads = 0

    async def page(
        self, project_id: int, where: FeedFilter, after: int, limit: int, upto: int | None
    ) -> list[ActivityEntry]:
        found = await super().page(project_id, where, after, limit, upto)
        self.reads += 1
        newest = self.entries[-1].id + 1
        self.entries.append(entry(newest))
        await until(lambda: self.hub_head() == newest)
        return found


def test_a_backlog_the_hub_overtakes_at_every_read_still_ends() -> None:
    """Under steady writes a stream's backlog ends a little behind the head, and the
    hub brings it up from there: the stream opens, and nothing is missed or doubled."""
    asyncio.run(overtaken_at_every_read())


async def overtaken_at_every_read() -> None:
    hub: FeedHub | None = None
    reads = MovingFeed(lambda: None if hub is None else hub.head)
    reads.entries = [entry(1), entry(2)]
    hub = FeedHub(reads, poll_seconds=0.005, idle_poll_seconds=0.005)
    feed = EventFeed(reads, hub, max_streams=10, heartbeat=WAIT)
    running = asyncio.create_task(hub.run())
    stream = feed.stream(PROJECT, FeedFilter(), after=0)
    try:
        await hub.known_head(WAIT)
        watcher = hub.subscribe(PROJECT, FeedFilter(), 2)  # keeps the hub reading
        received = [e.id for e in await asyncio.wait_for(next_of(stream), WAIT)]
        assert received == [1, 2]
        # The backlog read once: the event written meanwhile comes from the hub.
        received += [e.id for e in await asyncio.wait_for(next_of(stream), WAIT)]
        assert received == [1, 2, 3]
        assert reads.reads == 1
        watcher.close("done")
    finally:
        await stop(running, stream, None)


@settings(max_examples=40, deadline=None)
@given(
    recent=st.integers(min_value=1, max_value=6),
    during=st.integers(min_value=0, max_value=8),
    watched=st.booleans(),
    later=st.integers(min_value=0, max_value=3),
)
def test_a_backlog_overtaken_by_the_hub_ends_in_every_event_once(
    recent: int, during: int, watched: bool, later: int
) -> None:
    """Whether the hub still keeps what came during the backlog's read (`recent`
    events), has moved its head without reading them (no one `watched`), or has
    dropped them, the stream gets every event once, in order."""
    asyncio.run(overtaken(recent, during, watched, later))


async def overtaken(recent: int, during: int, watched: bool, later: int) -> None:
    reads = MemoryFeed()
    reads.entries = [entry(1), entry(2)]
    hub = FeedHub(reads, poll_seconds=0.002, idle_poll_seconds=0.002, recent=recent)
    feed = EventFeed(reads, hub, max_streams=10, heartbeat=WAIT)
    running = asyncio.create_task(hub.run())
    stream = feed.stream(PROJECT, FeedFilter(), after=0)
    try:
        await hub.known_head(WAIT)
        if watched:
            hub.subscribe(PROJECT, FeedFilter(), 2)
        held = reads.hold_page = asyncio.Event()
        first = asyncio.create_task(next_of(stream))
        await reads.page_read.wait()
        reads.hold_page = None
        for position in range(3, 3 + during):
            reads.entries.append(entry(position))
            await until(lambda: hub.head == position)  # noqa: B023 (awaited at once)
        held.set()
        received = [e.id for e in await asyncio.wait_for(first, WAIT)]
        total = 2 + during + later
        reads.entries += [entry(position) for position in range(3 + during, total + 1)]
        while received[-1] < total:
            received += [e.id for e in await asyncio.wait_for(next_of(stream), WAIT)]
        assert received == list(range(1, total + 1))
    finally:
        await stop(running, stream, None)


def test_a_stream_holds_its_place_from_its_admission_and_gives_it_back_once() -> None:
    asyncio.run(places())


async def places() -> None:
    reads = MemoryFeed()
    reads.entries = [entry(1)]
    hub = FeedHub(reads, poll_seconds=0.01, idle_poll_seconds=0.01)
    feed = EventFeed(reads, hub, max_streams=2, heartbeat=WAIT)
    first, second = feed.admit(), feed.admit()
    # Both count before either stream has started: a burst of opens stops at the limit.
    with pytest.raises(TooManyStreams):
        feed.admit()
    assert feed.open_streams == 2
    # A place whose stream never started (its client left first) comes back when dropped.
    del second
    assert feed.open_streams == 1
    third = feed.admit()
    running = asyncio.create_task(hub.run())
    stream = feed.stream(PROJECT, FeedFilter(), after=0, slot=third)
    try:
        assert [e.id for e in await asyncio.wait_for(anext(stream), WAIT)] == [1]
        assert feed.open_streams == 2
    finally:
        assert isinstance(stream, AsyncGenerator)
        await stream.aclose()
        running.cancel()
    assert feed.open_streams == 1
    third.free()  # as the HTTP layer's own cleanup does after the stream's
    assert feed.open_streams == 1
    first.free()
    assert feed.open_streams == 0


def test_a_hub_yet_to_read_the_head_holds_no_request_past_its_wait_and_no_stream_quiet() -> None:
    asyncio.run(before_the_first_head())


async def before_the_first_head() -> None:
    """The database went away as the process started: the hub has no head yet."""
    reads = MemoryFeed()
    reads.entries = [entry(1)]
    reads.hold_head = asyncio.Event()
    hub = FeedHub(reads, poll_seconds=0.01, idle_poll_seconds=0.01)
    feed = EventFeed(reads, hub, max_streams=10, heartbeat=0.1)
    running = asyncio.create_task(hub.run())
    stream = feed.stream(PROJECT, FeedFilter(), after=0)
    try:
        await reads.head_read.wait()
        # A held request reads as one without `wait` would, once its wait is over.
        loop = asyncio.get_running_loop()
        started = loop.time()
        page = await held_page(reads, hub, PROJECT, FeedFilter(), after=0, limit=10, wait=0.2)
        assert ([e.id for e in page[0]], page[1]) == ([1], False)
        assert 0.2 <= loop.time() - started < WAIT
        # A stream gets its keep-alives (empty batches) meanwhile, then its events.
        assert await asyncio.wait_for(anext(stream), WAIT) == []
        assert await asyncio.wait_for(anext(stream), WAIT) == []
        reads.hold_head.set()
        received: list[int] = []
        while not received:
            received = [e.id for e in await asyncio.wait_for(anext(stream), WAIT)]
        assert received == [1]
    finally:
        assert isinstance(stream, AsyncGenerator)
        await stream.aclose()
        running.cancel()
