"""The event feed's law, under concurrency: every committed event of the project comes
exactly once, in commit order, to a reader that tails `/api/events` with `wait` and to
streams that disconnect and resume with `Last-Event-ID` at random, while writers
append (some refused, some deleting), the feed's projection is rebuilt and swapped,
and the server is restarted."""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import httpx
import pytest

from api.composition.services import Services
from tests.e2e.servers import free_port, serve_process
from tests.feed import caught_up, running, wait_until
from tests.sse import StreamReader

PROJECT = 4
OTHER = 5
WRITERS = 6
STREAMS = 3


class Server:
    """`resources serve` on a fixed port, restartable."""

    def __init__(self, services: Services) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._services = services
        self._running = ExitStack()

    def start(self) -> None:
        self._running.enter_context(serve_process(self._services, self.port))

    def stop(self) -> None:
        self._running.close()


@contextmanager
def serving(services: Services) -> Iterator[Server]:
    server = Server(services)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def writer(base: str, key: str, seed: int, stop: threading.Event) -> None:
    """Creates, renames (sometimes with a stale If-Match: refused, nothing appended) and
    deletes, retrying through the server's restart."""
    chance = random.Random(seed)
    headers = {"Authorization": f"Bearer {key}"}
    mine: list[int] = []
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        while not stop.is_set():
            try:
                roll = chance.random()
                if not mine or roll < 0.3:
                    created = client.post(
                        "/api/resources",
                        json={"name": f"w{seed}", "url": "https://example.com/x"},
                    )
                    if created.status_code == 201:
                        mine.append(created.json()["data"]["resource"]["id"])
                elif roll < 0.85:
                    client.patch(
                        f"/api/resources/{chance.choice(mine)}",
                        json={"name": f"w{seed}-{chance.random():.6f}"},
                        headers={"If-Match": '"1"'} if roll > 0.75 else {},
                    )
                else:
                    client.delete(f"/api/resources/{mine.pop(chance.randrange(len(mine)))}")
            except httpx.TransportError:
                time.sleep(0.05)  # the server is restarting


def tail(base: str, key: str, until: threading.Event, seen: list[int]) -> None:
    """Follows the feed with held requests of random sizes until told, and caught up."""
    chance = random.Random(7)
    after = 0
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
        while True:
            try:
                page = client.get(
                    "/api/events",
                    params={"after": after, "limit": chance.randint(1, 40), "wait": 1},
                    timeout=30,
                )
            except httpx.TransportError:
                time.sleep(0.05)
                continue
            if page.status_code != 200:
                time.sleep(0.05)
                continue
            body = page.json()
            seen += [event["position"] for event in body["data"]["events"]]
            after = body["cursor"]["after"]
            if until.is_set() and not body["data"]["events"]:
                return


def stream(base: str, key: str, seed: int, until: threading.Event, seen: list[int]) -> None:
    """Reads the stream a few events at a time, disconnecting and resuming with
    Last-Event-ID after each few, until told and caught up."""
    chance = random.Random(seed)
    while True:
        headers = {"Authorization": f"Bearer {key}"}
        if seen:
            headers["Last-Event-ID"] = str(seen[-1])
        try:
            reader = StreamReader(base + "/api/events/stream", headers=headers)
        except AssertionError:
            time.sleep(0.05)
            continue
        try:
            if reader.status != 200:
                time.sleep(0.05)
                continue
            wanted = chance.randint(1, 30)
            while wanted:
                try:
                    frame = reader.next(timeout=2)
                except queue.Empty:  # quiet, or the stream ended
                    if until.is_set() or reader.ended.is_set():
                        break
                    continue
                if frame.id is not None:
                    seen.append(int(frame.id))
                    wanted -= 1
            else:
                continue
            if until.is_set() and not reader.ended.is_set():
                return
        finally:
            reader.close()


def project_positions(services: Services, project: int) -> list[int]:
    with services.datastore.get_connection() as conn:
        rows = conn.execute(
            "SELECT id FROM activity WHERE project_id = %s ORDER BY id", (project,)
        ).fetchall()
    return [row["id"] if isinstance(row, dict) else row[0] for row in rows]


@pytest.mark.parametrize("seed", [1, 2])
def test_every_event_comes_exactly_once_in_order_across_rebuilds_and_restarts(
    services: Services, seed: int
) -> None:
    key = services.keys.create(PROJECT, "writer")[1]
    other_key = services.keys.create(OTHER, "elsewhere")[1]
    stop_writing, caught = threading.Event(), threading.Event()
    tailed: list[int] = []
    streamed: list[list[int]] = [[] for _ in range(STREAMS)]
    with running(services), serving(services) as server:
        writers = [
            threading.Thread(
                target=writer,
                args=(
                    server.base,
                    other_key if number == 0 else key,
                    seed * 100 + number,
                    stop_writing,
                ),
            )
            for number in range(WRITERS)
        ]
        readers = [threading.Thread(target=tail, args=(server.base, key, caught, tailed))] + [
            threading.Thread(
                target=stream, args=(server.base, key, seed * 10 + number, caught, streamed[number])
            )
            for number in range(STREAMS)
        ]
        for thread in writers + readers:
            thread.start()
        try:
            time.sleep(2)
            outcome = services.rebuilder(
                services.rebuild_targets()["activity"], batch_size=50
            ).run()
            assert outcome.swap_seconds >= 0
            time.sleep(1)
            server.stop()
            time.sleep(0.5)
            server.start()
            time.sleep(2)
        finally:
            stop_writing.set()
            for thread in writers:
                thread.join(timeout=60)
        wait_until(lambda: caught_up(services), timeout=60)
        caught.set()
        for thread in readers:
            thread.join(timeout=120)
            assert not thread.is_alive(), "a reader did not catch up"

    truth = project_positions(services, PROJECT)
    assert len(truth) > 100
    assert set(truth).isdisjoint(project_positions(services, OTHER))
    assert tailed == truth
    for seen in streamed:
        assert seen == truth
