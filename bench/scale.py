"""Whether the service keeps its pace as its store grows: a small store against a large
one, request by request; the database's size per 1M events; a soak.

Three databases, each seeded through the library's `save` (bench/seeding.py: up to
1,000 aggregates a save, through the service's one append function with its inline
read models), its activity feed then drained by a projection runner in this
process, then VACUUM ANALYZE (as autovacuum leaves a live store):

- **small**: project 4 with `SMALL_FILES` uploaded files;
- **large**: `len(LARGE_PROJECTS)` projects of `LARGE_FILES` uploaded files each,
  the projects taking turns file by file, so that a project's rows lie among the
  others' (as in a store that many projects write to); the requests go to project 4;
- **feed**: project 4 with `FEED_RESOURCES` links of many renames each, its activity
  holding `FEED_EVENTS` rows (`--quick`: `QUICK_FEED_EVENTS`); measured for the
  activity and event feed pages only.

A file is registered, renamed once and confirmed as uploaded: 3 events. Within a
project the resources take `ACTORS` in turn (one user for all of a resource's
events), so the feed filtered by one of them holds a fifth of the project's events.

The three are served at once, each as `make run` serves it (`resources serve`, one
worker, its projection runner beside it, LOG_LEVEL=INFO). Each request is loaded by
wrk (16 connections) in runs of `SECONDS`: a warm-up run on each store, then small,
large (, feed), then the same backwards, so that a drift of the machine's speed over
the runs moves every store alike; a store's figures are the means of its two runs.
The PATCHes come last, so every request before them reads the stores as seeded.

The soak: a database of its own with `SOAK_LINKS` link resources, `make run`'s
configuration, wrk with 16 connections running `soak.lua`'s mix of requests in
rounds; each round's throughput and p99, and the resident memory of the server
and of its runner when the round ends.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass

import psycopg

from adapters.read_models.activity import UPSTREAM
from api.composition.services import Services
from bench.common import (
    child_process,
    free_port,
    fresh_database,
    rss_mib,
    server,
    server_process,
    service_command,
    settle,
)
from bench.load import LoadResult, median, wrk
from bench.patch import env_of, open_services
from bench.seeding import seed_projects
from domain.resource import Actor

PROJECT = 4
"""The project whose key every request carries."""
SMALL_FILES = 2_000
LARGE_PROJECTS = tuple(range(1, 11))
LARGE_FILES = 30_000
RENAMES_EACH = 1
"""Each file: registered, renamed once, its upload confirmed: 3 events."""
FEED_RESOURCES = 1_000
FEED_EVENTS = 1_000_000
QUICK_FEED_EVENTS = 100_000
ACTORS = tuple(Actor(user_id=f"member-{number}") for number in range(1, 6))
FILTER_ACTOR = ACTORS[1].user_id
"""The user the filtered activity page asks for: a fifth of each project's events."""
KEY_USER = "user-id"
"""The user of the requests' key (the author of the PATCHes' events)."""

PER_PAGE = 20
DEEP_PAGE = 501
"""The deep list page: offset 10,000 at 20 a page (a store with fewer: its deepest)."""
SECONDS = 8
QUICK_SECONDS = 5
WARM_UP_SECONDS = 2

SOAK_LINKS = 1_000
SOAK_ROUNDS = 5
SOAK_SECONDS = 60
QUICK_SOAK_SECONDS = 15
SOAK_WARM_UP_SECONDS = 3
RSS_FLAT = 0.10
"""The soak's server memory is flat when the last round's exceeds the first's by at most this."""

SMALL, LARGE, FEED = "small", "large", "feed"
PARTS = (
    ("events", "resources_events"),
    ("snapshots", "resources_snapshots"),
    ("resources", "resources"),
    ("resource_timeline", "resource_timeline"),
    ("activity", "activity"),
    ("row_counts", "row_counts"),
)
"""(label, table) of each part of the database whose size is printed."""


@dataclass(frozen=True)
class Ids:
    """A project's public ids: `count` of them from `first`, `step` apart."""

    first: int
    step: int
    count: int

    @classmethod
    def of(cls, ids: Sequence[int]) -> Ids:
        step = ids[1] - ids[0] if len(ids) > 1 else 1
        found = cls(ids[0], step, len(ids))
        if list(ids) != list(range(found.first, found.first + step * found.count, step)):
            raise RuntimeError("the seeded ids are not evenly spaced: the scripts cannot name them")
        return found

    def __str__(self) -> str:
        """The scripts' IDS argument: FIRST:STEP:COUNT."""
        return f"{self.first}:{self.step}:{self.count}"


@dataclass(frozen=True)
class Store:
    """A seeded database, and what the load scripts need to address its project."""

    name: str
    description: str
    url: str
    data_dir: str
    key: str
    ids: Ids
    """The resources of project `PROJECT` (all uploaded)."""
    events: int
    seed_seconds: float
    drain_seconds: float

    @property
    def deep_page(self) -> int:
        """`DEEP_PAGE`, or the deepest page of 20 this store's project has."""
        return min(DEEP_PAGE, math.ceil(self.ids.count / PER_PAGE))


def seed_store(
    server_url: str,
    name: str,
    description: str,
    *,
    projects: Sequence[int],
    resources_each: int,
    renames_each: int,
    links: bool = False,
) -> Store:
    """A fresh database `bench_scale_<name>`, seeded, its feed drained, vacuumed."""
    url = fresh_database(server_url, f"bench_scale_{name}")
    data_dir = tempfile.mkdtemp()
    services = open_services(url, data_dir)
    try:
        started = time.perf_counter()
        ids, events = seed_projects(
            services,
            projects=projects,
            resources_each=resources_each,
            renames_each=renames_each,
            links=links,
            actors=ACTORS,
        )
        seeded = time.perf_counter()
        drain(services, url)
        drained = time.perf_counter()
        _, key = services.keys.create(PROJECT, KEY_USER)
    finally:
        services.close()
    settle(url)
    return Store(
        name=name,
        description=description,
        url=url,
        data_dir=data_dir,
        key=key,
        ids=Ids.of(ids[PROJECT]),
        events=events,
        seed_seconds=seeded - started,
        drain_seconds=drained - seeded,
    )


def seed_stores(server_url: str, *, quick: bool) -> list[Store]:
    """The small, the large and the feed store, seeded one after the other."""
    feed_events = QUICK_FEED_EVENTS if quick else FEED_EVENTS
    events_each = feed_events // FEED_RESOURCES
    return [
        seed_store(
            server_url,
            SMALL,
            f"project {PROJECT} alone, {SMALL_FILES:,} uploaded files",
            projects=(PROJECT,),
            resources_each=SMALL_FILES,
            renames_each=RENAMES_EACH,
        ),
        seed_store(
            server_url,
            LARGE,
            f"{len(LARGE_PROJECTS)} projects of {LARGE_FILES:,} uploaded files each, taking"
            f" turns file by file; the requests go to project {PROJECT}",
            projects=LARGE_PROJECTS,
            resources_each=LARGE_FILES,
            renames_each=RENAMES_EACH,
        ),
        seed_store(
            server_url,
            FEED,
            f"project {PROJECT} alone, {FEED_RESOURCES:,} links of {events_each:,} events each"
            " (registered, then renamed), measured for its activity and feed pages only",
            projects=(PROJECT,),
            resources_each=FEED_RESOURCES,
            renames_each=events_each - 1,
            links=True,
        ),
    ]


def drain(services: Services, database_url: str, timeout: float = 1800.0) -> None:
    """Runs the activity projection in this process, batch after batch on one session,
    until its tracked position reaches the store's last event."""
    runner = services.activity_runner()
    head = services.events.projecting_recorder.max_notification_id() or 0
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as session:
        while True:
            while runner.process_batch(session):
                pass
            # An empty batch also comes while a gap in the positions settles.
            if (services.activity.max_tracking_id(UPSTREAM) or 0) >= head:
                return
            if time.monotonic() > deadline:
                raise RuntimeError("the activity runner did not catch up")
            time.sleep(0.05)


@dataclass(frozen=True)
class Size:
    """A part of the database: its table's main fork, its indexes, and all of it (with
    its TOAST table and maps), in bytes."""

    label: str
    table: int
    indexes: int
    total: int


def sizes(store: Store) -> tuple[int, list[Size]]:
    """The number of events in the store, and the sizes of its parts: `PARTS`, then all
    indexes of all its tables, then the whole database."""
    parts = []
    with psycopg.connect(store.url) as conn:
        counted = conn.execute("SELECT count(*) FROM resources_events").fetchone()
        assert counted is not None
        for label, table in PARTS:
            row = conn.execute(
                "SELECT pg_relation_size(%s), pg_indexes_size(%s), pg_total_relation_size(%s)",
                (table, table, table),
            ).fetchone()
            assert row is not None
            parts.append(Size(label, *row))
        indexes = conn.execute(
            "SELECT coalesce(sum(pg_indexes_size(oid)), 0)::bigint FROM pg_class"
            " WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
        ).fetchone()
        whole = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        assert indexes is not None
        assert whole is not None
    parts.append(Size("all indexes", 0, indexes[0], indexes[0]))
    parts.append(Size("whole database", 0, 0, whole[0]))
    return int(counted[0]), parts


@dataclass(frozen=True)
class Request:
    """One request of the comparison: its method, and its path on a store ("{id}": a
    random resource of the project)."""

    label: str
    method: str
    path: Callable[[Store], str]
    feed: bool = False
    """Also measured on the feed store."""


REQUESTS = (
    Request("GET one", "GET", lambda store: "/api/resources/{id}"),
    Request("list page 1", "GET", lambda store: f"/api/resources?page=1&per_page={PER_PAGE}"),
    Request(
        f"list page {DEEP_PAGE}",
        "GET",
        lambda store: f"/api/resources?page={store.deep_page}&per_page={PER_PAGE}",
    ),
    Request(
        "activity page 1",
        "GET",
        lambda store: f"/api/activity?page=1&per_page={PER_PAGE}",
        feed=True,
    ),
    Request(
        "activity, by actor",
        "GET",
        lambda store: f"/api/activity?actor={FILTER_ACTOR}&page=1&per_page={PER_PAGE}",
        feed=True,
    ),
    Request("history (3 events)", "GET", lambda store: "/api/resources/{id}/history"),
    Request(
        "feed page, 100 events",
        "GET",
        # Positions are the store's event numbers: half its events is a position in
        # the middle of the project's feed, as a follower part way through reads it.
        lambda store: f"/api/events?after={store.events // 2}&limit=100",
        feed=True,
    ),
    Request("PATCH rename", "PATCH", lambda store: "/api/resources/{id}"),
)


@dataclass(frozen=True)
class Measured:
    """A request's figures on each store it was measured on, by store name."""

    request: Request
    results: dict[str, LoadResult]

    def against_small(self, name: str) -> tuple[float, float]:
        """A store's throughput and p99 over the small store's."""
        theirs, small = self.results[name], self.results[SMALL]
        return theirs.rps / small.rps, theirs.p99_ms / small.p99_ms


def measure(stores: Sequence[Store], *, seconds: int) -> list[Measured]:
    """Every request of `REQUESTS` on every store it is measured on, each store served
    as `make run` serves it, all at once."""
    with ExitStack() as running:
        bases = {}
        for store in stores:
            env = env_of(store.url, store.data_dir)
            env["LOG_LEVEL"] = "INFO"  # as make run: every request writes its log line
            port = free_port()  # taken after the last server bound its own
            bases[store.name] = running.enter_context(
                server(env, service_command(port, projections=True), port)
            )

        def load(request: Request, store: Store, seconds: int) -> LoadResult:
            arguments = (str(store.ids), store.key, request.method, request.path(store))
            return wrk(bases[store.name], "scale.lua", *arguments, seconds=seconds)

        measured = []
        for request in REQUESTS:
            targets = [store for store in stores if request.feed or store.name != FEED]
            for store in targets:
                load(request, store, WARM_UP_SECONDS)
            runs: dict[str, list[LoadResult]] = {store.name: [] for store in targets}
            for store in [*targets, *reversed(targets)]:
                runs[store.name].append(load(request, store, seconds))
            measured.append(Measured(request, {name: median(done) for name, done in runs.items()}))
        return measured


@dataclass(frozen=True)
class SoakRound:
    load: LoadResult
    server_rss_mib: float
    runner_rss_mib: float
    """Read as the round ends."""


@dataclass(frozen=True)
class Soak:
    warm_server_rss_mib: float
    """The server's resident memory after the warm-up, before the first round."""
    rounds: list[SoakRound]


def soak(server_url: str, *, rounds: int, seconds: int) -> Soak:
    """`rounds` runs of `soak.lua` of `seconds` each, after a warm-up, on a fresh store
    of `SOAK_LINKS` links served as `make run` serves it."""
    url = fresh_database(server_url, "bench_scale_soak")
    data_dir = tempfile.mkdtemp()
    services = open_services(url, data_dir)
    try:
        seeded, _ = seed_projects(
            services, projects=(PROJECT,), resources_each=SOAK_LINKS, links=True
        )
        _, key = services.keys.create(PROJECT, KEY_USER)
        drain(services, url)
    finally:
        services.close()
    settle(url)
    ids = Ids.of(seeded[PROJECT])
    arguments = (str(ids), key, str(math.ceil(ids.count / PER_PAGE)))
    env = env_of(url, data_dir)
    env["LOG_LEVEL"] = "INFO"  # as make run
    port = free_port()
    with server_process(env, service_command(port, projections=True), port) as (base, process):
        runner_pid = child_process(process.pid, "projections run")
        wrk(base, "soak.lua", *arguments, seconds=SOAK_WARM_UP_SECONDS)
        warm = rss_mib(process.pid)
        found = []
        for _ in range(rounds):
            result = wrk(base, "soak.lua", *arguments, seconds=seconds)
            found.append(SoakRound(result, rss_mib(process.pid), rss_mib(runner_pid)))
        return Soak(warm, found)
