"""Uploaded file resources, seeded cheaply: registered and confirmed through the library.

What `make run` mostly serves: a file resource whose upload was confirmed, so every
answer about it (GET, PATCH, a list page) carries a freshly signed download URL.
The events are the service's own (`FileRegistered`, `Renamed`, `UploadConfirmed`),
appended in large saves rather than one HTTP request each; no bytes are stored, as
nothing here downloads them.
"""

from __future__ import annotations

from api.services import Services
from domain.resource import Resource
from tests.seeding import SEEDER, long_history, next_id

SIZE_BYTES = 245_000


def seed_uploaded_files(
    services: Services, *, resources: int, project_id: int = 4, renames_each: int = 0
) -> tuple[list[int], int]:
    """Registers `resources` files, renames each `renames_each` times, confirms their
    uploads; returns their public ids and the number of events appended."""
    ids: list[int] = []
    pending: list[Resource] = []
    events = 0
    for _ in range(resources):
        resource = Resource.register_file(
            resource_id=next_id(services),
            project_id=project_id,
            name="seed.docx",
            description=None,
            mime_type="application/octet-stream",
            size_bytes=SIZE_BYTES,
            by=SEEDER,
        )
        for change in range(renames_each):
            resource.rename(f"seed-{change}.docx", by=SEEDER)
        resource.confirm_upload(SIZE_BYTES, by=SEEDER)
        assert resource.status == "uploaded"
        ids.append(resource.resource_id)
        pending.append(resource)
        events += resource.version
        if len(pending) == 1000:
            services.events.save(*pending)
            pending.clear()
    if pending:
        services.events.save(*pending)
    return ids, events


def new_file(services: Services, *, project_id: int = 4, name: str = "new") -> int:
    """One pending file resource with one event (registered, saved); its public id."""
    return long_history(services, project_id=project_id, events=1, name=name).resource_id
