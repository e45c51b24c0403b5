"""The event feed: `/api/events` paged and exported, `/api/events/stream` at scale.

Each server is served as `make run` serves it (`resources serve`, one worker, its
projection runner beside it, LOG_LEVEL=INFO): the feed is the activity projection,
which the runner writes.

**Read and export**: project `PROJECT` alone, `STORE_EVENTS` events (`--quick`:
`QUICK_STORE_EVENTS`), seeded through the library's save (bench/seeding.py) as
links of `EVENTS_EACH` events each (registered, then renamed), the activity runner
drained, VACUUM ANALYZE. One client (httpx, one keep-alive connection) pages the
project with limit=1000 from after=0 to the end, decoding every page whole
(msgspec): events a second, and each page's time. Then the whole project as NDJSON
in one request, its lines counted as they stream in, while the API worker's
resident memory (VmRSS; with one worker, the server process itself) and its
runner's are read every `SAMPLE_EVERY` s.

**Streams**: a database of its own, `len(STREAM_PROJECTS)` projects of `LINKS_EACH`
links, a key each; one server process, MAX_STREAMS raised to take the streams and
the resumer. A writer process renames random links of the projects in turn, paced
at `WRITE_RATE` a second in all on `WRITER_CONNECTIONS` connections (open loop: a
slow answer does not slow the pace), each PATCH with its own X-Request-ID, and
notes when each answer was read. After `WARM_SECONDS` of writes (the server's
connection pools grow), what opening the streams will ask of the server, without the
streams (`open_without_streams`: every stream's key checked and its backlog read, as
many at once as the clients will open them), then `QUIET_SECONDS` more with no
stream: the database's client connections over both (the streams are held to that
figure), the transactions a second and the server's CPU over the second. Then
`CLIENT_PROCESSES` client processes open the streams, `OPENING` at a time each,
spread evenly over the projects, each from the feed's newest position as they
start: raw asyncio sockets, one Protocol a stream (no HTTP library), the chunks and
frames taken apart by hand, the time each frame's read completed noted with its id. Then a window of
`WINDOW_SECONDS`: the server's CPU time over it, its memory and the database's
connections every `SAMPLE_EVERY` s, its transactions. The latency of a delivery is
the time from the writer's answer to the frame's arrival at a stream (one clock:
CLOCK_MONOTONIC), for the events whose PATCH was answered in the window, each event
matched to its PATCH by the request id the feed gives back, read afterwards by
paging `/api/events`. Once the writes stop and the runner has projected them all,
every stream is checked whole: every event of its project after its start
position, in order, once. The clients' own CPU and event-loop lag are reported, so
a client that could not keep up shows.

**Streams, the writes elsewhere**: the same again, on a fresh database, with the
writer PATCHing a second server process (`--no-projections`) on that database: the
first, as `make run` serves it, then serves the streams and its runner alone, as
one of several processes behind a load balancer does. What the streams cost one
process, and how fast it delivers, apart from the CPU the writes take.

**Resumes**: from the window's start, under the same writes, one more client reads
the first project's stream `RESUME_EVENTS` events at a time (a random count), drops
the connection (what arrived past the count is not taken), waits up to
`RESUME_PAUSE` s and resumes with `Last-Event-ID`, `RESUMES` times; the positions it
took are checked against the project's feed, paged afterwards: gaps, duplicates.

`python -m bench.event_feed ROLE SPEC OUT` runs one of those processes (`ROLES`).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections import Counter
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import msgspec
import psycopg

from bench.common import (
    Latency,
    child_process,
    cpu_seconds,
    free_port,
    fresh_database,
    rss_mib,
    server_process,
    service_command,
    settle,
)
from bench.patch import Target, env_of, open_services
from bench.scale import drain
from bench.seeding import seed_projects

PROJECT = 4
KEY_USER = "bench-feed"
EVENTS_EACH = 10
"""A seeded link: registered, then renamed 9 times."""
STORE_EVENTS = 1_000_000
QUICK_STORE_EVENTS = 100_000
PAGE = 1000
READ_GOAL = 50_000
"""Events a second one client pages at, at least."""
SAMPLE_EVERY = 0.5
FLAT_MIB = 20e6 / 2**20
"""The export's memory is flat when its peak exceeds its start by less than 20 MB."""

STREAM_PROJECTS = tuple(range(1, 11))
LINKS_EACH = 100
STREAMS = 1000
QUICK_STREAMS = 200
WRITE_RATE = 500
"""PATCHes a second over all the projects: as many events."""
WRITER_CONNECTIONS = 64
WARM_SECONDS = 3.0
"""Writes before anything is counted: the server's connection pools grow meanwhile."""
QUIET_SECONDS = 5.0
WINDOW_SECONDS = 30.0
QUICK_WINDOW_SECONDS = 15.0
TAIL_SECONDS = 2.0
"""After the writes stop and the runner has projected them all, the streams run this
long more for the last frames."""
CLIENT_PROCESSES = 2
OPENING = 5
"""Streams a client process opens at once. At 25 each (50 at once) under these writes,
the server's async pool (DATABASE_POOL_SIZE, a 1 s wait) ran dry: some opens and
PATCHes were answered 503, and streams whose backlog read found no connection ended
after their 200 (the generator's DatabaseUnavailable escapes into Litestar). That
burst is not what this section measures: the streams' steady state is."""
LATENCY_GOAL_MS = 250.0
RSS_GOAL_MIB = 300e6 / 2**20
"""300 MB."""

RESUMES = 100
RESUME_EVENTS = (1, 20)
RESUME_PAUSE = 0.1
RESUME_SEED = 20261204

NDJSON = "application/x-ndjson"
DELIVERED = "resources_event_feed_delivered_total"
"""The server's count of events its feed hub handed to subscribers (/metrics)."""


# -- read and export ------------------------------------------------------------------


@dataclass(frozen=True)
class FeedStore:
    url: str
    data_dir: str
    key: str
    events: int
    seed_seconds: float
    drain_seconds: float


def seed_feed_store(server_url: str, events: int) -> FeedStore:
    """`bench_events_feed`: project `PROJECT` with `events` events, drained, vacuumed."""
    url = fresh_database(server_url, "bench_events_feed")
    data_dir = tempfile.mkdtemp()
    services = open_services(url, data_dir)
    try:
        clock = [time.perf_counter()]
        _, appended = seed_projects(
            services,
            projects=(PROJECT,),
            resources_each=events // EVENTS_EACH,
            renames_each=EVENTS_EACH - 1,
            links=True,
        )
        clock.append(time.perf_counter())
        drain(services, url)
        clock.append(time.perf_counter())
        key = services.keys.create(PROJECT, KEY_USER)[1]
    finally:
        services.close()
    settle(url)
    return FeedStore(url, data_dir, key, appended, clock[1] - clock[0], clock[2] - clock[1])


@dataclass(frozen=True)
class Paging:
    events: int
    pages: int
    seconds: float
    page_ms: Latency
    decode_seconds: float
    """Of `seconds`, the client's decoding of the pages."""
    server_cpu_share: float
    """The server's CPU seconds a second meanwhile."""

    @property
    def rate(self) -> float:
        return self.events / self.seconds


@dataclass(frozen=True)
class Export:
    events: int
    seconds: float
    rss_start_mib: float
    rss_max_mib: float
    runner_rss_max_mib: float
    samples: int

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    @property
    def growth_mib(self) -> float:
        return self.rss_max_mib - self.rss_start_mib

    @property
    def flat(self) -> bool:
        return self.growth_mib < FLAT_MIB


def read_and_export(store: FeedStore) -> tuple[Paging, Export]:
    """The project paged, then exported."""
    env = {**env_of(store.url, store.data_dir), "LOG_LEVEL": "INFO"}  # as make run
    port = free_port()
    with (
        server_process(env, service_command(port, projections=True), port) as (base, process),
        _client(base, store.key) as client,
    ):
        runner_pid = child_process(process.pid, "projections run")
        client.get("/api/events", params={"limit": 1}).raise_for_status()  # a warm connection
        paging = read_feed(client, process.pid)
        exported = export(client, process.pid, runner_pid)
    for found in (paging.events, exported.events):
        if found != store.events:
            raise RuntimeError(f"the feed holds {store.events:,} events, not {found:,}")
    return paging, exported


def _client(base: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120)


def pages(client: httpx.Client, after: int) -> Iterator[tuple[list[dict[str, Any]], float, float]]:
    """The project's feed after `after`, page by page (limit 1000), each page's events
    decoded whole, with the milliseconds it took (request, answer, decoding) and those
    of its decoding."""
    while True:
        begun = time.perf_counter()
        response = client.get("/api/events", params={"after": after, "limit": PAGE})
        response.raise_for_status()
        answered = time.perf_counter()
        page = msgspec.json.decode(response.content)
        done = time.perf_counter()
        yield page["data"]["events"], (done - begun) * 1000, (done - answered) * 1000
        after = page["cursor"]["after"]
        if not page["cursor"]["has_more"]:
            return


def read_feed(client: httpx.Client, server_pid: int) -> Paging:
    """Every event of the key's project, paged from after=0 to the end."""
    events, times, decoding, last = 0, [], 0.0, 0
    started, cpu = time.perf_counter(), cpu_seconds(server_pid)
    for found, ms, decode_ms in pages(client, 0):
        if found and found[0]["position"] <= last:
            raise RuntimeError("the feed's positions went back")
        last = found[-1]["position"] if found else last
        events += len(found)
        times.append(ms)
        decoding += decode_ms / 1000
    seconds = time.perf_counter() - started
    return Paging(
        events,
        len(times),
        seconds,
        Latency.of(times),
        decoding,
        (cpu_seconds(server_pid) - cpu) / seconds,
    )


def export(client: httpx.Client, server_pid: int, runner_pid: int) -> Export:
    """The whole project as NDJSON in one request, the memory sampled meanwhile."""
    start = rss_mib(server_pid)
    lines = 0
    with (
        Sampler(functools.partial(rss_mib, server_pid)) as server_rss,
        Sampler(functools.partial(rss_mib, runner_pid)) as runner_rss,
    ):
        started = time.perf_counter()
        with client.stream("GET", "/api/events", headers={"Accept": NDJSON}) as response:
            response.raise_for_status()
            for chunk in response.iter_bytes():
                lines += chunk.count(b"\n")
        seconds = time.perf_counter() - started
    return Export(
        events=lines,
        seconds=seconds,
        rss_start_mib=start,
        rss_max_mib=max(server_rss.values),
        runner_rss_max_mib=max(runner_rss.values),
        samples=len(server_rss.values),
    )


class Sampler:
    """Reads a figure every `SAMPLE_EVERY` seconds, in a thread, while its block runs
    (once as it starts, once as it ends)."""

    def __init__(self, read: Callable[[], float]) -> None:
        self._read = read
        self.values: list[float] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.values.append(self._read())

    def _run(self) -> None:
        while True:
            self.values.append(self._read())
            if self._done.wait(SAMPLE_EVERY):
                return


class DatabaseWatch:
    """A database's client connections but this one's (pg_stat_activity), and the
    transactions it has run (pg_stat_database), read on a connection of its own."""

    def __init__(self, url: str) -> None:
        self._conn = psycopg.connect(url, autocommit=True)

    def _one(self, query: str) -> float:
        row = self._conn.execute(query).fetchone()
        assert row is not None
        return float(row[0])

    def connections(self) -> float:
        return self._one(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )

    def feed_head(self) -> int:
        """The newest position in the event feed (the activity projection)."""
        return int(self._one("SELECT coalesce(max(id), 0) FROM activity"))

    def transactions(self) -> float:
        return self._one(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database"
            " WHERE datname = current_database()"
        )

    def close(self) -> None:
        self._conn.close()


# -- streams: the figures -------------------------------------------------------------


@dataclass(frozen=True)
class Resumed:
    resumes: int
    events: int
    gaps: int
    duplicates: int
    out_of_order: int
    refused: int


@dataclass(frozen=True)
class Streams:
    streams: int
    opened: int
    refused: int
    """Streams answered other than 200 (MAX_STREAMS: 503)."""
    ended_early: int
    """Streams the server ended before the clients closed them."""
    closed_slow: int
    """Of those, the streams the server closed as too slow (its /metrics)."""
    writes: dict[str, float]
    """The writer's answered PATCHes: requests, failed, rate, p50_ms, p99_ms."""
    window_events: int
    """Events whose PATCH was answered in the window."""
    latency: Latency
    window_expected: int
    """Deliveries the window's events owe: each to every open stream of its project."""
    missing: int
    """Events of a stream's project after its start that it never received."""
    out_of_order: int
    """Frames whose position was not above the last one of its stream (duplicates too)."""
    server_rss_max_mib: float
    server_rss_start_mib: float
    connections_quiet: int
    """The most client connections to the database, with the writes and no stream."""
    connections_streams: int
    """The same with the streams open, over the window."""
    opening_seconds: float
    """From starting the clients to every stream's answer."""
    transactions_opening: float
    """Transactions a second in the database meanwhile."""
    transactions_quiet: float
    """Transactions a second in the database, with the writes and no stream."""
    transactions_streams: float
    """The same over the window."""
    server_cpu: float
    quiet_cpu_share: float
    """The server's CPU seconds a second with the writes and no stream."""
    quiet_writes: float
    """PATCHes answered a second meanwhile."""
    window_deliveries: int
    """Frames that arrived at a stream within the window."""
    window_seconds: float
    hub_handed: int
    """Events the server's hub handed to subscribed streams over the window (the rest
    of the frames came from streams' own reads of the database: their backlogs)."""
    clients: list[dict[str, float]]
    """Each client process: cpu (seconds over its streams' window), lag_p99_ms, lag_max_ms."""
    resumed: Resumed

    @property
    def cpu_us_per_delivery(self) -> float:
        return self.server_cpu / max(self.window_deliveries, 1) * 1e6

    @property
    def writes_cpu_share(self) -> float:
        """The server's CPU a second the window's writes would take alone: the quiet
        phase's, in proportion to the writes answered a second."""
        window_writes = self.window_events / self.window_seconds
        return self.quiet_cpu_share * window_writes / max(self.quiet_writes, 1.0)

    @property
    def streams_cpu_us_per_delivery(self) -> float:
        """What the streams add: the window's CPU less `writes_cpu_share`, per frame
        delivered."""
        extra = self.server_cpu - self.writes_cpu_share * self.window_seconds
        return extra / max(self.window_deliveries, 1) * 1e6


def streams_under_load(
    server_url: str, *, streams: int, window: float, writes_elsewhere: bool = False
) -> Streams:
    """The streams section; with `writes_elsewhere`, the writer PATCHes a second server
    process (without a runner) on the same database, and the first serves only the
    streams (and its runner): what one process's streams cost, apart from the writes."""
    url = fresh_database(server_url, "bench_events_streams")
    data_dir = tempfile.mkdtemp()
    services = open_services(url, data_dir)
    try:
        links, _ = seed_projects(
            services, projects=STREAM_PROJECTS, resources_each=LINKS_EACH, links=True
        )
        keys = {project: services.keys.create(project, KEY_USER)[1] for project in links}
        drain(services, url)
        start = services.events.projecting_recorder.max_notification_id() or 0
    finally:
        services.close()
    settle(url)
    env = {
        **env_of(url, data_dir),
        "LOG_LEVEL": "INFO",  # as make run
        "MAX_STREAMS": str(max(1000, streams + 10)),  # the streams and the resumer
    }
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="bench-events-"))
    address = {"host": "127.0.0.1", "port": port}
    projects = [STREAM_PROJECTS[number % len(STREAM_PROJECTS)] for number in range(streams)]
    with (
        server_process(env, service_command(port, projections=True), port) as (base, server),
        ExitStack() as running,
    ):
        watch = DatabaseWatch(url)
        running.callback(watch.close)
        writes_to = address
        if writes_elsewhere:
            other = free_port()
            running.enter_context(server_process(env, service_command(other), other))
            writes_to = {"host": "127.0.0.1", "port": other}
        writer = running.enter_context(
            Role(
                "writer",
                {
                    **writes_to,
                    "keys": {str(project): keys[project] for project in STREAM_PROJECTS},
                    "links": {str(project): ids for project, ids in links.items()},
                    "rate": WRITE_RATE,
                    "connections": WRITER_CONNECTIONS,
                },
                folder,
            )
        )
        writer.ready()
        time.sleep(WARM_SECONDS)
        with Sampler(watch.connections) as quiet:
            open_without_streams(base, [keys[project] for project in projects], watch.feed_head())
            quiet_began, quiet_transactions = time.monotonic(), watch.transactions()
            quiet_cpu = cpu_seconds(server.pid)
            time.sleep(QUIET_SECONDS)
        opening, opening_transactions = time.monotonic(), watch.transactions()
        after = watch.feed_head()  # the streams start from the feed as it is now
        quiet_cpu = (cpu_seconds(server.pid) - quiet_cpu) / (opening - quiet_began)
        quiet_rate = (opening_transactions - quiet_transactions) / (opening - quiet_began)
        clients = [
            running.enter_context(
                Role(
                    "streams",
                    {
                        **address,
                        "after": after,
                        "streams": [
                            [projects[number], keys[projects[number]]]
                            for number in range(client, streams, CLIENT_PROCESSES)
                        ],
                    },
                    folder,
                    f"streams-{client}",
                )
            )
            for client in range(CLIENT_PROCESSES)
        ]
        for client in clients:
            client.ready()
        opened_in = time.monotonic() - opening
        opening_rate = (watch.transactions() - opening_transactions) / opened_in
        resumer = running.enter_context(
            Role(
                "resumer",
                {**address, "key": keys[STREAM_PROJECTS[0]], "after": after},
                folder,
            )
        )
        began, cpu_before = time.monotonic(), cpu_seconds(server.pid)
        transactions = watch.transactions()
        handed = _metric(base, DELIVERED)
        with (
            Sampler(functools.partial(rss_mib, server.pid)) as rss,
            Sampler(watch.connections) as loaded,
        ):
            time.sleep(window)
        ended, cpu_after = time.monotonic(), cpu_seconds(server.pid)
        window_rate = (watch.transactions() - transactions) / (ended - began)
        handed = _metric(base, DELIVERED) - handed
        resumes = resumer.result(timeout=300)
        writer.stop()
        writes = writer.result(timeout=60)
        _caught_up(url, data_dir, server.pid)
        time.sleep(TAIL_SECONDS)
        for client in clients:
            client.stop()
        summaries = [client.result(timeout=120) for client in clients]
        closed_slow = _metric(base, "resources_event_streams_closed_slow_total")
        with ExitStack() as reading:
            feeds = {
                project: [
                    (event["position"], event["request_id"])
                    for found, _, _ in pages(reading.enter_context(_client(base, key)), start)
                    for event in found
                ]
                for project, key in keys.items()
            }
    answered: dict[str, float] = json.loads(writer.out.read_text())
    sent = {
        position: answered[request_id]
        for feed in feeds.values()
        for position, request_id in feed
        if request_id in answered
    }
    in_window = {position: at for position, at in sent.items() if began <= at <= ended}
    latencies, window_deliveries = _deliveries(clients, in_window, began, ended)
    opened = [stream for summary in summaries for stream in summary["streams"] if stream[1] == 200]
    owed = Counter(
        project for project, feed in feeds.items() for position, _ in feed if position > after
    )
    window_by_project = Counter(
        project for project, feed in feeds.items() for position, _ in feed if position in in_window
    )
    return Streams(
        streams=streams,
        opened=len(opened),
        refused=streams - len(opened),
        ended_early=sum(int(stream[4]) for stream in opened),
        closed_slow=closed_slow,
        writes=writes,
        window_events=len(in_window),
        latency=Latency.of(latencies),
        window_expected=sum(window_by_project[stream[0]] for stream in opened),
        missing=sum(max(0, owed[stream[0]] - stream[2]) for stream in opened),
        out_of_order=sum(int(stream[3]) for stream in opened),
        server_rss_max_mib=max(rss.values),
        server_rss_start_mib=rss.values[0],
        connections_quiet=int(max(quiet.values)),
        connections_streams=int(max(loaded.values)),
        opening_seconds=opened_in,
        transactions_opening=opening_rate,
        transactions_quiet=quiet_rate,
        transactions_streams=window_rate,
        server_cpu=cpu_after - cpu_before,
        quiet_cpu_share=quiet_cpu,
        quiet_writes=sum(1 for at in answered.values() if quiet_began <= at <= opening)
        / (opening - quiet_began),
        window_deliveries=window_deliveries,
        window_seconds=ended - began,
        hub_handed=handed,
        clients=[summary["client"] for summary in summaries],
        resumed=_check_resumes(
            resumes, json.loads(resumer.out.read_text()), feeds[STREAM_PROJECTS[0]], after
        ),
    )


def open_without_streams(base: str, keys: list[str], after: int) -> None:
    """What opening the streams asks of the server, without the streams: each one's key
    checked and its backlog read (a feed page after `after`), as many at once as the
    clients open them. The connections this takes are what the streams are held to."""

    def requests(some: list[str]) -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            for key in some:
                client.get(
                    "/api/events",
                    params={"after": after, "limit": PAGE},
                    headers={"Authorization": f"Bearer {key}"},
                ).raise_for_status()

    at_once = CLIENT_PROCESSES * OPENING
    with ThreadPoolExecutor(at_once) as pool:
        list(pool.map(requests, [keys[first::at_once] for first in range(at_once)]))


def _caught_up(url: str, data_dir: str, server_pid: int) -> None:
    """Waits until the server's projection runner has projected every event."""
    services = open_services(url, data_dir)
    try:
        runner_pid = child_process(server_pid, "projections run")
        Target("events", "", "", services, server_pid, None, runner_pid).caught_up()
    finally:
        services.close()


def _metric(base: str, name: str) -> int:
    """A figure of the server's /metrics (Prometheus' text)."""
    for line in httpx.get(base + "/metrics", timeout=30).text.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    raise RuntimeError(f"no {name} in /metrics")


def _deliveries(
    clients: list[Role], sent: dict[int, float], began: float, ended: float
) -> tuple[list[float], int]:
    """The milliseconds from each window event's PATCH answer to its arrival at each
    stream; and how many frames arrived within the window."""
    latencies: list[float] = []
    arrived = 0
    for client in clients:
        positions, times = array("q"), array("d")
        positions.frombytes(client.out.read_bytes())
        times.frombytes(client.out.with_suffix(".times").read_bytes())
        for position, at in zip(positions, times, strict=True):
            answered = sent.get(position)
            if answered is not None:
                latencies.append((at - answered) * 1000)
            if began <= at <= ended:
                arrived += 1
    return latencies, arrived


def _check_resumes(
    summary: dict[str, Any], taken: list[int], feed: list[tuple[int, str | None]], after: int
) -> Resumed:
    """The resumer's positions against its project's feed, from where it began to the
    last one it took."""
    last = taken[-1] if taken else 0
    expected = {position for position, _ in feed if after < position <= last}
    return Resumed(
        resumes=int(summary["resumes"]),
        events=len(taken),
        gaps=len(expected - set(taken)),
        duplicates=len(taken) - len(set(taken)),
        out_of_order=sum(1 for one, two in itertools.pairwise(taken) if two <= one),
        refused=int(summary["refused"]),
    )


class Role:
    """One of this module's processes (`main`): started with its spec, told `stop` on
    its standard input, its summary the last line of its output."""

    def __init__(self, role: str, spec: dict[str, Any], folder: Path, name: str = "") -> None:
        name = name or role
        self.out = folder / f"{name}.out"
        (folder / f"{name}.json").write_text(json.dumps(spec))
        self._errors = folder / f"{name}.err"
        with self._errors.open("wb") as errors:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "bench.event_feed", role),
                    *(str(folder / f"{name}.json"), str(self.out)),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
            )

    def __enter__(self) -> Role:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def _pipes(self) -> tuple[IO[str], IO[str]]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        return self.process.stdin, self.process.stdout

    def ready(self) -> None:
        if self._pipes()[1].readline().strip() != "ready":
            self.process.wait(timeout=10)
            raise RuntimeError(f"{self.out.stem} failed: {self._errors.read_text()[-2000:]}")

    def stop(self) -> None:
        stdin = self._pipes()[0]
        stdin.write("stop\n")
        stdin.flush()

    def result(self, timeout: float) -> dict[str, Any]:
        output, _ = self.process.communicate(timeout=timeout)
        if self.process.returncode != 0:
            raise RuntimeError(f"{self.out.stem} failed: {self._errors.read_text()[-2000:]}")
        found: dict[str, Any] = json.loads(output.splitlines()[-1])
        return found


# -- the processes --------------------------------------------------------------------


_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length: *(\d+)", re.IGNORECASE)


async def _stop_asked() -> None:
    """Returns once `stop` (or the end) comes on standard input."""
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)


async def run_writer(spec: dict[str, Any], out: Path) -> dict[str, Any]:
    """Renames random links of the projects in turn, the n-th PATCH due n/rate seconds
    after the start, the connections taking turns; until told to stop. Writes each
    answered PATCH's request id and the time its answer was read."""
    host, port, rate, connections = spec["host"], spec["port"], spec["rate"], spec["connections"]
    projects = sorted(spec["keys"], key=int)
    answered: dict[str, float] = {}
    took: list[float] = []
    failed = 0
    stopping = asyncio.Event()
    opened = [await asyncio.open_connection(host, port) for _ in range(connections)]
    print("ready", flush=True)
    started = time.monotonic()

    async def patches(
        number: int, reader: asyncio.StreamReader, sink: asyncio.StreamWriter
    ) -> None:
        nonlocal failed
        for turn in itertools.count():
            due = number + turn * connections
            await asyncio.sleep(max(0.0, started + due / rate - time.monotonic()))
            if stopping.is_set():
                return
            project = projects[due % len(projects)]
            request_id = f"bench-{due}"
            body = f'{{"name":"feed-{due}"}}'.encode()
            head = (
                f"PATCH /api/resources/{random.choice(spec['links'][project])} HTTP/1.1\r\n"
                f"Host: {host}:{port}\r\nAuthorization: Bearer {spec['keys'][project]}\r\n"
                f"X-Request-ID: {request_id}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            )
            sent = time.monotonic()
            sink.write(head.encode() + body)
            answer = await reader.readuntil(b"\r\n\r\n")
            length = _CONTENT_LENGTH.search(answer)
            await reader.readexactly(int(length.group(1)) if length else 0)
            now = time.monotonic()
            if answer.startswith(b"HTTP/1.1 200"):
                answered[request_id] = now
                took.append((now - sent) * 1000)
            else:
                failed += 1

    tasks = [
        asyncio.create_task(patches(number, reader, sink))
        for number, (reader, sink) in enumerate(opened)
    ]
    await _stop_asked()
    stopping.set()
    await asyncio.gather(*tasks)
    seconds = time.monotonic() - started
    out.write_text(json.dumps(answered))
    cuts = statistics.quantiles(took, n=100)
    return {
        "requests": len(took),
        "failed": failed,
        "rate": len(took) / seconds,
        "p50_ms": cuts[49],
        "p99_ms": cuts[98],
    }


class Arrivals:
    """Positions of frames, and when their reads completed (time.monotonic)."""

    def __init__(self) -> None:
        self.positions = array("q")
        self.times = array("d")


class SseConnection(asyncio.Protocol):
    """One event stream on a raw socket: sends its request, reads the answer's head,
    takes the body out of its chunks and each whole frame out of the body, and notes
    each frame's id as it arrives. With `limit`, drops the connection at that many
    frames (the rest of that read is not taken)."""

    def __init__(self, request: bytes, arrivals: Arrivals, limit: int | None = None) -> None:
        self._request = request
        self.arrivals = arrivals
        self.limit = limit
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[int] = loop.create_future()
        self.ended: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self._head: bytes | None = b""
        self._chunked = False
        self._raw = b""
        self._text = b""
        self.count = 0
        self.last = 0
        self.out_of_order = 0
        self.closing = False
        """Set when this side closes: an end before it is the server's."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("the stream ended before its answer"))
        if not self.ended.done():
            self.ended.set_result(None)

    def close(self) -> None:
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        if self.closing:
            return
        if self._head is not None:
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            head, data = self._head[:end], self._head[end + 4 :]
            self._head = None
            self._chunked = b"transfer-encoding: chunked" in head.lower()
            self.opened.set_result(int(head.split(b" ", 2)[1]))
            if self.opened.result() != 200:
                self.close()
                return
        self._text += self._unchunk(data) if self._chunked else data
        cut = self._text.rfind(b"\n\n")
        if cut < 0:
            return
        frames, self._text = self._text[:cut].split(b"\n\n"), self._text[cut + 2 :]
        for frame in frames:
            if not frame.startswith(b"id: "):
                continue  # the retry line, a keep-alive comment
            position = int(frame[4 : frame.index(b"\n")])
            if position <= self.last:
                self.out_of_order += 1
            self.last = position
            self.count += 1
            self.arrivals.positions.append(position)
            self.arrivals.times.append(now)
            if self.count == self.limit:
                self.close()
                return

    def _unchunk(self, data: bytes) -> bytes:
        """The body in the whole chunks received so far."""
        raw, at, body = self._raw + data, 0, []
        while (line_end := raw.find(b"\r\n", at)) >= 0:
            size = int(raw[at:line_end].split(b";", 1)[0], 16)
            if len(raw) < line_end + 2 + size + 2:
                break
            body.append(raw[line_end + 2 : line_end + 2 + size])
            at = line_end + 2 + size + 2
        self._raw = raw[at:]
        return b"".join(body)


def stream_request(spec: dict[str, Any], key: str, header: str = "") -> bytes:
    """The GET of a stream, with `header` (a whole header line) if given."""
    return (
        f"GET /api/events/stream?after={spec['after']} HTTP/1.1\r\n"
        f"Host: {spec['host']}:{spec['port']}\r\nAuthorization: Bearer {key}\r\n"
        f"Accept: text/event-stream\r\n{header}\r\n"
    ).encode()


async def run_streams(spec: dict[str, Any], out: Path) -> dict[str, Any]:
    """Opens its streams (`OPENING` at a time), says ready, reads them until told to
    stop; writes every frame's position and time of arrival."""
    loop = asyncio.get_running_loop()
    arrivals = Arrivals()
    gate = asyncio.Semaphore(OPENING)

    async def open_one(key: str) -> SseConnection:
        async with gate:
            _, connection = await loop.create_connection(
                functools.partial(SseConnection, stream_request(spec, key), arrivals),
                spec["host"],
                spec["port"],
            )
            await connection.opened
            return connection

    connections = await asyncio.gather(*(open_one(key) for _, key in spec["streams"]))
    print("ready", flush=True)
    lags: list[float] = []
    watch = asyncio.create_task(_loop_lag(lags))
    cpu, began = time.process_time(), time.monotonic()
    await _stop_asked()
    cpu, seconds = time.process_time() - cpu, time.monotonic() - began
    watch.cancel()
    ended = [connection.ended.done() for connection in connections]
    for connection in connections:
        connection.close()
    out.write_bytes(arrivals.positions.tobytes())
    out.with_suffix(".times").write_bytes(arrivals.times.tobytes())
    cuts = statistics.quantiles(lags, n=100)
    return {
        "streams": [
            [project, connection.opened.result(), connection.count, connection.out_of_order, end]
            for (project, _), connection, end in zip(
                spec["streams"], connections, ended, strict=True
            )
        ],
        "client": {
            "cpu": cpu,
            "seconds": seconds,
            "lag_p99_ms": cuts[98] * 1000,
            "lag_max_ms": max(lags) * 1000,
        },
    }


async def _loop_lag(lags: list[float], every: float = 0.01) -> None:
    """How late this event loop wakes a sleeper of `every` seconds, again and again."""
    while True:
        before = time.monotonic()
        await asyncio.sleep(every)
        lags.append(time.monotonic() - before - every)


async def run_resumer(spec: dict[str, Any], out: Path) -> dict[str, Any]:
    """The project's stream from `after`, a random few events at a time: each
    connection dropped at its count, the next resumed with Last-Event-ID after a
    random pause; `RESUMES` resumes. Writes the positions it took, in order."""
    loop = asyncio.get_running_loop()
    chance = random.Random(RESUME_SEED)
    taken = Arrivals()
    connections, refused = 0, 0
    while connections <= RESUMES:
        header = f"Last-Event-ID: {taken.positions[-1]}\r\n" if taken.positions else ""
        _, connection = await loop.create_connection(
            functools.partial(
                SseConnection,
                stream_request(spec, spec["key"], header),
                taken,
                chance.randint(*RESUME_EVENTS),
            ),
            spec["host"],
            spec["port"],
        )
        if await connection.opened != 200:
            refused += 1
            await asyncio.sleep(1.0)
            continue
        await asyncio.wait_for(connection.ended, timeout=60)
        connections += 1
        await asyncio.sleep(chance.uniform(0, RESUME_PAUSE))
    out.write_text(json.dumps(list(taken.positions)))
    return {"resumes": connections - 1, "refused": refused}


ROLES: dict[str, Callable[[dict[str, Any], Path], Coroutine[Any, Any, dict[str, Any]]]] = {
    "writer": run_writer,
    "streams": run_streams,
    "resumer": run_resumer,
}


def main() -> None:
    """`python -m bench.event_feed ROLE SPEC OUT`: one of `ROLES`, its spec read from
    the JSON file SPEC, its data written to OUT, its summary printed as a JSON line."""
    role, spec, out = sys.argv[1:4]
    summary = asyncio.run(ROLES[role](json.loads(Path(spec).read_text()), Path(out)))
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    main()
