"""PATCH /api/resources/{id}: each real change one event; the response shows it."""

from __future__ import annotations

import httpx
import pytest

from api.composition.services import Services
from domain.resource import resource_uuid
from tests.e2e.flows import create, error, upload


def stored_events(services: Services, resource_id: int) -> list[str]:
    stored = services.events.recorder.select_events(resource_uuid(resource_id))
    return [event.topic.rsplit(".", 1)[-1] for event in stored]


def test_the_seed_examples_confirm_and_rename(client: httpx.Client, services: Services) -> None:
    resource = create(client, name="checkout-flow.docx", size_bytes=5)
    assert upload(resource, b"bytes").status_code == 204

    confirmed = client.patch(
        f"/api/resources/{resource['id']}",
        headers={"Content-Type": "application/json"},
        content=b'{"status": "uploaded"}',
    )
    assert confirmed.status_code == 200
    assert confirmed.json()["data"]["resource"]["status"] == "uploaded"
    assert confirmed.json()["data"]["resource"]["url"].startswith("http")

    renamed = client.patch(
        f"/api/resources/{resource['id']}",
        headers={"Content-Type": "application/json"},
        content=b'{"name": "checkout-flow-v2.docx"}',
    )
    assert renamed.status_code == 200
    assert renamed.headers["etag"] == '"3"'
    body = renamed.json()["data"]["resource"]
    assert body["name"] == "checkout-flow-v2.docx"
    assert body["updated_at"] > body["created_at"]
    assert stored_events(services, resource["id"]) == [
        "FileRegistered",
        "UploadConfirmed",
        "Renamed",
    ]


def test_one_patch_of_three_fields_appends_three_events(
    client: httpx.Client, services: Services
) -> None:
    resource = create(client, size_bytes=2)
    assert upload(resource, b"ok").status_code == 204
    response = client.patch(
        f"/api/resources/{resource['id']}",
        json={"name": "new.txt", "description": "final", "status": "uploaded"},
    )
    assert response.status_code == 200
    body = response.json()["data"]["resource"]
    assert (body["name"], body["description"], body["status"]) == ("new.txt", "final", "uploaded")
    assert response.headers["etag"] == '"4"'
    assert stored_events(services, resource["id"])[1:] == [
        "Renamed",
        "DescriptionChanged",
        "UploadConfirmed",
    ]


def test_a_patch_that_changes_nothing_appends_nothing(
    client: httpx.Client, services: Services
) -> None:
    resource = create(client, name="same.txt", description="same")
    response = client.patch(
        f"/api/resources/{resource['id']}", json={"name": " same.txt ", "description": "same"}
    )
    assert response.status_code == 200
    assert response.headers["etag"] == '"1"'
    assert client.patch(f"/api/resources/{resource['id']}", json={}).status_code == 200
    assert stored_events(services, resource["id"]) == ["FileRegistered"]


def test_a_null_description_clears_it(client: httpx.Client) -> None:
    resource = create(client, description="draft")
    response = client.patch(f"/api/resources/{resource['id']}", json={"description": None})
    assert response.json()["data"]["resource"]["description"] is None


def test_a_patch_with_one_bad_field_changes_nothing(
    client: httpx.Client, services: Services
) -> None:
    resource = create(client, size_bytes=3)
    response = client.patch(
        f"/api/resources/{resource['id']}", json={"name": "fine.txt", "status": "uploaded"}
    )
    assert error(response, 409)["code"] == "upload_incomplete"
    assert stored_events(services, resource["id"]) == ["FileRegistered"]
    again = client.get(f"/api/resources/{resource['id']}").json()["data"]["resource"]
    assert again["name"] == "report.pdf"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"description": "d" * 10_001}, "description"),
        ({"description": "a\u0000b"}, "description"),
        ({"status": "pending"}, "status"),
        ({"status": "deleted"}, "status"),
        ({"size_bytes": 5}, "size_bytes"),
        ({"project_id": 5}, "project_id"),
    ],
)
def test_an_invalid_patch_is_a_422(
    client: httpx.Client, services: Services, payload: dict[str, object], field: str | None
) -> None:
    resource = create(client)
    body = error(client.patch(f"/api/resources/{resource['id']}", json=payload), 422)
    assert body["code"] == "validation_error"
    if field is not None:
        assert field in [detail["field"] for detail in body["details"]]
    assert stored_events(services, resource["id"]) == ["FileRegistered"]


def test_patching_a_link_to_uploaded_is_a_no_op(client: httpx.Client) -> None:
    link = create(client, url="https://example.com/a")
    response = client.patch(f"/api/resources/{link['id']}", json={"status": "uploaded"})
    assert response.status_code == 200
    assert response.headers["etag"] == '"1"'


def test_patching_a_missing_or_deleted_resource_is_a_404(client: httpx.Client) -> None:
    assert error(client.patch("/api/resources/999", json={"name": "x"}), 404)["code"] == "not_found"
    resource = create(client)
    assert client.delete(f"/api/resources/{resource['id']}").status_code == 204
    response = client.patch(f"/api/resources/{resource['id']}", json={"name": "x"})
    assert error(response, 404)["code"] == "not_found"
