"""Who changed what, when; and what a resource looked like then."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from tests.e2e.flows import create, error, upload


def history(client: httpx.Client, resource_id: int, **params: int) -> dict[str, object]:
    response = client.get(f"/api/resources/{resource_id}/history", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_history_lists_every_event_oldest_first_with_its_changes(client: httpx.Client) -> None:
    resource = create(client, name="a.txt", size_bytes=2, description="draft")
    assert upload(resource, b"ok").status_code == 204
    path = f"/api/resources/{resource['id']}"
    client.patch(
        path, json={"status": "uploaded", "name": "b.txt"}, headers={"X-Request-ID": "req-42"}
    )
    client.patch(path, json={"description": None})

    body = history(client, resource["id"])
    events = body["data"]["events"]  # type: ignore[index]
    assert [e["type"] for e in events] == [
        "FileRegistered",
        "Renamed",
        "UploadConfirmed",
        "DescriptionChanged",
    ]
    assert [e["version"] for e in events] == [1, 2, 3, 4]
    registered, renamed, confirmed, described = events
    assert registered["changes"]["name"] == {"from": None, "to": "a.txt"}
    assert registered["changes"]["status"] == {"from": None, "to": "pending"}
    assert registered["changes"]["description"] == {"from": None, "to": "draft"}
    assert renamed["changes"] == {"name": {"from": "a.txt", "to": "b.txt"}}
    assert confirmed["changes"]["status"] == {"from": "pending", "to": "uploaded"}
    assert described["changes"] == {"description": {"from": "draft", "to": None}}
    assert {e["actor"] for e in events} == {"user-id"}
    assert renamed["request_id"] == confirmed["request_id"] == "req-42"
    assert described["request_id"] not in (None, "req-42")
    assert all(e["key_id"] == events[0]["key_id"] for e in events)
    assert events[0]["occurred_at"] <= events[-1]["occurred_at"]
    assert body["pagination"] == {"page": 1, "per_page": 20, "total": 4, "total_pages": 1}


def test_the_request_id_is_echoed_or_generated(client: httpx.Client) -> None:
    sent = client.get("/api/resources", headers={"X-Request-ID": "trace-7"})
    assert sent.headers["x-request-id"] == "trace-7"
    generated = client.get("/api/resources").headers["x-request-id"]
    assert len(generated) >= 16
    assert client.get("/nothing").headers["x-request-id"]


def test_history_pages_and_survives_deletion(client: httpx.Client) -> None:
    resource = create(client, name="n0")
    path = f"/api/resources/{resource['id']}"
    for number in range(1, 8):
        client.patch(path, json={"name": f"n{number}"})
    assert client.delete(path).status_code == 204

    second = history(client, resource["id"], page=2, per_page=3)
    events = second["data"]["events"]  # type: ignore[index]
    assert [e["version"] for e in events] == [4, 5, 6]
    assert events[0]["changes"] == {"name": {"from": "n2", "to": "n3"}}
    last = history(client, resource["id"], page=3, per_page=3)["data"]["events"]  # type: ignore[index]
    assert [e["type"] for e in last] == ["Renamed", "Renamed", "Deleted"]
    assert last[-1]["changes"] == {"deleted": {"from": False, "to": True}}
    assert history(client, resource["id"], page=9, per_page=3)["data"]["events"] == []  # type: ignore[index]


def test_another_projects_history_is_a_404(client: httpx.Client, stranger: httpx.Client) -> None:
    resource = create(client)
    assert (
        error(stranger.get(f"/api/resources/{resource['id']}/history"), 404)["code"] == "not_found"
    )
    assert error(client.get("/api/resources/999/history"), 404)["code"] == "not_found"


def test_get_at_a_version_shows_the_resource_as_it_was(client: httpx.Client) -> None:
    resource = create(client, name="first")
    path = f"/api/resources/{resource['id']}"
    client.patch(path, json={"name": "second"})
    client.patch(path, json={"name": "third"})

    at_two = client.get(path, params={"version": 2})
    assert at_two.status_code == 200
    assert at_two.headers["etag"] == '"2"'
    assert at_two.json()["data"]["resource"]["name"] == "second"
    assert client.get(path, params={"version": 1}).json()["data"]["resource"]["name"] == "first"
    assert client.get(path).json()["data"]["resource"]["name"] == "third"


@pytest.mark.parametrize(("version", "status"), [("4", 404), ("0", 400), ("-1", 400)])
def test_a_version_that_never_was_is_a_404_and_one_that_cannot_be_a_400(
    client: httpx.Client, version: str, status: int
) -> None:
    resource = create(client)
    client.patch(f"/api/resources/{resource['id']}", json={"name": "b"})
    client.patch(f"/api/resources/{resource['id']}", json={"name": "c"})
    response = client.get(f"/api/resources/{resource['id']}?version={version}")
    error(response, status)


def test_a_deleted_resource_can_be_seen_as_it_was_before(client: httpx.Client) -> None:
    resource = create(client, name="gone")
    path = f"/api/resources/{resource['id']}"
    assert client.delete(path).status_code == 204
    assert client.get(path, params={"version": 1}).json()["data"]["resource"]["name"] == "gone"
    assert error(client.get(path, params={"version": 2}), 404)["code"] == "not_found"


def test_as_of_shows_the_resource_at_that_time(client: httpx.Client) -> None:
    resource = create(client, name="morning")
    path = f"/api/resources/{resource['id']}"
    time.sleep(0.05)
    between = datetime.now(UTC)
    time.sleep(0.05)
    client.patch(path, json={"name": "evening"})

    then = client.get(path, params={"as_of": between.isoformat().replace("+00:00", "Z")})
    assert then.status_code == 200
    assert then.json()["data"]["resource"]["name"] == "morning"
    assert then.headers["etag"] == '"1"'
    offset = between.astimezone(timezone(timedelta(hours=2)))
    assert (
        client.get(path, params={"as_of": offset.isoformat()}).json()["data"]["resource"]["name"]
        == "morning"
    )
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert client.get(path, params={"as_of": later}).json()["data"]["resource"]["name"] == "evening"
    before = (between - timedelta(days=1)).isoformat()
    assert error(client.get(path, params={"as_of": before}), 404)["code"] == "not_found"


@pytest.mark.parametrize(
    "query", ["as_of=yesterday", "as_of=2026-11-28", "as_of=2026-11-28T10:00:00", "version=two"]
)
def test_a_malformed_version_or_time_is_a_400(client: httpx.Client, query: str) -> None:
    resource = create(client)
    response = client.get(f"/api/resources/{resource['id']}?{query}")
    assert error(response, 400)["code"] == "bad_request"


def test_version_and_as_of_together_are_a_400(client: httpx.Client) -> None:
    resource = create(client)
    query = "version=1&as_of=2026-11-28T10:00:00Z"
    assert (
        error(client.get(f"/api/resources/{resource['id']}?{query}"), 400)["code"] == "bad_request"
    )


def test_time_travel_in_another_project_is_a_404(
    client: httpx.Client, stranger: httpx.Client
) -> None:
    resource = create(client)
    path = f"/api/resources/{resource['id']}"
    assert error(stranger.get(path, params={"version": 1}), 404)["code"] == "not_found"
    now = datetime.now(UTC).isoformat()
    assert error(stranger.get(path, params={"as_of": now}), 404)["code"] == "not_found"
