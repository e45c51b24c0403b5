"""Keys, and projects that cannot see each other."""

from __future__ import annotations

import httpx
import pytest

from api.composition.services import Services
from tests.e2e.flows import create, error

PROTECTED = [
    ("GET", "/api/resources"),
    ("POST", "/api/resources"),
    ("GET", "/api/resources/1"),
    ("PATCH", "/api/resources/1"),
    ("DELETE", "/api/resources/1"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-key",
        "Bearer rsk_" + "A" * 43,
    ],
)
def test_a_missing_malformed_or_unknown_key_is_a_401(
    anonymous: httpx.Client, method: str, path: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = anonymous.request(method, path, headers=headers, json={"name": "x"})
    assert error(response, 401)["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_revoked_key_stops_working_at_once(anonymous: httpx.Client, services: Services) -> None:
    key_id, secret = services.keys.create(4, "user-id")
    headers = {"Authorization": f"Bearer {secret}"}
    assert anonymous.get("/api/resources", headers=headers).status_code == 200
    assert services.keys.revoke(key_id)
    assert error(anonymous.get("/api/resources", headers=headers), 401)["code"] == "unauthorized"


def test_keys_are_stored_only_as_hashes(services: Services) -> None:
    _, secret = services.keys.create(4, "user-id")
    assert secret.startswith("rsk_")
    assert len(secret) >= 36
    with services.datastore.get_connection() as conn:
        stored = conn.execute("SELECT * FROM api_keys").fetchall()
    assert stored
    assert all(secret.encode() not in bytes(str(row), "utf-8") for row in stored)
    assert all(secret[4:] not in str(row) for row in stored)


def test_another_projects_resource_does_not_exist_for_you(
    client: httpx.Client, stranger: httpx.Client
) -> None:
    resource = create(client)
    path = f"/api/resources/{resource['id']}"
    missing = stranger.get("/api/resources/999999")
    for response in (
        stranger.get(path),
        stranger.patch(path, json={"name": "mine"}),
        stranger.delete(path),
    ):
        assert response.status_code == 404
        assert response.json() == missing.json()
    assert (
        stranger.get("/api/resources", params={"status": "all"}).json()["data"]["resources"] == []
    )
    assert client.get(path).json()["data"]["resource"]["name"] == "report.pdf"


def test_the_creator_is_the_keys_user(stranger: httpx.Client) -> None:
    resource = create(stranger)
    assert (resource["created_by"], resource["project_id"]) == ("stranger", 5)
