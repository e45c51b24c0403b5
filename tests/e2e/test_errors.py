"""Every error, Litestar's own included, comes in the one envelope."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.flows import create, error


def test_an_unknown_route_is_a_404(client: httpx.Client) -> None:
    assert error(client.get("/api/nothing-here"), 404)["code"] == "not_found"


@pytest.mark.parametrize(
    "path", ["/", "/schema/redoc", "/schema/elements", "/schema/nothing", "/schema/x.yaml"]
)
def test_every_unknown_path_is_the_json_404_that_points_to_the_docs(
    anonymous: httpx.Client, path: str
) -> None:
    response = anonymous.get(path)
    assert response.headers["content-type"] == "application/json"
    found = error(response, 404)
    assert found["code"] == "not_found"
    assert "/schema/swagger" in found["message"]


def test_a_method_the_route_lacks_is_a_405(client: httpx.Client) -> None:
    assert error(client.put("/api/resources", json={}), 405)["code"] == "method_not_allowed"
    assert error(client.post("/api/resources/1", json={}), 405)["code"] == "method_not_allowed"


@pytest.mark.parametrize("body", [b"{bad json", b'{"name": "x",}', b"\xff\xfe"])
def test_malformed_json_is_a_400(client: httpx.Client, body: bytes) -> None:
    response = client.post(
        "/api/resources", content=body, headers={"Content-Type": "application/json"}
    )
    assert error(response, 400)["code"] == "bad_request"


def test_a_missing_body_is_a_400(client: httpx.Client) -> None:
    response = client.post("/api/resources", headers={"Content-Type": "application/json"})
    assert error(response, 400)["code"] == "bad_request"


def test_a_body_that_is_not_an_object_is_a_422(client: httpx.Client) -> None:
    assert error(client.post("/api/resources", json=["x"]), 422)["code"] == "validation_error"


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_a_body_that_is_not_json_is_a_415(client: httpx.Client, content_type: str) -> None:
    response = client.post(
        "/api/resources", content=b'{"name": "x"}', headers={"Content-Type": content_type}
    )
    assert error(response, 415)["code"] == "unsupported_media_type"
    resource = create(client)
    response = client.patch(
        f"/api/resources/{resource['id']}",
        content=b'{"name": "x"}',
        headers={"Content-Type": content_type},
    )
    assert error(response, 415)["code"] == "unsupported_media_type"


def test_json_with_a_charset_is_accepted(client: httpx.Client) -> None:
    response = client.post(
        "/api/resources",
        content=b'{"name": "x"}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201


def test_a_huge_json_body_is_a_413(client: httpx.Client) -> None:
    response = client.post("/api/resources", json={"name": "x", "description": "d" * 2_000_000})
    found = error(response, 413)
    assert found["code"] == "payload_too_large"
    assert "1 MiB (1,048,576 bytes)" in found["message"]


def test_validation_errors_name_each_field(client: httpx.Client) -> None:
    body = error(client.post("/api/resources", json={"name": 1}), 422)
    assert body["details"] == [{"field": "name", "message": "Expected `str`, got `int`"}]
