"""GET /api/events, its NDJSON export, and the live stream: what a client sees."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import msgspec
import pytest

from api.composition.services import Services
from tests.e2e.flows import create, error
from tests.e2e.servers import free_port, serving
from tests.feed import caught_up, running, wait_until
from tests.sse import StreamReader

PROJECT = 4


@pytest.fixture
def feed_base(services: Services) -> Iterator[str]:
    """A server of its own (a fresh feed hub over the emptied store), with the activity
    runner beside it and a one-second heartbeat."""
    settings = msgspec.structs.replace(services.settings, stream_heartbeat=1, max_streams=3)
    with running(services), serving(services, free_port(), settings=settings) as base:
        yield base


@pytest.fixture
def key(services: Services) -> str:
    return services.keys.create(PROJECT, "user-id")[1]


@pytest.fixture
def api(feed_base: str, key: str) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=feed_base, timeout=90, headers={"Authorization": f"Bearer {key}"}
    ) as client:
        yield client


@pytest.fixture
def other(feed_base: str, services: Services) -> Iterator[httpx.Client]:
    secret = services.keys.create(PROJECT + 1, "stranger")[1]
    with httpx.Client(
        base_url=feed_base, timeout=90, headers={"Authorization": f"Bearer {secret}"}
    ) as client:
        yield client


def page(client: httpx.Client, **params: Any) -> dict[str, Any]:
    response = client.get("/api/events", params=params)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def everything(client: httpx.Client, services: Services, **params: Any) -> list[dict[str, Any]]:
    """Every event of the client's project, paged with the cursor."""
    wait_until(lambda: caught_up(services))
    events: list[dict[str, Any]] = []
    after = 0
    while True:
        found = page(client, after=after, limit=2, **params)
        events += found["data"]["events"]
        assert (
            found["cursor"]["after"] == (events[-1]["position"] if events else 0)
            or not found["data"]["events"]
        )
        after = found["cursor"]["after"]
        if not found["cursor"]["has_more"]:
            return events


def test_the_feed_pages_every_event_of_the_project_once_oldest_first(
    api: httpx.Client, other: httpx.Client, services: Services
) -> None:
    first = create(api, name="one")
    create(other, name="elsewhere")
    second = create(api, name="two")
    api.patch(f"/api/resources/{first['id']}", json={"name": "uno"})
    api.patch(f"/api/resources/{second['id']}", json={"description": "the second"})

    events = everything(api, services)
    assert [(e["resource_id"], e["version"], e["type"]) for e in events] == [
        (first["id"], 1, "FileRegistered"),
        (second["id"], 1, "FileRegistered"),
        (first["id"], 2, "Renamed"),
        (second["id"], 2, "DescriptionChanged"),
    ]
    positions = [e["position"] for e in events]
    assert positions == sorted(positions)
    assert len(set(positions)) == 4
    renamed = events[2]
    assert renamed["changes"] == {"name": {"from": "one", "to": "uno"}}
    assert renamed["actor"] == "user-id"
    assert renamed["request_id"]
    assert renamed["occurred_at"].endswith("Z")
    # The activity feed's events carry the same positions.
    activity = api.get("/api/activity").json()["data"]["events"]
    assert sorted(e["position"] for e in activity) == positions
    # Another project's events are not there, and its own feed has only its one.
    assert [e["type"] for e in everything(other, services)] == ["FileRegistered"]
    # A cursor past the end: nothing, and the cursor stays.
    last = page(api, after=positions[-1])
    assert last == {"data": {"events": []}, "cursor": {"after": positions[-1], "has_more": False}}


def test_the_feed_filters_by_type_and_resource(api: httpx.Client, services: Services) -> None:
    first = create(api, name="one")
    second = create(api, name="two")
    api.patch(f"/api/resources/{first['id']}", json={"name": "uno"})
    api.patch(f"/api/resources/{second['id']}", json={"name": "dos"})

    renames = everything(api, services, type="Renamed")
    assert [e["resource_id"] for e in renames] == [first["id"], second["id"]]
    of_second = everything(api, services, resource_id=second["id"])
    assert [e["type"] for e in of_second] == ["FileRegistered", "Renamed"]
    both = everything(api, services, type="Renamed", resource_id=first["id"])
    assert [e["changes"]["name"]["to"] for e in both] == ["uno"]


def test_a_held_request_is_answered_within_a_second_of_the_write(
    api: httpx.Client, services: Services
) -> None:
    create(api, name="before")
    head = everything(api, services)[-1]["position"]

    answered: dict[str, Any] = {}

    def hold() -> None:
        started = time.monotonic()
        answered["body"] = page(api, after=head, wait=30)
        answered["at"] = time.monotonic()
        answered["held"] = answered["at"] - started

    holder = threading.Thread(target=hold)
    holder.start()
    time.sleep(1.0)
    assert "body" not in answered, "the request was not held"
    written = create(api, name="after")
    wrote_at = time.monotonic()
    holder.join(timeout=30)
    body = answered["body"]
    assert [e["resource_id"] for e in body["data"]["events"]] == [written["id"]]
    assert body["cursor"]["after"] == body["data"]["events"][0]["position"]
    assert answered["at"] - wrote_at < 1.0


def test_a_held_request_with_nothing_new_answers_empty_when_its_wait_passes(
    api: httpx.Client,
) -> None:
    started = time.monotonic()
    body = page(api, after=0, wait=1)
    assert 1.0 <= time.monotonic() - started < 3.0
    assert body == {"data": {"events": []}, "cursor": {"after": 0, "has_more": False}}


def test_the_ndjson_export_streams_every_event_up_to_the_head_at_its_start(
    api: httpx.Client, services: Services
) -> None:
    created = [create(api, name=f"file {number}") for number in range(5)]
    events = everything(api, services)

    response = api.get("/api/events", headers={"Accept": "application/x-ndjson"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = response.text.splitlines()
    assert [json.loads(line) for line in lines] == events
    assert [json.loads(line)["resource_id"] for line in lines] == [r["id"] for r in created]

    after_second = api.get(
        "/api/events",
        params={"after": events[1]["position"], "limit": 2},
        headers={"Accept": "application/x-ndjson"},
    )
    assert [json.loads(line) for line in after_second.text.splitlines()] == events[2:4]


def test_the_feed_needs_a_key(feed_base: str) -> None:
    for path in ("/api/events", "/api/events/stream", "/api/events/stream-url"):
        found = error(httpx.get(feed_base + path), 401)
        assert found["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("params", "headers", "field"),
    [
        ({"after": "x"}, {}, "after"),
        ({"after": "-1"}, {}, "after"),
        ({"after": str(2**63)}, {}, "after"),
        ({"type": "Exploded"}, {}, "type"),
        ({}, {"Last-Event-ID": "1e3"}, "Last-Event-ID"),
    ],
)
def test_a_stream_with_a_malformed_cursor_or_filter_is_a_400(
    api: httpx.Client, params: dict[str, str], headers: dict[str, str], field: str
) -> None:
    found = error(api.get("/api/events/stream", params=params, headers=headers), 400)
    assert found["details"][0]["field"] == field


def test_the_stream_sends_retry_then_the_backlog_then_live_events(
    api: httpx.Client, feed_base: str, key: str, services: Services
) -> None:
    first = create(api, name="one")
    create(api, name="two")
    backlog = everything(api, services)

    reader = StreamReader(
        feed_base + "/api/events/stream", headers={"Authorization": f"Bearer {key}"}
    )
    try:
        assert reader.status == 200
        assert reader.response_headers is not None
        assert reader.response_headers["content-type"].startswith("text/event-stream")
        assert reader.next().retry is not None
        frames = reader.events(2)
        assert [frame.json() for frame in frames] == backlog
        assert [(f.id, f.event) for f in frames] == [
            (str(e["position"]), e["type"]) for e in backlog
        ]

        api.patch(f"/api/resources/{first['id']}", json={"name": "uno"})
        wrote_at = time.monotonic()
        live = reader.events(1)[0]
        assert time.monotonic() - wrote_at < 1.0
        assert live.event == "Renamed"
        assert live.json()["changes"]["name"]["to"] == "uno"

        # Quiet: a keep-alive comment at least every STREAM_HEARTBEAT (1 s here).
        quiet_from = time.monotonic()
        assert reader.next(timeout=3).comment == "keep-alive"
        assert time.monotonic() - quiet_from < 2.5
    finally:
        reader.close()


def test_last_event_id_resumes_after_it_without_repeating(
    api: httpx.Client, feed_base: str, key: str, services: Services
) -> None:
    for number in range(4):
        create(api, name=f"file {number}")
    events = everything(api, services)
    headers = {"Authorization": f"Bearer {key}"}

    reader = StreamReader(
        feed_base + "/api/events/stream",
        headers={**headers, "Last-Event-ID": str(events[1]["position"])},
        params={"after": "0"},  # the header wins
    )
    try:
        assert [f.json() for f in reader.events(2)] == events[2:]
        assert all(frame.id is None for frame in reader.pending())
    finally:
        reader.close()
    filtered = StreamReader(
        feed_base + "/api/events/stream",
        headers=headers,
        params={"after": str(events[0]["position"]), "type": "FileRegistered"},
    )
    try:
        assert [f.json() for f in filtered.events(3)] == events[1:]
    finally:
        filtered.close()


def test_a_signed_stream_url_opens_without_a_key_and_only_for_its_project(
    api: httpx.Client, feed_base: str, services: Services
) -> None:
    create(api, name="one")
    events = everything(api, services)
    url = api.get("/api/events/stream-url").json()["data"]["url"]
    parts = urlsplit(url)
    assert parts.path == "/api/events/stream"
    query = dict(parse_qsl(parts.query))
    assert query["project"] == str(PROJECT)

    reader = StreamReader(feed_base + parts.path, params=query)
    try:
        assert reader.status == 200
        assert [f.json() for f in reader.events(1)] == events
    finally:
        reader.close()

    def opened(changed: dict[str, str]) -> httpx.Response:
        return httpx.get(feed_base + parts.path, params={**query, **changed}, timeout=10)

    for tampered in (
        {"project": str(PROJECT + 1)},
        {"project": "abc"},
        {"project": "0"},
        {"project": str(2**63)},
        {"expires": str(int(query["expires"]) + 1)},
        {"signature": "0" * 64},
        {"signature": "not hex"},
    ):
        error(opened(tampered), 403)
    expired = urlsplit(services.signer.stream_url(PROJECT, now=time.time() - 7200))
    error(httpx.get(feed_base + expired.path + "?" + expired.query, timeout=10), 403)
    # A content URL's signature opens no stream.
    content = urlsplit(services.signer.content_url("GET", PROJECT))
    signed = dict(parse_qsl(content.query))
    error(opened({"expires": signed["expires"], "signature": signed["signature"]}), 403)


def test_streams_past_max_streams_are_refused_with_retry_after(
    api: httpx.Client, feed_base: str, key: str
) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    readers = [StreamReader(feed_base + "/api/events/stream", headers=headers) for _ in range(3)]
    try:
        assert [reader.status for reader in readers] == [200, 200, 200]
        refused = api.get("/api/events/stream")
        found = error(refused, 503)
        assert found["code"] == "service_unavailable"
        assert int(refused.headers["retry-after"]) > 0
        metrics = httpx.get(feed_base + "/metrics").text
        assert "resources_event_streams_open 3.0" in metrics
    finally:
        for reader in readers:
            reader.close()
    # Closed streams make room again.
    deadline = time.monotonic() + 10
    while True:
        again = StreamReader(feed_base + "/api/events/stream", headers=headers)
        again.close()
        if again.status == 200:
            break
        assert time.monotonic() < deadline, "closed streams kept their places"
        time.sleep(0.2)


def test_a_burst_of_opens_gets_no_more_streams_than_max_streams(feed_base: str, key: str) -> None:
    """Every client of a stopped process comes back at once: the limit holds then."""
    headers = {"Authorization": f"Bearer {key}"}
    start = threading.Barrier(12)
    readers: list[StreamReader] = []

    def open_one() -> None:
        start.wait()
        readers.append(StreamReader(feed_base + "/api/events/stream", headers=headers))

    threads = [threading.Thread(target=open_one) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert sorted(reader.status or 0 for reader in readers) == [200] * 3 + [503] * 9
        metrics = httpx.get(feed_base + "/metrics").text
        assert "resources_event_streams_open 3.0" in metrics
    finally:
        for reader in readers:
            reader.close()


def test_the_export_and_pages_are_declared_with_their_cursor(api: httpx.Client) -> None:
    document = api.get("/schema/openapi.json").json()
    feed = document["paths"]["/api/events"]["get"]
    assert set(feed["responses"]["200"]["content"]) == {"application/json", "application/x-ndjson"}
    stream = document["paths"]["/api/events/stream"]["get"]
    assert "text/event-stream" in stream["responses"]["200"]["content"]
    assert "Last-Event-ID" in {p.get("name") for p in stream["parameters"]}
    assert "cursor" in document["components"]["schemas"]["FeedEnvelope"]["properties"]
