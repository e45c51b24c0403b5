"""Health and the OpenAPI document, without a key."""

from __future__ import annotations

from importlib.metadata import version

import httpx


def test_health_answers_without_a_key(anonymous: httpx.Client) -> None:
    response = anonymous.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_the_openapi_document_describes_every_endpoint(anonymous: httpx.Client) -> None:
    response = anonymous.get("/schema/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    operations = {
        operation["operationId"]
        for path in document["paths"].values()
        for operation in path.values()
    }
    assert operations >= {
        "createResource",
        "listResources",
        "getResource",
        "updateResource",
        "deleteResource",
        "uploadContent",
        "downloadContent",
        "health",
    }
    patch = document["paths"]["/api/resources/{resource_id}"]["patch"]
    assert {"404", "409", "422"} <= set(patch["responses"])
    assert "ErrorEnvelope" in str(patch["responses"]["422"])
    assert "BearerAuth" in document["components"]["securitySchemes"]


def test_the_document_and_the_command_line_state_one_version(anonymous: httpx.Client) -> None:
    document = anonymous.get("/schema/openapi.json").json()
    assert document["info"]["version"] == version("resource-service")


def test_the_docs_page_is_served(anonymous: httpx.Client) -> None:
    response = anonymous.get("/schema/swagger")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()
