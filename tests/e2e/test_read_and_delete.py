"""GET one, GET the list, DELETE."""

from __future__ import annotations

import httpx
import pytest

from api.composition.services import Services
from domain.resource import resource_uuid
from tests.acting import Acting
from tests.e2e.flows import create, error, uploaded


def test_get_returns_a_pending_resource_with_a_fresh_upload_url(client: httpx.Client) -> None:
    resource = create(client)
    response = client.get(f"/api/resources/{resource['id']}")
    assert response.status_code == 200
    assert response.headers["etag"] == '"1"'
    body = response.json()["data"]["resource"]
    assert body["status"] == "pending"
    assert body["url"] is None
    assert body["upload_url"].startswith("http")


def test_get_of_an_uploaded_file_carries_a_signed_download_url(client: httpx.Client) -> None:
    resource = uploaded(client, b"abc")
    body = client.get(f"/api/resources/{resource['id']}").json()["data"]["resource"]
    assert httpx.get(body["url"]).content == b"abc"
    assert "upload_url" not in body


@pytest.mark.parametrize("path", ["999", "0", "-1", "abc", "1.5", str(2**63), "9" * 30])
def test_get_of_an_id_that_names_nothing_is_a_404(client: httpx.Client, path: str) -> None:
    assert error(client.get(f"/api/resources/{path}"), 404)["code"] == "not_found"


def test_the_list_is_newest_first_and_paged(client: httpx.Client) -> None:
    ids = [uploaded(client, name=f"file-{n}.txt")["id"] for n in range(5)]
    create(client, name="pending.txt")
    page1 = client.get("/api/resources", params={"per_page": 2}).json()
    assert [r["id"] for r in page1["data"]["resources"]] == ids[::-1][:2]
    assert page1["pagination"] == {"page": 1, "per_page": 2, "total": 5, "total_pages": 3}
    page3 = client.get("/api/resources", params={"per_page": 2, "page": 3}).json()
    assert [r["id"] for r in page3["data"]["resources"]] == [ids[0]]
    beyond = client.get("/api/resources", params={"per_page": 2, "page": 9}).json()
    assert beyond["data"]["resources"] == []
    assert beyond["pagination"]["total"] == 5


def test_the_list_filters_by_status(client: httpx.Client) -> None:
    done = uploaded(client)
    pending = create(client)

    def ids(status: str) -> list[int]:
        listing = client.get("/api/resources", params={"status": status}).json()
        return [r["id"] for r in listing["data"]["resources"]]

    assert ids("uploaded") == [done["id"]]
    assert ids("pending") == [pending["id"]]
    assert ids("all") == [pending["id"], done["id"]]
    assert client.get("/api/resources").json()["data"]["resources"][0]["id"] == done["id"]


def test_the_default_page_size_is_20(client: httpx.Client) -> None:
    for _ in range(21):
        create(client, url="https://example.com/x")
    listing = client.get("/api/resources").json()
    assert len(listing["data"]["resources"]) == 20
    assert listing["pagination"]["total_pages"] == 2


@pytest.mark.parametrize(
    "query",
    ["page=0", "page=x", "per_page=0", "per_page=101", "status=deleted", "per_page=1.5"],
)
def test_a_bad_query_string_is_a_400(client: httpx.Client, query: str) -> None:
    assert error(client.get(f"/api/resources?{query}"), 400)["code"] == "bad_request"


def test_delete_removes_the_resource_and_its_bytes_but_keeps_the_history(
    client: httpx.Client, services: Services, acting: Acting
) -> None:
    resource = uploaded(client)
    assert len(acting.blob_names(resource["id"])) == 1
    response = client.delete(f"/api/resources/{resource['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert error(client.get(f"/api/resources/{resource['id']}"), 404)["code"] == "not_found"
    assert client.get("/api/resources", params={"status": "all"}).json()["data"]["resources"] == []
    assert acting.blob_names(resource["id"]) == []
    stored = services.events.recorder.select_events(resource_uuid(resource["id"]))
    assert stored[-1].topic.endswith(".Deleted")
    assert len(stored) == 3


def test_deleting_twice_is_a_404(client: httpx.Client) -> None:
    resource = create(client)
    assert client.delete(f"/api/resources/{resource['id']}").status_code == 204
    assert error(client.delete(f"/api/resources/{resource['id']}"), 404)["code"] == "not_found"
