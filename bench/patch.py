"""PATCH and GET throughput against the CRUD anchor, in two variants; flatness; scale-out.

The two variants of the service, each measured against the same anchor in the
same rounds (anchor, links, files; three times; medians):

- **links, no runner** — link resources, `resources serve --no-projections`:
  the cheap case (nothing to sign, nothing projected beside the server);
- **as `make run` serves it** — uploaded files, so every answer signs a download
  URL, and `resources serve` with its projection runner, which projects each
  PATCH's event into the activity feed in a process of its own, on the same cores.

Each variant has a database of its own, so the runner sees only its variant's
events. Every PATCH is a rename to a new name, so every one appends one event;
the bench counts the events appended against the PATCHes answered. Over the PATCH
runs it reads CPU time from /proc: each server's (the anchor's too), the runner's
(over the events it projected) and, when PostgreSQL runs on this machine, that of
its processes — where each variant's PATCH spends the machine's two cores.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field

from api.composition.services import Services
from api.composition.settings import Settings
from bench.common import (
    child_process,
    cpu_seconds,
    cpu_used,
    free_port,
    fresh_database,
    postmaster_pid,
    process_tree_cpu,
    server,
    server_process,
    service_command,
    settle,
)
from bench.load import LoadResult, median, wrk
from bench.seeding import new_file, seed_uploaded_files

RESOURCES = 1000
ROUNDS = 5
SIGNING_KEY = "bench-signing-key-of-at-least-32-bytes"
UPSTREAM = "Resources"
"""The tracking name under which the activity runner records its position."""

ANCHOR = "CRUD anchor"
LINKS = "links, no runner"
FILES = "as `make run` serves it"
VARIANTS = {
    LINKS: "serve --no-projections; link resources: nothing to sign",
    FILES: "serve with its projection runner; uploaded files: each answer signs a URL",
}
LOADS = (  # label, script, resources (0: the list page), seconds
    ("PATCH (rename)", "patch.lua", RESOURCES, 6),
    ("GET one", "get.lua", RESOURCES, 3),
    ("GET list page", "get.lua", 0, 3),
)


@dataclass(frozen=True)
class Comparison:
    """A variant's runs against the anchor's: medians of each, and of the rounds' ratios.

    Each run of the service is compared with the anchor's runs just before and after
    it (their mean): the machine's speed drifts over a bench (by a fifth between
    runs a minute apart, here), and a ratio of runs made seconds apart is what
    that drift does not move. The ratio printed is the median of those."""

    label: str
    service: LoadResult
    anchor: LoadResult
    rounds: tuple[tuple[float, float], ...]
    """Per round: the service's rate and p99 over the mean of its neighbouring anchor runs'."""

    @property
    def ratio(self) -> float:
        return statistics.median(rate for rate, _ in self.rounds)

    @property
    def p99_ratio(self) -> float:
        return statistics.median(p99 for _, p99 in self.rounds)

    @property
    def spread(self) -> tuple[float, float]:
        """The lowest and highest of the rounds' rate ratios."""
        rates = [rate for rate, _ in self.rounds]
        return min(rates), max(rates)


def compare(label: str, ours: list[LoadResult], anchors: list[LoadResult]) -> Comparison:
    """`anchors` has one run more than `ours`: before the first round and after each."""
    rounds = tuple(
        (
            run.rps / ((before.rps + after.rps) / 2),
            run.p99_ms / ((before.p99_ms + after.p99_ms) / 2),
        )
        for run, before, after in zip(ours, anchors[:-1], anchors[1:], strict=True)
    )
    return Comparison(label, median(ours), median(anchors), rounds)


@dataclass
class PatchLoad:
    """What one variant's PATCH runs cost, summed over its rounds (CPU times from /proc)."""

    patches: int = 0
    appended: int = 0
    """Events the PATCHes appended (the store's head, before and after)."""
    seconds: float = 0.0
    """Wall time of the load runs."""
    server_cpu: float = 0.0
    postgres_cpu: float | None = None
    """The PostgreSQL server's processes (None: it does not run on this machine)."""
    runner_cpu: float | None = None
    """The projection runner's process (None: no runner)."""
    projected: int = 0
    """Events the runner projected (its tracked position, before and after)."""
    max_lag: int = 0
    """The most events the runner was behind when a load run ended."""

    def ms_per_patch(self, cpu_seconds: float) -> str:
        return f"{cpu_seconds / max(self.patches, 1) * 1000:.2f}"

    @property
    def runner_ms_per_thousand(self) -> float:
        return (self.runner_cpu or 0.0) / max(self.projected, 1) * 1_000_000

    @property
    def runner_share_of_a_core(self) -> float:
        return (self.runner_cpu or 0.0) / max(self.seconds, 1e-9)


@dataclass(frozen=True)
class PatchFigures:
    variants: dict[str, list[Comparison]]
    patch_loads: dict[str, PatchLoad]
    flat_new: LoadResult
    flat_long: LoadResult
    two_workers: LoadResult


@dataclass
class Target:
    """A service under load: its URL, key, process, and (as `make run` runs) its runner."""

    variant: str
    base: str
    key: str
    services: Services | None
    """None for the anchor: no events, no runner."""
    server_pid: int
    postmaster_pid: int | None
    runner_pid: int | None = None
    patch_load: PatchLoad = field(default_factory=PatchLoad)

    def position(self) -> tuple[int, int]:
        """The runner's tracked position and the store's head."""
        if self.services is None:
            return 0, 0
        head = self.services.events.projecting_recorder.max_notification_id() or 0
        return self.services.activity.max_tracking_id(UPSTREAM) or 0, head

    def caught_up(self, timeout: float = 120.0) -> int:
        """Waits until the runner has projected every event; returns how far behind it was."""
        if self.runner_pid is None:
            return 0
        position, head = self.position()
        behind = head - position
        deadline = time.monotonic() + timeout
        while position < head:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the projection runner is still {head - position} behind")
            time.sleep(0.05)
            position, head = self.position()
        return behind

    def load(self, script: str, *args: str, seconds: int) -> LoadResult:
        """One load run; a PATCH run also counts its events and the CPU they cost."""
        if script != "patch.lua":
            return wrk(self.base, script, *args, self.key, seconds=seconds)
        cost = self.patch_load
        position, head = self.position()
        server, runner, postgres = self._cpu()
        started = time.perf_counter()
        result = wrk(self.base, script, *args, self.key, seconds=seconds)
        cost.seconds += time.perf_counter() - started
        cost.max_lag = max(cost.max_lag, self.caught_up())
        server_after, runner_after, postgres_after = self._cpu()
        projected, new_head = self.position()
        cost.patches += result.requests
        cost.appended += new_head - head
        cost.server_cpu += server_after - server
        if self.postmaster_pid is not None:
            cost.postgres_cpu = (cost.postgres_cpu or 0.0) + cpu_used(postgres, postgres_after)
        if self.runner_pid is not None:
            cost.runner_cpu = (cost.runner_cpu or 0.0) + runner_after - runner
            cost.projected += projected - position
        return result

    def _cpu(self) -> tuple[float, float, dict[int, float]]:
        """The server's, the runner's and PostgreSQL's processes' CPU time so far."""
        runner = 0.0 if self.runner_pid is None else cpu_seconds(self.runner_pid)
        postgres = {} if self.postmaster_pid is None else process_tree_cpu(self.postmaster_pid)
        return cpu_seconds(self.server_pid), runner, postgres


def open_services(database_url: str, data_dir: str) -> Services:
    env = {"DATABASE_URL": database_url, "DATA_DIR": data_dir, "SIGNING_KEY": SIGNING_KEY}
    return Services(Settings.from_env(env), pool_size=2)


def seed_links(services: Services) -> tuple[str, int, int]:
    """1,000 link resources of project 4 (ids 1..1000); a pending file with 10,000 events,
    and one with one event; a key."""
    from tests.seeding import long_history
    from tests.seeding import seed as seed_resources

    seed_resources(services, resources=RESOURCES, changes_each=0, links=True)
    long = long_history(services, project_id=4, events=10_000)
    new_id = new_file(services, project_id=4)
    _, key = services.keys.create(4, "user-id")
    return key, long.resource_id, new_id


def seed_files(services: Services) -> str:
    """1,000 uploaded files of project 4 (ids 1..1000); a key."""
    ids, _ = seed_uploaded_files(services, resources=RESOURCES)
    assert ids == list(range(1, RESOURCES + 1)), "the load scripts address ids 1..1000"
    _, key = services.keys.create(4, "user-id")
    return key


def env_of(database_url: str, data_dir: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "DATA_DIR": data_dir,
        "SIGNING_KEY": SIGNING_KEY,
        "LOG_LEVEL": "WARNING",
    }


def run(server_url: str) -> PatchFigures:
    links_url = fresh_database(server_url, "bench_patch")
    files_url = fresh_database(server_url, "bench_patch_files")
    links_dir, files_dir = tempfile.mkdtemp(), tempfile.mkdtemp()
    links_services = open_services(links_url, links_dir)
    files_services = open_services(files_url, files_dir)
    try:
        links_key, long_id, new_id = seed_links(links_services)
        files_key = seed_files(files_services)
        links_env, files_env = env_of(links_url, links_dir), env_of(files_url, files_dir)
        # As make run: LOG_LEVEL's default, so every request writes its log line.
        files_env["LOG_LEVEL"] = "INFO"
        anchor_port, links_port, files_port = free_port(), free_port(), free_port()
        with (
            server_process(
                links_env, anchor_command(anchor_port), anchor_port, wait_for_health=False
            ) as (
                anchor_base,
                anchor_process,
            ),
            server_process(links_env, service_command(links_port), links_port) as (
                links_base,
                links_process,
            ),
            server_process(
                files_env, service_command(files_port, projections=True), files_port
            ) as (files_base, files_process),
        ):
            _wait_for(anchor_base)
            postmaster = postmaster_pid(server_url)
            anchor = Target(ANCHOR, anchor_base, "bench-key", None, anchor_process.pid, postmaster)
            links = Target(
                LINKS, links_base, links_key, links_services, links_process.pid, postmaster
            )
            files = Target(
                FILES, files_base, files_key, files_services, files_process.pid, postmaster
            )
            files.runner_pid = child_process(files_process.pid, "projections run")
            files.caught_up()  # the seeded events
            for target in (anchor, links, files):  # warm up
                wrk(target.base, "patch.lua", str(RESOURCES), target.key, seconds=3)
            files.caught_up()
            for database in (links_url, files_url):  # the anchor's table is in links_url
                settle(database)
            variants: dict[str, list[Comparison]] = {LINKS: [], FILES: []}
            for label, script, count, seconds in LOADS:
                compared = compare_in_rounds(
                    label, script, count, seconds, anchor=anchor, targets=(links, files)
                )
                for variant, comparison in compared.items():
                    variants[variant].append(comparison)
                if script == "patch.lua":
                    # The PATCH rounds left ~60,000 dead rows and the feed's new rows
                    # behind: let them be vacuumed now, as autovacuum soon would, rather
                    # than in the middle of whichever GET run it happens to meet.
                    files.caught_up()
                    for database in (links_url, files_url):
                        settle(database)
            flat_new = wrk(
                links_base, "patch_one.lua", str(new_id), links_key, seconds=5, connections=1
            )
            flat_long = wrk(
                links_base, "patch_one.lua", str(long_id), links_key, seconds=5, connections=1
            )
        two_port = free_port()
        with server(links_env, service_command(two_port, workers=2), two_port) as two_workers:
            wrk(two_workers, "patch.lua", str(RESOURCES), links_key, seconds=3)
            two = wrk(two_workers, "patch.lua", str(RESOURCES), links_key, seconds=10)
        loads = {ANCHOR: anchor.patch_load, LINKS: links.patch_load, FILES: files.patch_load}
        return PatchFigures(variants, loads, flat_new, flat_long, two)
    finally:
        links_services.close()
        files_services.close()


def anchor_command(port: int) -> list[str]:
    """The CRUD anchor's server (its table in the database its DATABASE_URL names)."""
    return [
        *(sys.executable, "-m", "uvicorn", "bench.crud_baseline:app", "--port", str(port)),
        *("--log-level", "warning", "--no-access-log"),
    ]


def compare_in_rounds(
    label: str,
    script: str,
    count: int,
    seconds: int,
    *,
    anchor: Target,
    targets: tuple[Target, ...],
) -> dict[str, Comparison]:
    """One load in rounds: anchor, each target, anchor, each target, ..., anchor
    (`ROUNDS` runs of each target); each target's runs against the anchor's."""
    theirs = [anchor.load(script, str(count), seconds=seconds)]
    ours: dict[str, list[LoadResult]] = {target.variant: [] for target in targets}
    for _ in range(ROUNDS):
        for target in targets:
            ours[target.variant].append(target.load(script, str(count), seconds=seconds))
        theirs.append(anchor.load(script, str(count), seconds=seconds))
    return {variant: compare(label, results, theirs) for variant, results in ours.items()}


def run_patch_as_served(server_url: str) -> tuple[Comparison, PatchLoad]:
    """Only the PATCH rounds of the `make run` variant against the anchor, as `run` makes
    them (seeding, warm-up, vacuum, then the rounds), on the server at `server_url`:
    the figure a second server's configuration needs, without the rest of `run`.

    The anchor's table is in the service's database here (in `run`, it is in the
    links variant's, which this does not make)."""
    database_url = fresh_database(server_url, "bench_patch_files")
    data_dir = tempfile.mkdtemp()
    services = open_services(database_url, data_dir)
    try:
        key = seed_files(services)
        env = env_of(database_url, data_dir)
        env["LOG_LEVEL"] = "INFO"  # as make run: every request writes its log line
        anchor_port, files_port = free_port(), free_port()
        with (
            server_process(
                env, anchor_command(anchor_port), anchor_port, wait_for_health=False
            ) as (anchor_base, anchor_process),
            server_process(env, service_command(files_port, projections=True), files_port) as (
                files_base,
                files_process,
            ),
        ):
            _wait_for(anchor_base)
            postmaster = postmaster_pid(server_url)
            anchor = Target(ANCHOR, anchor_base, "bench-key", None, anchor_process.pid, postmaster)
            files = Target(FILES, files_base, key, services, files_process.pid, postmaster)
            files.runner_pid = child_process(files_process.pid, "projections run")
            files.caught_up()  # the seeded events
            for target in (anchor, files):  # warm up
                wrk(target.base, "patch.lua", str(RESOURCES), target.key, seconds=3)
            files.caught_up()
            settle(database_url)
            label, script, count, seconds = LOADS[0]
            compared = compare_in_rounds(
                label, script, count, seconds, anchor=anchor, targets=(files,)
            )
            return compared[FILES], files.patch_load
    finally:
        services.close()


def _wait_for(base: str) -> None:
    import httpx

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(base + "/api/resources/1", headers={"Authorization": "Bearer bench-key"})
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the CRUD anchor did not start")
