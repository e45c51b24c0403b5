"""A dashboard in a real browser (headless Chromium), served from another origin: when
that origin is in CORS_ORIGINS its page gets a signed stream URL, follows the project
live with EventSource, reads a resource's ETag and renames it with If-Match and
Idempotency-Key; a page from an origin not listed can read neither the API nor the
stream, even holding a signed URL."""

from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.composition.services import Services
from tests.e2e.flows import create
from tests.e2e.servers import free_port, serve_process
from tests.feed import caught_up, running, wait_until

PROJECT = 4
GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
DASHBOARD = """
const auth = {Authorization: "Bearer " + CONFIG.key}, result = {events: [], opened: 0};
async function answer(response) {
  return {status: response.status, etag: response.headers.get("ETag"),
    replayed: response.headers.get("Idempotent-Replayed"), body: await response.json()};
}
async function main() {
  const signed = await fetch(CONFIG.api + "/api/events/stream-url", {headers: auth});
  const source = new EventSource((await signed.json()).data.url), waiting = [];
  const until = (count) => new Promise((resolve) => waiting.push([count, resolve]));
  for (const type of TYPES) source.addEventListener(type, (message) => {
    const data = JSON.parse(message.data);
    result.events.push({id: message.lastEventId, type: message.type, data: data});
    for (const [count, resolve] of waiting) if (result.events.length >= count) resolve();
  });
  source.addEventListener("open", () => { result.opened += 1; });
  await new Promise((resolve, reject) => { source.onopen = resolve;
    source.onerror = () => reject(new Error("the stream did not open")); });
  const resource = `${CONFIG.api}/api/resources/${CONFIG.resource}`;
  result.read = await answer(await fetch(resource, {headers: auth}));
  const rename = {method: "PATCH", body: JSON.stringify({name: "renamed in the browser"}),
    headers: {...auth, "Content-Type": "application/json", "If-Match": result.read.etag,
              "Idempotency-Key": "rename-from-the-dashboard"}};
  result.patched = await answer(await fetch(resource, rename));
  result.replayed = await answer(await fetch(resource, rename));
  await until(2);  // its own rename, come back on the stream: now the test writes
  await fetch("/ready");
  await until(CONFIG.expected);
  source.close();
}
"""
FOREIGN = """
const result = {};
async function main() {
  const headers = {Authorization: "Bearer " + CONFIG.key};
  await fetch(CONFIG.api + "/api/events/stream-url", {headers: headers}).then(
    (response) => { result.fetched = response.status; },
    (error) => { result.fetch_error = error.name; });
  const source = new EventSource(CONFIG.stream), events = [];
  for (const type of TYPES) source.addEventListener(type, (m) => events.push(m.data));
  await new Promise((resolve) => { source.onopen = source.onerror = resolve; });
  Object.assign(result, {stream_state: source.readyState, stream_events: events.length});
}
"""
PAGE = """<!doctype html><html><body><pre id="result"></pre><img src="/slow.gif">
<script>const CONFIG = %s, TYPES = ["FileRegistered", "LinkRegistered", "Renamed",
  "DescriptionChanged", "UploadConfirmed", "Deleted"];%s
main().catch((error) => { result.error = String(error && error.message || error); })
  .finally(() => { document.getElementById("result").textContent = JSON.stringify(result);
                   fetch("/done"); });
</script></body></html>"""


class PageServer:
    """The dashboard's origin: the page, and an image it answers only once the page's
    script is done (or after a while), so that the browser's page keeps loading."""

    def __init__(self, script: str) -> None:
        self.ready, self.done = threading.Event(), threading.Event()
        self.config: dict[str, Any] = {}
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/slow.gif":
                    owner.done.wait(timeout=10)
                if self.path in ("/ready", "/done"):  # done: ready or not, the test goes on
                    owner.ready.set()
                    if self.path == "/done":
                        owner.done.set()
                page = PAGE % (json.dumps(owner.config), script)
                gif = self.path == "/slow.gif"
                self.send_response(200)
                self.send_header("Content-Type", "image/gif" if gif else "text/html")
                self.end_headers()
                self.wfile.write(GIF if gif else page.encode())

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_port}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def __enter__(self) -> PageServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.http.shutdown()
        self.http.server_close()


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.skip(
            "chromium is not installed: this test drives a real browser (CI installs it with apt)"
        )
    return found


@contextmanager
def api_server(services: Services, origin: str) -> Iterator[str]:
    """`resources serve` whose CORS_ORIGINS lists `origin`; its base URL."""
    port = free_port()
    with serve_process(services, port, CORS_ORIGINS=origin):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def browsing(browser: str, url: str, profile: Path) -> Iterator[subprocess.Popen[str]]:
    """Chromium, printing the page's DOM once it has loaded; killed if still running."""
    process = subprocess.Popen(
        [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={profile}", "--dump-dom", url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.communicate()


def observed(process: subprocess.Popen[str]) -> dict[str, Any]:
    """What the page wrote into its `<pre id="result">`, from the DOM Chromium printed."""
    dom, errors = process.communicate(timeout=20)
    found = re.search(r'<pre id="result">(.+?)</pre>', dom, re.DOTALL)
    assert found is not None, f"the page wrote nothing: {dom[:2000]} {errors[-2000:]}"
    result: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    assert "error" not in result, result
    return result


def allowed(api: str, origin: str) -> str | None:
    """The origin a preflight from `origin` (a GET with Authorization) is allowed, if any."""
    preflight = httpx.options(
        api + "/api/events/stream-url",
        headers={"Origin": origin, "Access-Control-Request-Method": "GET",
                 "Access-Control-Request-Headers": "authorization"},
    )  # fmt: skip
    origin_allowed: str | None = preflight.headers.get("Access-Control-Allow-Origin")
    return origin_allowed


def test_a_dashboard_on_a_listed_origin_follows_the_project_live_and_renames_with_if_match(
    services: Services, tmp_path: Path
) -> None:
    browser, key = chromium(), services.keys.create(PROJECT, "dashboard")[1]
    with (
        PageServer(DASHBOARD) as page,
        running(services),
        api_server(services, page.url) as api,
        httpx.Client(base_url=api, headers={"Authorization": f"Bearer {key}"}) as client,
    ):
        first_id = create(client, name="first", url="https://example.com/1")["id"]
        page.config = {"api": api, "key": key, "resource": first_id, "expected": 4}
        with browsing(browser, page.url, tmp_path / "profile") as process:
            assert page.ready.wait(timeout=15), "the page did not get to follow the stream"
            second_id = create(client, name="second", url="https://example.com/2")["id"]
            client.patch(f"/api/resources/{second_id}", json={"name": "second, renamed"})
            seen = observed(process)
        wait_until(lambda: caught_up(services))
        feed = client.get("/api/events").json()["data"]["events"]

    assert [(e["type"], e["data"]["resource_id"]) for e in seen["events"]] == [
        ("LinkRegistered", first_id),
        ("Renamed", first_id),
        ("LinkRegistered", second_id),
        ("Renamed", second_id),
    ]
    assert seen["opened"] == 1, "one stream, opened once, brought them all"
    assert [int(e["id"]) for e in seen["events"]] == [e["position"] for e in feed]
    assert [e["data"] for e in seen["events"]] == feed
    read, patched, replayed = seen["read"], seen["patched"], seen["replayed"]
    assert (read["status"], read["etag"]) == (200, '"1"')
    assert read["body"]["data"]["resource"]["name"] == "first"
    assert (patched["status"], patched["etag"], patched["replayed"]) == (200, '"2"', None)
    assert patched["body"]["data"]["resource"]["name"] == "renamed in the browser"
    assert (replayed["status"], replayed["etag"], replayed["replayed"]) == (200, '"2"', "true")


def test_a_page_on_an_origin_not_listed_can_read_neither_the_api_nor_a_signed_stream(
    services: Services, tmp_path: Path
) -> None:
    browser, key = chromium(), services.keys.create(PROJECT, "dashboard")[1]
    with PageServer(FOREIGN) as page, api_server(services, "https://dash.example.com") as api:
        signed = httpx.get(
            api + "/api/events/stream-url", headers={"Authorization": f"Bearer {key}"}
        )
        stream = signed.json()["data"]["url"]
        assert allowed(api, "https://dash.example.com") == "https://dash.example.com"
        assert allowed(api, page.url) is None
        page.config = {"api": api, "key": key, "stream": stream}
        with browsing(browser, page.url, tmp_path / "profile") as process:
            seen = observed(process)

    assert seen == {"fetch_error": "TypeError", "stream_state": 2, "stream_events": 0}
