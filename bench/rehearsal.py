"""A deployment rehearsal (`make cluster`): the service as production runs it, then
its primary dies.

The fault tests each prove one property; an operator wants to see them together, once,
on the topology of docs/deployment.md, before the real failover happens at night. So
this starts, on loopback: a primary with a synchronous standby and an asynchronous
read replica, PgBouncer (transaction mode) in front, moto as the S3 bucket, two API
processes and two projection runners (one active, one standing by). Under a mixed load
it SIGKILLs the primary, waits as a failover manager would, promotes the standby and
moves PgBouncer and the replica to it, then reports what the clients saw. It exits 0
when the goals hold: nothing acknowledged lost, writes back within 10 s, no 500, every
Session-Token read saw its write, and the activity feed caught up (a runner took over).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench import postgres_cluster as pg

RESOURCES, WRITERS, READERS = 20, 6, 4
BEFORE_SECONDS, DETECTION_SECONDS, AFTER_SECONDS = 8.0, 3.0, 10.0
GAP_GOAL_SECONDS, FEED_SECONDS = 10.0, 15.0
SIGNING_KEY = "a-rehearsal-signing-key-of-32-bytes-or-more"  # the same in every process
MOTO_LOGIN = "rehearsal"  # moto takes any credentials
LAG = re.compile(r"([\d.]+) s behind")


def say(text: str) -> None:
    print(text, flush=True)


def wait(probe: Callable[[], object], seconds: float, failure: str) -> None:
    """Calls `probe` until it returns without raising, for at most `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            probe()
            return
        except (httpx.HTTPError, OSError):
            if time.monotonic() > deadline:
                raise RuntimeError(failure) from None
            time.sleep(0.1)


def answers(process: subprocess.Popen[bytes], url: str) -> None:
    """Whether `process` answers at `url`; one that has exited ends the wait at once."""
    if process.poll() is not None:
        raise RuntimeError(f"{process.args!r} exited ({process.returncode})")
    httpx.get(url, timeout=1)


class Processes:
    """What the rehearsal starts besides PostgreSQL and PgBouncer (which the harness
    stops): each logs to a file in `logs` and is stopped by its PID, even on failure."""

    def __init__(self, logs: Path) -> None:
        self.logs, self.started = logs, list[subprocess.Popen[bytes]]()

    def start(
        self, name: str, argv: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("wb") as log:
            self.started.append(subprocess.Popen(argv, env=env, stdout=log, stderr=log))
        return self.started[-1]

    def stop(self) -> None:
        for process in self.started:
            process.terminate()
        for process in self.started:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@dataclass(frozen=True)
class Write:
    done: float
    resource_id: int
    version: int
    name: str


@dataclass
class Load:
    """Writers, readers and a lag sampler over both API processes, and what they saw."""

    bases: list[str]
    headers: dict[str, str]
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    writes: list[Write] = field(default_factory=list)
    reads: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    no_retry_after: int = 0
    missed: int = 0
    lags: list[float] = field(default_factory=list)
    uploads: int = 0
    """Files uploaded to the bucket, confirmed, and downloaded back byte for byte."""
    bad_downloads: int = 0
    last: dict[int, tuple[int, str, str]] = field(default_factory=dict)  # version, name, token

    def send(self, client: httpx.Client, method: str, url: str, **kw: object) -> httpx.Response:
        """One request, counted by status; a 5xx or no answer backs off 50 ms, as a
        client honouring Retry-After would (and does not spin while nothing answers)."""
        try:
            response = client.request(method, url, **kw)  # type: ignore[arg-type]
        except httpx.HTTPError:
            response = httpx.Response(0)
        status = response.status_code
        with self.lock:
            self.statuses[status] += 1
            self.no_retry_after += status == 503 and "retry-after" not in response.headers
        if status == 0 or status >= 500:
            time.sleep(0.05)
        return response

    def writer(self, number: int, ids: list[int]) -> None:
        """Renames its own resources, alternating between the API processes, keeping
        every acknowledged (id, version, name): what the histories must hold after."""
        with httpx.Client(headers=self.headers, timeout=10) as client:
            for step in itertools.count():
                if self.stop.is_set():
                    return
                resource_id, name = ids[step % len(ids)], f"w{number}-{step}"
                url = f"{self.bases[step % 2]}/api/resources/{resource_id}"
                response = self.send(client, "PATCH", url, json={"name": name})
                if response.status_code == 200:
                    version = int(response.headers["etag"].strip('"'))
                    with self.lock:
                        self.writes.append(Write(time.monotonic(), resource_id, version, name))
                        self.last[resource_id] = (version, name, response.headers["session-token"])

    def reader(self, number: int) -> None:
        """Reads a resource's last write back with its Session-Token, from either
        process (the replica serves it when it has replayed that far): it must see it."""
        chooser = random.Random(number)
        with httpx.Client(headers=self.headers, timeout=10) as client:
            for step in itertools.count():
                if self.stop.is_set():
                    return
                with self.lock:
                    picked = chooser.choice(list(self.last.items())) if self.last else None
                if picked is None:  # no write acknowledged yet
                    time.sleep(0.01)
                    continue
                resource_id, (version, name, token) = picked
                url = f"{self.bases[step % 2]}/api/resources/{resource_id}"
                response = self.send(client, "GET", url, headers={"Session-Token": token})
                if response.status_code == 200:
                    seen = int(response.headers["etag"].strip('"'))
                    stale = seen < version or (
                        seen == version and response.json()["data"]["resource"]["name"] != name
                    )
                    with self.lock:
                        self.reads.append(time.monotonic())
                        self.missed += stale

    def uploader(self) -> None:
        """Registers a file, PUTs its bytes straight to the bucket (the presigned URL),
        confirms it and downloads it back from the bucket: the bytes must match."""
        with httpx.Client(headers=self.headers, timeout=10) as client:
            for step in itertools.count():
                if self.stop.is_set():
                    return
                body = f"file {step:08d} {time.monotonic_ns():024d}".encode()[:40].ljust(40)
                base = self.bases[step % 2]
                made = self.send(
                    client,
                    "POST",
                    f"{base}/api/resources",
                    json={
                        "name": f"f{step}.txt",
                        "mime_type": "text/plain",
                        "size_bytes": len(body),
                    },
                )
                if made.status_code != 201:
                    continue
                resource = made.json()["data"]["resource"]
                with contextlib.suppress(httpx.HTTPError):
                    httpx.put(resource["upload_url"], content=body, timeout=10)
                confirmed = self.send(
                    client,
                    "PATCH",
                    f"{base}/api/resources/{resource['id']}",
                    json={"status": "uploaded"},
                )
                if confirmed.status_code != 200:
                    continue
                url = confirmed.json()["data"]["resource"]["url"]
                try:
                    got = httpx.get(url, timeout=10).content
                except httpx.HTTPError:
                    got = b""
                with self.lock:
                    self.uploads += got == body
                    self.bad_downloads += got != body

    def sample_lag(self) -> None:
        """The replica's lag as /ready reports it ("X.X s behind"), every 0.2 s."""
        while not self.stop.wait(0.2):
            with contextlib.suppress(httpx.HTTPError, ValueError, KeyError):
                for check in httpx.get(f"{self.bases[0]}/ready", timeout=2).json()["checks"]:
                    if check["name"] == "replica" and (found := LAG.search(check["detail"])):
                        with self.lock:
                            self.lags.append(float(found.group(1)))

    def history(self, resource_id: int) -> dict[int, str]:
        """Each version's name in the resource's history, as the service now tells it."""
        names: dict[int, str] = {}
        page, pages = 1, 1
        while page <= pages:
            url = f"{self.bases[0]}/api/resources/{resource_id}/history"
            params = {"page": page, "per_page": 100}
            response = httpx.get(url, params=params, headers=self.headers, timeout=10)
            body = response.raise_for_status().json()
            for event in body["data"]["events"]:
                if "name" in event["changes"]:
                    names[event["version"]] = event["changes"]["name"]["to"]
            page, pages = page + 1, body["pagination"]["total_pages"]
        return names

    def feed_catches_up(self) -> float | None:
        """Seconds until the activity feed shows the last acknowledged write (None if
        not within FEED_SECONDS): a projection runner lived through the failover."""
        last, started = self.writes[-1], time.monotonic()
        params = {"resource_id": last.resource_id, "per_page": 1}
        while time.monotonic() - started < FEED_SECONDS:
            with contextlib.suppress(httpx.HTTPError, KeyError, IndexError):
                response = httpx.get(
                    f"{self.bases[1]}/api/activity", params=params, headers=self.headers
                )
                if response.json()["data"]["events"][0]["version"] >= last.version:
                    return time.monotonic() - started
            time.sleep(0.2)
        return None


def rehearse(logs: Path) -> bool:
    """Starts the topology, runs the load through the failover, prints the figures;
    True when the goals hold. All it started stops as the stack unwinds, the service
    before the databases (which it would otherwise fill its logs about)."""
    with contextlib.ExitStack() as stack:
        say("starting PostgreSQL: a primary, a synchronous standby and an asynchronous replica")
        cluster = stack.enter_context(pg.Cluster(sync=True))
        processes = Processes(logs)
        stack.callback(processes.stop)
        old = cluster.primary
        standby = cluster.add_standby("standby", synchronous=True)
        replica = cluster.add_standby("replica", synchronous=False)
        direct = (
            f"postgresql://postgres@127.0.0.1:{old.port},127.0.0.1:{standby.port}/postgres"
            "?target_session_attrs=read-write&connect_timeout=2"
        )
        bouncer = None
        if pg.pgbouncer_binary() is None:
            say(f"{pg.PGBOUNCER_MISSING}: running without it, DATABASE_URL is the multi-host URL")
        else:
            say("starting PgBouncer (transaction pooling) before the primary")
            bouncer = stack.enter_context(pg.PgBouncer(old.port))
        say("starting moto_server (S3) with a bucket")
        s3 = f"http://127.0.0.1:{(s3_port := pg.free_port())}"
        moto = str(Path(sys.executable).with_name("moto_server"))
        server = processes.start("moto", [moto, "-H", "127.0.0.1", "-p", str(s3_port)])
        wait(functools.partial(answers, server, s3), 30, "moto_server did not start")
        httpx.put(f"{s3}/rehearsal", timeout=10).raise_for_status()
        env = dict(
            os.environ,
            DATABASE_URL=bouncer.url_for("postgres") if bouncer else direct,
            DATABASE_DIRECT_URL=direct,
            DATABASE_REPLICA_URL=replica.url,
            SIGNING_KEY=SIGNING_KEY,
            LOG_LEVEL="WARNING",
            BLOB_STORE_URL="s3://rehearsal/blobs",
            AWS_ENDPOINT_URL=s3,
            AWS_ACCESS_KEY_ID=MOTO_LOGIN,
            AWS_SECRET_ACCESS_KEY=MOTO_LOGIN,
            AWS_REGION="us-east-1",
        )
        say("starting two API processes (--no-projections) and two projection runners")
        cli, bases = [sys.executable, "-m", "api.cli.commands"], []
        for number in (1, 2):  # one after the other: the first one lays out the schema
            port, own = pg.free_port(), {**env, "DATA_DIR": str(logs / f"data{number}")}
            serve = [*cli, "serve", "--no-projections", "--port", str(port)]
            server = processes.start(f"api{number}", serve, own)
            bases.append(base := f"http://127.0.0.1:{port}")
            wait(functools.partial(answers, server, f"{base}/health"), 60, f"{base} is down")
            processes.start(f"runner{number}", [*cli, "projections", "run"], own)
        create = [*cli, "keys", "create", "--project-id", "1", "--user", "rehearsal"]
        made = subprocess.run(create, env=own, capture_output=True, text=True, check=True)
        load = Load(bases, {"Authorization": f"Bearer {made.stdout.strip().splitlines()[-1]}"})
        ids = []
        for number in range(RESOURCES):
            url, body = f"{bases[number % 2]}/api/resources", {"name": f"r{number}"}
            created = httpx.post(url, json=body, headers=load.headers).raise_for_status()
            ids.append(int(created.json()["data"]["resource"]["id"]))

        threads = [
            *(
                threading.Thread(target=load.writer, args=(n, ids[n::WRITERS]))
                for n in range(WRITERS)
            ),
            *(threading.Thread(target=load.reader, args=(n,)) for n in range(READERS)),
            threading.Thread(target=load.sample_lag),
            threading.Thread(target=load.uploader),
        ]
        say(
            f"load: {WRITERS} writers and {READERS} Session-Token readers on {RESOURCES}"
            " resources, and an uploader through the bucket"
        )
        began = time.monotonic()
        for thread in threads:
            thread.start()
        try:
            time.sleep(BEFORE_SECONDS)
            say("SIGKILL the primary")
            killed = time.monotonic()
            old.kill()
            time.sleep(DETECTION_SECONDS)  # a failover manager's detection
            say(
                f"promoting the standby; {'PgBouncer and ' if bouncer else ''}the replica follow it"
            )
            cluster.promote(standby)
            promoted = time.monotonic()
            if bouncer is not None:
                bouncer.retarget(standby.port)
            cluster.repoint(replica, standby)
            time.sleep(max(0.0, promoted + AFTER_SECONDS - time.monotonic()))
        finally:
            load.stop.set()
            for thread in threads:
                thread.join(30)
        ended = time.monotonic()
        say("checking every acknowledged write against the histories, and the feed")
        return report(load, {i: load.history(i) for i in ids}, (began, killed, promoted, ended))


def report(load: Load, histories: dict[int, dict[int, str]], times: tuple[float, ...]) -> bool:
    """Prints one aligned line per figure, with its goal; True when the goals hold."""
    began, killed, promoted, ended = times
    writes = load.writes
    lost = sum(histories[w.resource_id].get(w.version) != w.name for w in writes)
    acks = [began, *sorted(w.done for w in writes), ended]
    gap = max(b - a for a, b in itertools.pairwise(acks))
    s500, s503 = load.statuses[500], load.statuses[503]
    other = sum(
        n for status, n in load.statuses.items() if status >= 500 and status not in (500, 503)
    )
    lags = sorted(load.lags)
    p99 = f"{lags[int(0.99 * (len(lags) - 1))]:.1f} s ({len(lags)} samples)" if lags else "none"
    feed = load.feed_catches_up() if writes else None

    def rates(start: float, end: float) -> str:
        written = sum(start <= w.done < end for w in writes) / (end - start)
        read = sum(start <= t < end for t in load.reads) / (end - start)
        return f"{written:.0f} writes/s, {read:.0f} reads/s ({end - start:.1f} s)"

    goal_5xx = "goal 0 500s; 503 with Retry-After is the designed answer during the failover"
    lines = [
        ("writes acknowledged", f"{len(writes)}"),
        ("writes lost", f"{lost}  (goal 0)"),
        ("seconds without writes", f"{gap:.1f}  (goal <= {GAP_GOAL_SECONDS:g})"),
        ("5xx answers", f"{s500} 500s, {s503} 503s, {other} other  ({goal_5xx})"),
        ("503s without Retry-After", f"{load.no_retry_after}  (goal 0)"),
        ("requests without an answer", f"{load.statuses[0]}"),
        ("Session-Token reads that missed their write", f"{load.missed}  (goal 0)"),
        ("replica lag p99 (/ready)", p99),
        (
            "files through S3 (up, confirmed, down)",
            f"{load.uploads} whole, {load.bad_downloads} not  (goal 0 not)",
        ),
        ("activity feed caught up", f"in {feed:.1f} s" if feed is not None else "no  (goal yes)"),
        ("throughput before the failover", rates(began, killed)),
        ("throughput after the promotion", rates(promoted, ended)),
    ]
    width = max(len(label) for label, _ in lines)
    for label, value in lines:
        say(f"  {label.ljust(width)}  {value}")
    back = any(w.done > promoted for w in writes)
    clean = s500 == other == load.no_retry_after == load.missed == lost == load.bad_downloads == 0
    return back and clean and gap <= GAP_GOAL_SECONDS and feed is not None


def main() -> int:
    logs = Path(tempfile.mkdtemp(prefix="rehearsal-"))
    try:
        ok = rehearse(logs)
    except Exception as error:  # reported with where the logs are, after the cleanup
        say(f"the rehearsal failed: {type(error).__name__}: {error}")
        ok = False
    if ok:
        shutil.rmtree(logs, ignore_errors=True)
        say("goals met")
        return 0
    say(f"goals not met; the service's logs are in {logs}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
