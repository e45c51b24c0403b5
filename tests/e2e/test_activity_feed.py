"""GET /api/activity: the project's audit feed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from api.composition.services import Services
from tests.e2e.flows import create, error
from tests.feed import caught_up, running, wait_until
from tests.seeding import seed


@pytest.fixture
def feed(services: Services) -> Iterator[Services]:
    with running(services):
        yield services


def entries(client: httpx.Client, services: Services, **params: Any) -> list[dict[str, Any]]:
    wait_until(lambda: caught_up(services))
    response = client.get("/api/activity", params=params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["data"]["events"]
    return found


def test_the_feed_lists_the_projects_events_newest_first(
    client: httpx.Client, stranger: httpx.Client, feed: Services
) -> None:
    first = create(client, name="one")
    second = create(client, name="two")
    client.patch(f"/api/resources/{first['id']}", json={"name": "uno"})
    create(stranger, name="elsewhere")

    found = entries(client, feed)
    assert [(e["resource_id"], e["type"]) for e in found] == [
        (first["id"], "Renamed"),
        (second["id"], "FileRegistered"),
        (first["id"], "FileRegistered"),
    ]
    assert found[0]["changes"] == {"name": {"from": "one", "to": "uno"}}
    assert found[0]["actor"] == "user-id"
    assert found[0]["id"] > found[1]["id"] > found[2]["id"]
    theirs = entries(stranger, feed)
    assert [e["type"] for e in theirs] == ["FileRegistered"]


def test_the_feed_filters_by_actor_type_resource_and_time(
    client: httpx.Client, feed: Services
) -> None:
    first = create(client, name="one")
    time.sleep(0.05)
    middle = datetime.now(UTC).isoformat()
    time.sleep(0.05)
    second = create(client, name="two")
    client.delete(f"/api/resources/{second['id']}")

    assert [e["type"] for e in entries(client, feed, type="Deleted")] == ["Deleted"]
    assert {e["resource_id"] for e in entries(client, feed, resource_id=first["id"])} == {
        first["id"]
    }
    assert len(entries(client, feed, since=middle)) == 2
    assert [e["resource_id"] for e in entries(client, feed, until=middle)] == [first["id"]]
    assert entries(client, feed, actor="nobody") == []
    assert len(entries(client, feed, actor="user-id")) == 3


def test_the_feed_pages(client: httpx.Client, feed: Services) -> None:
    for number in range(5):
        create(client, name=f"f{number}")
    wait_until(lambda: caught_up(feed))
    body = client.get("/api/activity", params={"per_page": 2, "page": 3}).json()
    assert len(body["data"]["events"]) == 1
    assert body["pagination"] == {"page": 3, "per_page": 2, "total": 5, "total_pages": 3}


@pytest.mark.parametrize(
    "query", ["type=Exploded", "since=yesterday", "until=2026-01-01", "resource_id=0", "page=0"]
)
def test_a_bad_filter_is_a_400(client: httpx.Client, query: str) -> None:
    assert error(client.get(f"/api/activity?{query}"), 400)["code"] == "bad_request"


def test_the_feed_needs_a_key(anonymous: httpx.Client) -> None:
    assert error(anonymous.get("/api/activity"), 401)["code"] == "unauthorized"


def test_a_deep_page_points_to_the_event_feed_from_its_oldest_event(
    client: httpx.Client, feed: Services
) -> None:
    appended = seed(feed, resources=501, changes_each=19, links=True)
    assert appended == 10_020
    wait_until(lambda: caught_up(feed), timeout=60)
    shallow = client.get("/api/activity", params={"page": 100, "per_page": 100})
    assert "link" not in shallow.headers  # 9,900 events skipped: cheap enough
    deep = client.get("/api/activity", params={"page": 101, "per_page": 100})
    assert deep.status_code == 200
    page = deep.json()["data"]["events"]
    assert len(page) == 20  # the project's oldest
    target, _, relation = deep.headers["link"].partition(">; ")
    assert relation == 'rel="related"'
    followed = client.get(target.removeprefix("<"), params={"limit": 20})
    assert [e["position"] for e in followed.json()["data"]["events"]] == [
        e["id"] for e in reversed(page)
    ]
    renames = client.get("/api/activity", params={"page": 101, "per_page": 100, "type": "Renamed"})
    assert renames.headers["link"].startswith("</api/events?after=")
    assert "type=Renamed" in renames.headers["link"]
