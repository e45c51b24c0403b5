"""Steps that many HTTP tests share."""

from __future__ import annotations

from typing import Any

import httpx


def create(client: httpx.Client, **body: Any) -> dict[str, Any]:
    """Registers a resource and returns it; fails the test unless it is a 201."""
    response = client.post("/api/resources", json={"name": "report.pdf", **body})
    assert response.status_code == 201, response.text
    resource: dict[str, Any] = response.json()["data"]["resource"]
    return resource


def upload(resource: dict[str, Any], content: bytes) -> httpx.Response:
    return httpx.put(resource["upload_url"], content=content, timeout=60)


def confirm(client: httpx.Client, resource: dict[str, Any]) -> httpx.Response:
    return client.patch(f"/api/resources/{resource['id']}", json={"status": "uploaded"})


def uploaded(client: httpx.Client, content: bytes = b"hello", **body: Any) -> dict[str, Any]:
    """A file resource whose bytes are uploaded and confirmed."""
    resource = create(client, size_bytes=len(content), **body)
    assert upload(resource, content).status_code == 204
    response = confirm(client, resource)
    assert response.status_code == 200, response.text
    confirmed: dict[str, Any] = response.json()["data"]["resource"]
    return confirmed


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    """The error envelope of a response that must have the given status."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    assert set(body) <= {"code", "message", "details"}
    assert isinstance(body["message"], str)
    assert body["message"]
    return body
