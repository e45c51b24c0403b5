"""Many events quickly: aggregates changed in memory, appended in large saves."""

from __future__ import annotations

from api.services import Services
from domain.resource import Actor, Resource

SEEDER = Actor(user_id="seeder")


def seed(services: Services, *, resources: int, changes_each: int, project_id: int = 4) -> int:
    """Registers resources with `changes_each` renames each; returns the events appended."""
    app = services.resources
    pending: list[Resource] = []
    events = 0
    for _ in range(resources):
        resource = Resource.register_file(
            resource_id=app.ids.next_id(),
            project_id=project_id,
            name="seed",
            description=None,
            mime_type=None,
            size_bytes=None,
            by=SEEDER,
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
