"""Writers under a fault, and the service they write to: a server process started the
way an operator starts one, and clients that rename their own resources as fast as it
answers, keeping every answer to check afterwards that nothing acknowledged was lost."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO

import httpx


@dataclass(frozen=True)
class Answer:
    started: float
    seconds: float
    status: int
    resource_id: int
    version: int | None
    name: str


@dataclass
class Load:
    """Writers renaming their own resource as fast as the server answers."""

    base: str
    headers: dict[str, str]
    ids: list[int]
    answers: list[Answer] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for resource_id in self.ids:
            self.threads.append(threading.Thread(target=self._write, args=(resource_id,)))
        for thread in self.threads:
            thread.start()

    def _write(self, resource_id: int) -> None:
        number = 0
        while not self.stop.is_set():
            number += 1
            name = f"n{number}-{time.monotonic()}"
            started = time.monotonic()
            try:
                response = httpx.patch(
                    f"{self.base}/api/resources/{resource_id}",
                    json={"name": name},
                    headers=self.headers,
                    timeout=10,
                )
            except httpx.HTTPError:
                time.sleep(0.05)
                continue  # no answer: nothing was acknowledged
            version = None
            if response.status_code == 200:
                version = int(response.headers["etag"].strip('"'))
            self.answers.append(
                Answer(
                    started,
                    time.monotonic() - started,
                    response.status_code,
                    resource_id,
                    version,
                    name,
                )
            )

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def names_by_version(self, resource_id: int) -> dict[int, str]:
        names: dict[int, str] = {}
        page = 1
        while True:
            response = httpx.get(
                f"{self.base}/api/resources/{resource_id}/history",
                params={"page": page, "per_page": 100},
                headers=self.headers,
                timeout=10,
            )
            assert response.status_code == 200, response.text
            body = response.json()
            for event in body["data"]["events"]:
                if "name" in event["changes"]:
                    names[event["version"]] = event["changes"]["name"]["to"]
            if page >= body["pagination"]["total_pages"]:
                return names
            page += 1

    def assert_nothing_acknowledged_was_lost(self) -> None:
        acknowledged = [answer for answer in self.answers if answer.status == 200]
        assert acknowledged
        for resource_id in self.ids:
            names = self.names_by_version(resource_id)
            for answer in acknowledged:
                if answer.resource_id == resource_id:
                    assert answer.version is not None
                    assert names[answer.version] == answer.name

    def assert_the_feed_catches_up(self, seconds: float = 15) -> None:
        """The projection runner lived through the fault (or was restarted): the
        activity feed reaches every resource's last acknowledged change."""
        for resource_id in self.ids:
            last = max(
                answer.version or 0
                for answer in self.answers
                if answer.resource_id == resource_id and answer.status == 200
            )
            deadline = time.monotonic() + seconds
            while True:
                events = httpx.get(
                    f"{self.base}/api/activity",
                    params={"resource_id": resource_id, "per_page": 1},
                    headers=self.headers,
                    timeout=10,
                ).json()["data"]["events"]
                if events and events[0]["version"] >= last:
                    break
                assert time.monotonic() < deadline, f"the feed stopped before version {last}"
                time.sleep(0.2)


def serve(
    url: str,
    port: int,
    data_dir: str,
    *,
    log: IO[bytes] | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """The server, with `env` added to its environment; its log lines (stderr) to `log`
    if given."""
    environment = {
        **os.environ,
        "DATABASE_URL": url,
        "DATA_DIR": data_dir,
        "SIGNING_KEY": "a-fault-test-signing-key-of-32-bytes!",
        "LOG_LEVEL": "WARNING",
        **(env or {}),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "api.cli.commands", "serve", "--port", str(port)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL if log is None else log,
    )


def first_key(server: subprocess.Popen[bytes]) -> str:
    assert server.stdout is not None
    for line in server.stdout:
        text = line.decode().strip()
        if text.startswith("rsk_"):
            return text
    raise AssertionError("the server printed no key")


def started(
    url: str,
    port: int,
    data_dir: str,
    writers: int,
    *,
    log: IO[bytes] | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[subprocess.Popen[bytes], Load]:
    """A server (with its projection runner) on `url`, and writers with a resource each."""
    from tests.e2e.servers import wait_until_healthy

    base = f"http://127.0.0.1:{port}"
    server = serve(url, port, data_dir, log=log, env=env)
    try:
        key = first_key(server)
        wait_until_healthy(base)
    except BaseException:
        server.kill()
        raise
    headers = {"Authorization": f"Bearer {key}"}
    ids = [
        httpx.post(f"{base}/api/resources", json={"name": "f"}, headers=headers).json()["data"][
            "resource"
        ]["id"]
        for _ in range(writers)
    ]
    return server, Load(base, headers, ids)
