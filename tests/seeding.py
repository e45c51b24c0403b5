"""Many events quickly: aggregates changed in memory, appended in large saves."""

from __future__ import annotations

from typing import Any

from api.composition.services import Services
from domain.resource import Actor, Resource

SEEDER = Actor(user_id="seeder")


def seed(
    services: Services,
    *,
    resources: int,
    changes_each: int,
    project_id: int = 4,
    links: bool = False,
) -> int:
    """Registers resources with `changes_each` renames each; returns the events appended.

    Files stay pending; links (`links=True`) are uploaded at once.
    """
    app = services.events
    pending: list[Resource] = []
    events = 0
    for _ in range(resources):
        facts: dict[str, Any] = {
            "resource_id": next_id(services),
            "project_id": project_id,
            "name": "seed",
            "description": None,
            "mime_type": None,
            "size_bytes": None,
            "by": SEEDER,
        }
        resource = (
            Resource.register_link(url="https://example.com/seed", **facts)
            if links
            else Resource.register_file(**facts)
        )
        for change in range(changes_each):
            resource.rename(f"seed-{change}", by=SEEDER)
        pending.append(resource)
        events += 1 + changes_each
        if len(pending) == 1000:
            app.save(*pending)
            pending.clear()
    if pending:
        app.save(*pending)
    return events


def next_id(services: Services) -> int:
    """A public id from the service's sequence, for events written around the service."""
    with services.datastore.get_connection() as conn:
        row = conn.execute("SELECT nextval('resource_ids') AS id").fetchone()
    assert row is not None
    return int(row["id"])


def long_history(
    services: Services, *, project_id: int, events: int, name: str = "long"
) -> Resource:
    """One file resource renamed until it has `events` events, saved in large batches."""
    resource = Resource.register_file(
        resource_id=next_id(services),
        project_id=project_id,
        name=name,
        description=None,
        mime_type=None,
        size_bytes=None,
        by=SEEDER,
    )
    services.events.save(resource)  # the registration, however few events are asked for
    while resource.version < events:
        for _ in range(min(1000, events - resource.version)):
            resource.rename(f"n{resource.version}", by=SEEDER)
        services.events.save(resource)
    return resource
