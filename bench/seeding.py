"""Uploaded file resources, seeded cheaply: registered and confirmed through the library.

What `make run` mostly serves: a file resource whose upload was confirmed, so every
answer about it (GET, PATCH, a list page) carries a freshly signed download URL.
The events are the service's own (`FileRegistered`, `Renamed`, `UploadConfirmed`),
appended in large saves rather than one HTTP request each; no bytes are stored, as
nothing here downloads them.
"""

from __future__ import annotations

from collections.abc import Sequence

from api.composition.services import Services
from domain.resource import Actor, Resource
from tests.seeding import SEEDER, long_history

SIZE_BYTES = 245_000
SAVE_AGGREGATES = 1000
"""A save holds at most this many aggregates..."""
SAVE_EVENTS = 10_000
"""...and is made as soon as it holds this many events (long histories: fewer aggregates)."""


def seed_uploaded_files(
    services: Services, *, resources: int, project_id: int = 4, renames_each: int = 0
) -> tuple[list[int], int]:
    """Registers `resources` files, renames each `renames_each` times, confirms their
    uploads; returns their public ids and the number of events appended."""
    ids, events = seed_projects(
        services, projects=(project_id,), resources_each=resources, renames_each=renames_each
    )
    return ids[project_id], events


def seed_projects(
    services: Services,
    *,
    projects: Sequence[int],
    resources_each: int,
    renames_each: int = 0,
    links: bool = False,
    actors: Sequence[Actor] = (SEEDER,),
) -> tuple[dict[int, list[int]], int]:
    """`resources_each` resources in each of `projects`, renamed `renames_each` times
    each: uploaded files (registered, renamed, upload confirmed) or, with `links`,
    links (uploaded at once: registered, renamed). Returns each project's public ids,
    ascending, and the number of events appended.

    The projects take turns, resource by resource, so that a project's rows lie among
    the other projects' rows, as in a store that many projects write to; within a
    project the resources take `actors` in turn (one actor for all of a resource's
    events). Ids are taken from the service's sequence a thousand at a time; the
    aggregates are appended in saves of at most `SAVE_AGGREGATES` aggregates and
    about `SAVE_EVENTS` events, through the service's one append function with its
    inline read models."""
    ids: dict[int, list[int]] = {project: [] for project in projects}
    pending: list[Resource] = []
    pending_events = 0
    events = 0
    free_ids: list[int] = []
    for number in range(resources_each * len(projects)):
        if not free_ids:
            free_ids = take_ids(services, 1000)[::-1]
        project_id = projects[number % len(projects)]
        by = actors[(number // len(projects)) % len(actors)]
        resource = _registered(free_ids.pop(), project_id, by, links=links)
        for change in range(renames_each):
            resource.rename(f"seed-{change}.docx", by=by)
        if not links:
            resource.confirm_upload(SIZE_BYTES, by=by)
        assert resource.status == "uploaded"
        ids[project_id].append(resource.resource_id)
        pending.append(resource)
        pending_events += resource.version
        if len(pending) == SAVE_AGGREGATES or pending_events >= SAVE_EVENTS:
            services.events.save(*pending)
            events += pending_events
            pending.clear()
            pending_events = 0
    if pending:
        services.events.save(*pending)
        events += pending_events
    return ids, events


def _registered(resource_id: int, project_id: int, by: Actor, *, links: bool) -> Resource:
    """A new file resource (pending its upload), or a link."""
    if links:
        return Resource.register_link(
            resource_id=resource_id,
            project_id=project_id,
            name="seed",
            description=None,
            mime_type=None,
            size_bytes=None,
            url="https://example.com/seed",
            by=by,
        )
    return Resource.register_file(
        resource_id=resource_id,
        project_id=project_id,
        name="seed.docx",
        description=None,
        mime_type="application/octet-stream",
        size_bytes=SIZE_BYTES,
        by=by,
    )


def take_ids(services: Services, count: int) -> list[int]:
    """`count` public ids from the service's sequence, in one statement, ascending."""
    with services.datastore.get_connection() as conn:
        rows = conn.execute(
            "SELECT nextval('resource_ids') AS id FROM generate_series(1, %s)", (count,)
        ).fetchall()
    return sorted(int(row["id"]) for row in rows)


def new_file(services: Services, *, project_id: int = 4, name: str = "new") -> int:
    """One pending file resource with one event (registered, saved); its public id."""
    return long_history(services, project_id=project_id, events=1, name=name).resource_id
