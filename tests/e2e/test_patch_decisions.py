"""A server decides a PATCH on the row it last saw; the store must confirm every answer.

Each test lets the server see a resource, then changes the resource (or the key)
behind the server's back, through the event store directly, as another server
would. The next PATCH must answer from the store's state, never the old row.
"""

from __future__ import annotations

from typing import Any

import httpx
from msgspec import UNSET, UnsetType

from api.composition.services import Services
from application.access import Caller, key_digest
from application.commands import UpdateResource
from domain.resource import resource_uuid
from tests.e2e.conftest import PROJECT
from tests.e2e.flows import create, error


def caller_for(services: Services, project_id: int, user_id: str) -> Caller:
    _, secret = services.keys.create(project_id, user_id)
    digest = key_digest(secret)
    assert digest is not None
    return Caller(digest=digest)


def change_elsewhere(
    services: Services,
    resource_id: int,
    *,
    name: str | UnsetType = UNSET,
    description: str | UnsetType = UNSET,
) -> None:
    with services.blocking() as other:  # another server: its own pool and memory
        other.update(
            caller_for(services, PROJECT, "elsewhere"),
            UpdateResource(resource_id=resource_id, name=name, description=description),
        )


def versions(services: Services, resource_id: int) -> list[int]:
    stored = services.events.recorder.select_events(resource_uuid(resource_id))
    return [event.originator_version for event in stored]


def patch(client: httpx.Client, resource_id: int, **body: str) -> httpx.Response:
    return client.patch(f"/api/resources/{resource_id}", json=body)


def seen_then_changed_elsewhere(
    client: httpx.Client,
    services: Services,
    *,
    name: str | UnsetType = UNSET,
    description: str | UnsetType = UNSET,
) -> int:
    """A resource the server has renamed (so it holds its row), then changed behind it."""
    resource_id = int(create(client, name="a.txt")["id"])
    assert patch(client, resource_id, name="b.txt").status_code == 200
    change_elsewhere(services, resource_id, name=name, description=description)
    return resource_id


def the_fourth_event(
    response: httpx.Response, services: Services, resource_id: int
) -> dict[str, Any]:
    """The resource a PATCH answered with, having checked that it appended event 4."""
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"4"'
    assert versions(services, resource_id) == [1, 2, 3, 4]
    body: dict[str, Any] = response.json()["data"]["resource"]
    return body


def test_a_change_made_elsewhere_is_kept_and_shown(
    client: httpx.Client, services: Services
) -> None:
    resource_id = seen_then_changed_elsewhere(
        client, services, description="written by another server"
    )

    body = the_fourth_event(patch(client, resource_id, name="c.txt"), services, resource_id)

    assert body["name"] == "c.txt"
    assert body["description"] == "written by another server"


def test_a_patch_that_looks_like_no_change_on_an_old_row_is_a_change(
    client: httpx.Client, services: Services
) -> None:
    resource_id = seen_then_changed_elsewhere(client, services, name="elsewhere.txt")

    body = the_fourth_event(patch(client, resource_id, name="b.txt"), services, resource_id)

    assert body["name"] == "b.txt"


def test_if_match_is_judged_against_the_stores_version(
    client: httpx.Client, services: Services
) -> None:
    resource_id = seen_then_changed_elsewhere(client, services, name="elsewhere.txt")

    current = client.patch(
        f"/api/resources/{resource_id}", json={"name": "c.txt"}, headers={"If-Match": '"3"'}
    )
    assert current.status_code == 200, current.text
    old = client.patch(
        f"/api/resources/{resource_id}", json={"name": "d.txt"}, headers={"If-Match": '"3"'}
    )
    error(old, 412)
    assert old.headers["etag"] == '"4"'


def test_a_key_revoked_after_it_was_used_is_refused_and_nothing_is_written(
    base_url: str, services: Services
) -> None:
    key_id, secret = services.keys.create(PROJECT, "user-id")
    with httpx.Client(
        base_url=base_url, timeout=60, headers={"Authorization": f"Bearer {secret}"}
    ) as client:
        resource = create(client, name="a.txt")
        assert patch(client, resource["id"], name="b.txt").status_code == 200
        assert services.keys.revoke(key_id)

        error(patch(client, resource["id"], name="c.txt"), 401)

    assert versions(services, resource["id"]) == [1, 2]


def test_a_resource_deleted_elsewhere_is_not_found(
    client: httpx.Client, services: Services
) -> None:
    resource = create(client, name="a.txt")
    assert patch(client, resource["id"], name="b.txt").status_code == 200
    client.delete(f"/api/resources/{resource['id']}")

    error(patch(client, resource["id"], name="c.txt"), 404)
    assert versions(services, resource["id"]) == [1, 2, 3]
