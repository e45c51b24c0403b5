"""If-Match on PATCH and DELETE."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from api.composition.services import Services
from domain.resource import resource_uuid
from tests.e2e.flows import create, error


def events_of(services: Services, resource_id: int) -> int:
    return len(services.events.recorder.select_events(resource_uuid(resource_id)))


def test_a_matching_if_match_applies_the_change(client: httpx.Client) -> None:
    resource = create(client)
    response = client.patch(
        f"/api/resources/{resource['id']}", json={"name": "b"}, headers={"If-Match": '"1"'}
    )
    assert response.status_code == 200
    assert response.headers["etag"] == '"2"'


def test_a_stale_if_match_is_a_412_that_appends_nothing(
    client: httpx.Client, services: Services
) -> None:
    resource = create(client)
    path = f"/api/resources/{resource['id']}"
    client.patch(path, json={"name": "b"})
    stale = client.patch(path, json={"name": "c"}, headers={"If-Match": '"1"'})
    assert error(stale, 412)["code"] == "precondition_failed"
    assert stale.headers["etag"] == '"2"'
    assert error(client.delete(path, headers={"If-Match": '"1"'}), 412)["code"] == (
        "precondition_failed"
    )
    assert events_of(services, resource["id"]) == 2
    assert client.get(path).json()["data"]["resource"]["name"] == "b"


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("*", 200),
        ('"7", "1"', 200),
        ('W/"1"', 412),
        ('"abc"', 412),
        ("1", 400),
        ('"1', 400),
        ('"1" "2"', 400),
        ("", 400),
    ],
)
def test_if_match_follows_rfc_9110(client: httpx.Client, header: str, status: int) -> None:
    resource = create(client)
    response = client.patch(
        f"/api/resources/{resource['id']}", json={"name": "b"}, headers={"If-Match": header}
    )
    assert response.status_code == status, response.text


def test_if_match_star_on_a_missing_resource_is_a_404(client: httpx.Client) -> None:
    response = client.patch("/api/resources/999", json={"name": "b"}, headers={"If-Match": "*"})
    assert error(response, 404)["code"] == "not_found"


def test_delete_with_a_matching_if_match_deletes(client: httpx.Client) -> None:
    resource = create(client)
    response = client.delete(f"/api/resources/{resource['id']}", headers={"If-Match": '"1"'})
    assert response.status_code == 204


def test_twenty_clients_with_the_same_if_match_one_wins(
    client: httpx.Client, services: Services
) -> None:
    resource = create(client)
    path = f"/api/resources/{resource['id']}"

    def attempt(number: int) -> int:
        return client.patch(
            path, json={"name": f"n{number}"}, headers={"If-Match": '"1"'}
        ).status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(attempt, range(20)))
    assert sorted(statuses) == [200] + [412] * 19
    assert events_of(services, resource["id"]) == 2
