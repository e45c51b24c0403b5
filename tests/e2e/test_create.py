"""POST /api/resources."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.e2e.flows import create, error

RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def test_a_file_is_created_pending_with_an_upload_url(client: httpx.Client) -> None:
    response = client.post(
        "/api/resources",
        json={"name": " checkout-flow.docx ", "size_bytes": 245000, "description": "draft"},
    )
    assert response.status_code == 201
    resource = response.json()["data"]["resource"]
    assert response.headers["location"] == f"/api/resources/{resource['id']}"
    assert response.headers["etag"] == '"1"'
    assert resource["id"] >= 1
    assert resource["project_id"] == 4
    assert resource["name"] == "checkout-flow.docx"
    assert resource["description"] == "draft"
    assert resource["status"] == "pending"
    assert resource["mime_type"] == "application/octet-stream"
    assert resource["size_bytes"] == 245000
    assert resource["url"] is None
    assert resource["created_by"] == "user-id"
    assert RFC3339_UTC.fullmatch(resource["created_at"])
    assert resource["updated_at"] == resource["created_at"]
    assert "/api/resources/" in resource["upload_url"]
    assert "signature=" in resource["upload_url"]


def test_a_link_is_created_uploaded_without_an_upload(client: httpx.Client) -> None:
    resource = create(client, url="https://example.com/spec.pdf", mime_type="application/pdf")
    assert resource["status"] == "uploaded"
    assert resource["url"] == "https://example.com/spec.pdf"
    assert "upload_url" not in resource


def test_ids_are_never_reused(client: httpx.Client) -> None:
    first = create(client)
    assert client.delete(f"/api/resources/{first['id']}").status_code == 204
    assert create(client)["id"] > first["id"]


def test_the_body_project_id_must_be_the_keys_project(client: httpx.Client) -> None:
    assert create(client, project_id=4)["project_id"] == 4
    body = error(client.post("/api/resources", json={"name": "x", "project_id": 5}), 422)
    assert body["code"] == "validation_error"
    assert body["details"][0]["field"] == "project_id"


def test_a_name_is_counted_once_trimmed(client: httpx.Client) -> None:
    padded = " " * 10 + "x" * 255 + "\t\n"
    created = client.post("/api/resources", json={"name": padded})
    assert created.status_code == 201, created.text
    assert created.json()["data"]["resource"]["name"] == "x" * 255
    error(client.post("/api/resources", json={"name": " " + "x" * 256 + " "}), 422)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": "a\u0007b"}, "name"),
        ({"name": 5}, "name"),
        ({"name": "x", "size_bytes": -1}, "size_bytes"),
        ({"name": "x", "size_bytes": "big"}, "size_bytes"),
        ({"name": "x", "mime_type": "pdf"}, "mime_type"),
        ({"name": "x", "description": "d" * 10_001}, "description"),
        ({"name": "x", "description": "nul \u0000 inside"}, "description"),
        ({"name": "x", "url": "ftp://example.com/f"}, "url"),
        ({"name": "x", "colour": "red"}, "colour"),
    ],
)
def test_an_invalid_body_is_a_422_that_creates_nothing(
    client: httpx.Client, payload: dict[str, object], field: str | None
) -> None:
    body = error(client.post("/api/resources", json=payload), 422)
    assert body["code"] == "validation_error"
    if field is not None:
        assert field in [detail["field"] for detail in body["details"]]
    listing = client.get("/api/resources", params={"status": "all"}).json()
    assert listing["pagination"]["total"] == 0


def test_a_declared_size_beyond_the_upload_limit_is_refused(client: httpx.Client) -> None:
    body = error(client.post("/api/resources", json={"name": "x", "size_bytes": 2**40}), 422)
    assert body["details"][0]["field"] == "size_bytes"
