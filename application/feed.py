"""The event feed: pages of a project's events in commit order, held requests and live
streams, all fed by one reader per process.

The feed is the activity read model read oldest first. Its rows carry the events'
positions, and its runner writes them in commit order, one batch per transaction:
any snapshot of it holds every event up to its newest one. That makes the newest
position a reader has seen a bound below which nothing can still appear.

`FeedHub` follows that bound for the whole process. A held request or a stream first
reads its backlog from the database up to the hub's head of that moment, then
subscribes without yielding to the event loop in between. The hub keeps the events
it read lately (`RECENT_EVENTS`): if it has moved on meanwhile, it hands the new
subscriber what it kept after that bound at once, then every later event: no gap
between the two, and the subscriber drops what it has already had. A bound older
than what the hub keeps is read on from. Subscribers hold no database connection;
the hub reads each new stretch once and gives every subscriber of the project what
matches its filter, in memory.

A stream may also give the hub a `Sink`: a way to write its events to its client at
once. While the stream has nothing queued nor in flight, and the sink takes them, the
hub writes each new batch through it in its own loop, and the stream's task does not
wake at all: a thousand streams then cost a thousand writes a batch, not a thousand
task switches and their sends. Anything else (a paused connection, a batch the
stream is still sending) queues as before, and the stream sends the queue itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol

from msgspec import Struct

from application.errors import DatabaseUnavailable
from projections.activity import ActivityEntry

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.05
"""How often the hub looks for new events while anyone is subscribed."""
IDLE_POLL_SECONDS = 1.0
"""How often it moves its head along while no one is."""
HUB_BATCH = 1000
"""Events the hub reads at a time (it reads again at once when there were this many)."""
STREAM_BUFFER = 2000
"""Events a subscriber may have waiting; one more and it is closed as too slow. Twice
what the hub reads at a time, so a subscriber that keeps up is never closed by a
burst."""
BACKLOG_PAGE = 1000
"""Events a subscriber's backlog is read in at a time."""
RECENT_EVENTS = 5000
"""Events the hub keeps after reading them (about ten seconds of 500 writes a second),
so that a subscriber whose backlog ends a little behind the head is brought up to it."""

Sink = Callable[[Sequence[ActivityEntry]], bool]
"""Writes events to a stream's client at once, or returns False when it cannot now (its
connection is paused or gone): the events are then queued for the stream to send."""


class FeedFilter(Struct, frozen=True, kw_only=True):
    type: str | None = None
    resource_id: int | None = None

    def matches(self, entry: ActivityEntry) -> bool:
        return (self.type is None or entry.type == self.type) and (
            self.resource_id is None or entry.resource_id == self.resource_id
        )


class FeedReads(Protocol):
    """The feed's reads of the database."""

    async def page(
        self, project_id: int, where: FeedFilter, after: int, limit: int, upto: int | None
    ) -> list[ActivityEntry]:
        """The project's events after position `after` (and at or before `upto`, if
        given) that match `where`, oldest first, at most `limit`."""
        ...

    async def since(self, after: int, limit: int) -> list[tuple[int, ActivityEntry]]:
        """Every project's events after `after`, oldest first, with their project."""
        ...

    async def head(self) -> int:
        """The newest position in the feed (0 when it is empty)."""
        ...


class Closed(Exception):
    """A subscription ended: the process is stopping, or its reader was too slow."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Subscription:
    """One subscriber's events after its cursor, in order, as the hub hands them over."""

    def __init__(
        self,
        hub: FeedHub,
        project_id: int,
        where: FeedFilter,
        cursor: int,
        on_close: Callable[[str], None] | None,
        capacity: int,
        sink: Sink | None = None,
    ) -> None:
        self._hub = hub
        self.project_id = project_id
        self.where = where
        self.cursor = cursor
        self._on_close = on_close
        self._capacity = capacity
        self._waiting: deque[ActivityEntry] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self.closed: str | None = None
        self._sink = sink
        self._sending = False
        """A batch from `next_batch` is being sent: later events must queue behind it."""
        self.written_at = float("-inf")
        """When the sink last wrote (the loop's clock): the stream is not quiet."""

    def offer(self, entries: Sequence[ActivityEntry]) -> None:
        """Hands the subscriber the entries after its cursor that match its filter;
        past its capacity it is closed as slow."""
        if self.closed is not None:
            return
        fresh = [entry for entry in entries if entry.id > self.cursor and self.where.matches(entry)]
        if not fresh:
            return
        if self._sink is not None and not self._waiting and not self._sending and self._sink(fresh):
            self.cursor = fresh[-1].id
            self.written_at = asyncio.get_running_loop().time()
            return
        for entry in fresh:
            if len(self._waiting) >= self._capacity:
                self.close("slow")
                return
            self._waiting.append(entry)
            self.cursor = entry.id
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None:
            _release(self._waiter)

    def close(self, reason: str) -> None:
        if self.closed is not None:
            return
        self.closed = reason
        self._waiting.clear()  # a slow reader's buffer is freed at once
        self._wake()
        self._hub.forget(self)
        if self._on_close is not None:
            self._on_close(reason)

    async def next_batch(self, timeout: float | None = None) -> list[ActivityEntry]:
        """What has come since the last call, waiting up to `timeout` seconds for
        something (then `[]`). Raises Closed once the subscription has ended."""
        if not self._waiting and self.closed is None:
            # A bare future and a timer: a thousand streams wait at once, and
            # asyncio.wait_for would make a task of every wait.
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = None if timeout is None else loop.call_later(timeout, _release, waiter)
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
        if self.closed is not None:
            raise Closed(self.closed)
        batch = list(self._waiting)
        self._waiting.clear()
        self._sending = bool(batch)
        return batch

    def sent(self) -> None:
        """The batch `next_batch` gave is written: the sink may write what comes next."""
        self._sending = False


def _release(waiter: asyncio.Future[None]) -> None:
    """Ends a subscriber's wait: something came, it closed, or its time is up."""
    if not waiter.done():
        waiter.set_result(None)


class FeedHub:
    """The process's one follower of the feed, and its subscribers by project."""

    def __init__(
        self,
        reads: FeedReads,
        *,
        poll_seconds: float = POLL_SECONDS,
        idle_poll_seconds: float = IDLE_POLL_SECONDS,
        batch: int = HUB_BATCH,
        capacity: int = STREAM_BUFFER,
        recent: int = RECENT_EVENTS,
    ) -> None:
        self._reads = reads
        self._poll = poll_seconds
        self._idle_poll = idle_poll_seconds
        self._batch = batch
        self._capacity = capacity
        self._subscribers: dict[int, set[Subscription]] = defaultdict(set)
        self._count = 0
        self.head: int | None = None
        """The newest position the hub has read; None until it has read one."""
        self._recent: deque[tuple[int, dict[int, list[ActivityEntry]], int]] = deque()
        """The stretches read lately, oldest first: the position each ends at, its
        events by project, and how many."""
        self._recent_events = 0
        self._keep = recent
        self._recent_from = 0
        """The position the kept stretches start after (the head when none are kept)."""
        self._known = asyncio.Event()
        self._wake = asyncio.Event()
        self.stopping = False
        self.delivered = 0
        """Events handed to subscribers, for the metrics."""
        self.closed_slow = 0
        """Subscriptions closed because their reader did not keep up."""

    @property
    def subscribers(self) -> int:
        return self._count

    def covers(self, bound: int) -> bool:
        """Whether a subscriber that has read everything up to `bound` can subscribe:
        the hub still keeps every event it has read after `bound`."""
        return self.head is not None and self._recent_from <= bound <= self.head

    def subscribe(
        self,
        project_id: int,
        where: FeedFilter,
        cursor: int,
        on_close: Callable[[str], None] | None = None,
        sink: Sink | None = None,
    ) -> Subscription:
        """A subscription to the project's events after `cursor`. Call it only once
        the caller has read everything up to a bound that the hub `covers`, with no
        await in between: the hub hands over at once what it has kept after the
        cursor, then every later event."""
        subscription = Subscription(self, project_id, where, cursor, on_close, self._capacity, sink)
        if self.stopping:
            subscription.closed = "shutdown"
            return subscription
        self._subscribers[project_id].add(subscription)
        self._count += 1
        self._wake.set()  # from idle polling to polling
        for ends, by_project, _ in self._recent:
            entries = by_project.get(project_id)
            if ends > cursor and entries:
                subscription.offer(entries)
                self.delivered += len(entries)
        return subscription

    def forget(self, subscription: Subscription) -> None:
        found = self._subscribers.get(subscription.project_id)
        if found is not None and subscription in found:
            found.discard(subscription)
            self._count -= 1
            if not found:
                del self._subscribers[subscription.project_id]
            if subscription.closed == "slow":
                self.closed_slow += 1

    async def known_head(self, seconds: float) -> int | None:
        """The hub's head, once it has one; None if it has none within `seconds` (it
        has not reached the database since the process started)."""
        if not self._known.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._known.wait(), seconds)
        return self.head

    async def run(self) -> None:
        """Follows the feed until cancelled."""
        failures = 0
        while True:
            try:
                more = await self._step()
                failures = 0
            except DatabaseUnavailable as error:
                failures += 1
                if failures == 1:
                    logger.warning("the event feed cannot read the database: %s", error)
                await asyncio.sleep(min(2.0, self._poll * 2**failures))
                continue
            if more:
                continue
            self._wake.clear()
            timeout = self._poll if self._count else self._idle_poll
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    async def _step(self) -> bool:
        """Reads what is new; True when there may be more to read at once."""
        if self.head is None or not self._count:
            newest = await self._reads.head()
            if self.head is not None and self._count:
                # Someone subscribed at the old head while the newest was being read:
                # moving the head past it would pass over what came in between. Read
                # on from the old head for them instead.
                return True
            if newest != self.head:
                self.head = max(self.head or 0, newest)
                self._forget_recent()  # passed over unread: nothing kept covers it
            self._known.set()
            return False
        found = await self._reads.since(self.head, self._batch)
        if not found:
            newest = await self._reads.head()
            if newest < self.head:
                # The feed went back (restored from a backup, emptied): nothing said
                # from the old head on holds. Subscribers start again from their cursors.
                logger.warning("the event feed went back from %s to %s", self.head, newest)
                self.head = newest
                self._forget_recent()
                self._close_all("reset")
            return False
        by_project: dict[int, list[ActivityEntry]] = defaultdict(list)
        for project_id, entry in found:
            by_project[project_id].append(entry)
        self.head = found[-1][1].id
        self._remember(self.head, by_project, len(found))
        for project_id, entries in by_project.items():
            for subscription in list(self._subscribers.get(project_id, ())):
                subscription.offer(entries)
                self.delivered += len(entries)
        return len(found) == self._batch

    def _remember(self, ends: int, by_project: dict[int, list[ActivityEntry]], count: int) -> None:
        self._recent.append((ends, by_project, count))
        self._recent_events += count
        while self._recent_events > self._keep and len(self._recent) > 1:
            self._recent_from, _, dropped = self._recent.popleft()
            self._recent_events -= dropped

    def _forget_recent(self) -> None:
        self._recent.clear()
        self._recent_events = 0
        self._recent_from = self.head or 0

    def stop(self) -> None:
        """Ends every subscription (the process is stopping) and takes no more."""
        self.stopping = True
        self._close_all("shutdown")

    def _close_all(self, reason: str) -> None:
        for subscriptions in list(self._subscribers.values()):
            for subscription in list(subscriptions):
                subscription.close(reason)


async def backlog(
    reads: FeedReads,
    hub: FeedHub,
    project_id: int,
    where: FeedFilter,
    after: int,
    heartbeat: float,
) -> AsyncIterator[list[ActivityEntry]]:
    """The project's events after `after` up to the hub's head, page by page (an
    empty page every `heartbeat` seconds while the hub has yet to read its head); the
    caller subscribes when it ends, before awaiting anything else."""
    cursor = after
    while True:
        bound = await hub.known_head(heartbeat)
        if bound is None:
            yield []
            continue
        page = await reads.page(project_id, where, cursor, BACKLOG_PAGE, bound)
        if page:
            cursor = page[-1].id
            yield page
        if len(page) < BACKLOG_PAGE and hub.covers(bound):
            return


async def held_page(
    reads: FeedReads,
    hub: FeedHub,
    project_id: int,
    where: FeedFilter,
    after: int,
    limit: int,
    wait: float,
) -> tuple[list[ActivityEntry], bool]:
    """A page of the feed after `after` (at most `limit`, and whether more follow),
    held up to `wait` seconds while there is nothing."""
    if wait <= 0:
        page = await reads.page(project_id, where, after, limit + 1, None)
        return page[:limit], len(page) > limit
    while True:
        bound = await hub.known_head(wait)
        if bound is None:  # not even the head within `wait`: as a request without one
            page = await reads.page(project_id, where, after, limit + 1, None)
            return page[:limit], len(page) > limit
        page = await reads.page(project_id, where, after, limit + 1, bound)
        if page:
            return page[:limit], len(page) > limit
        if hub.covers(bound):
            break
    subscription = hub.subscribe(project_id, where, after)
    try:
        entries = await subscription.next_batch(wait)
    except Closed:
        return [], False
    finally:
        subscription.close("answered")
    return entries[:limit], len(entries) > limit


class TooManyStreams(Exception):
    """The process has as many open streams as it takes."""


class StreamSlot:
    """One of the process's MAX_STREAMS places, counted in `open_streams` from the
    moment a stream is admitted: a burst of opens (every client of a stopped process
    coming back at once) cannot pass the limit while their responses start. Freed when
    its stream ends, or, should the stream never start (its client left first), when
    the slot is dropped with it."""

    def __init__(self, feed: EventFeed) -> None:
        feed.open_streams += 1
        self.free = weakref.finalize(self, feed.slot_freed)
        """Gives the place back; once, however often it is called."""


class EventFeed:
    """The feed's use cases: a page (held while empty), the export, a live stream."""

    def __init__(
        self, reads: FeedReads, hub: FeedHub, *, max_streams: int, heartbeat: float
    ) -> None:
        self.reads = reads
        self.hub = hub
        self.max_streams = max_streams
        self.heartbeat = heartbeat
        """Seconds of quiet after which a stream is sent a keep-alive."""
        self.open_streams = 0
        self.held = 0
        """Requests waiting for an event, for the metrics."""

    async def page(
        self, project_id: int, where: FeedFilter, after: int, limit: int, wait: float
    ) -> tuple[list[ActivityEntry], bool]:
        """Up to `limit` events after `after`, and whether more follow; with nothing
        there, held up to `wait` seconds for the next."""
        self.held += 1
        try:
            return await held_page(self.reads, self.hub, project_id, where, after, limit, wait)
        finally:
            self.held -= 1

    async def export(
        self, project_id: int, where: FeedFilter, after: int, limit: int | None
    ) -> AsyncIterator[list[ActivityEntry]]:
        """The events after `after` up to the head now (at most `limit`), page by
        page: one page in memory at a time. The head is read here, before any page:
        a database out of reach is an error before the answer starts."""
        return self._export(project_id, where, after, limit, await self.reads.head())

    async def _export(
        self, project_id: int, where: FeedFilter, after: int, limit: int | None, head: int
    ) -> AsyncIterator[list[ActivityEntry]]:
        left = limit
        while left is None or left > 0:
            size = BACKLOG_PAGE if left is None else min(BACKLOG_PAGE, left)
            page = await self.reads.page(project_id, where, after, size, head)
            if not page:
                return
            yield page
            after = page[-1].id
            if left is not None:
                left -= len(page)
            if len(page) < size:
                return

    def admit(self) -> StreamSlot:
        """A place for one more stream, to hand to `stream`; TooManyStreams when the
        process has as many open streams as it takes, or is stopping."""
        if self.open_streams >= self.max_streams or self.hub.stopping:
            raise TooManyStreams
        return StreamSlot(self)

    def slot_freed(self) -> None:
        self.open_streams -= 1

    async def stream(
        self,
        project_id: int,
        where: FeedFilter,
        after: int,
        *,
        on_close: Callable[[str], None] | None = None,
        sink: Sink | None = None,
        slot: StreamSlot | None = None,
    ) -> AsyncIterator[list[ActivityEntry]]:
        """The events after `after`: the backlog, then each new batch as it comes; an
        empty batch every `heartbeat` seconds of quiet. Ends when the process stops
        or when the caller falls too far behind (`on_close` is told which). Its place
        among the open streams is `slot`, from `admit`; without one it takes one
        unasked, as it starts.

        With a `sink`, live events go through it whenever they can (see the module's
        notes); what it yields then is only what the sink could not take, in order.
        Each batch yielded must be written by the time the caller asks for the next."""
        place = slot if slot is not None else StreamSlot(self)
        subscription: Subscription | None = None
        try:
            cursor = after
            pages = backlog(self.reads, self.hub, project_id, where, cursor, self.heartbeat)
            async for page in pages:
                if page:
                    cursor = page[-1].id
                yield page  # empty: a keep-alive, the hub has yet to read the head
                # A stream holds no page it has sent: a thousand streams would each
                # keep their last one (up to a thousand events) while they live.
                del page
            subscription = self.hub.subscribe(project_id, where, cursor, on_close, sink)
            loop = asyncio.get_running_loop()
            wait = self.heartbeat
            while True:
                try:
                    batch = await subscription.next_batch(wait)
                except Closed:
                    return
                quiet = loop.time() - subscription.written_at
                if not batch and quiet < self.heartbeat:
                    wait = self.heartbeat - quiet  # the sink wrote meanwhile: not quiet
                    continue
                yield batch
                del batch
                subscription.sent()
                wait = self.heartbeat
        finally:
            place.free()
            if subscription is not None:
                subscription.close("gone")
