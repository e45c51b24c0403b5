"""Many writers on one resource: no change lost, none doubled, no error."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from api.services import Services
from application.commands import RegisterResource, UpdateResource
from domain.resource import Resource
from tests.integration.read_models import replayed_rows, rows

PROJECT = 4
WRITERS = 20


def test_twenty_threads_patching_one_resource_lose_nothing(services: Services) -> None:
    resource = services.resources.register(
        RegisterResource(project_id=PROJECT, actor="creator", name="start.txt")
    )

    def rename(writer: int) -> int:
        changed = services.resources.update(
            UpdateResource(
                project_id=PROJECT,
                actor=f"writer-{writer}",
                resource_id=resource.resource_id,
                name=f"name-{writer}",
            )
        )
        return changed.version

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        versions = list(pool.map(rename, range(WRITERS)))

    stored = list(services.resources.events.get(resource.id))
    renames = [event for event in stored if isinstance(event, Resource.Renamed)]
    assert sorted(versions) == list(range(2, WRITERS + 2))
    assert len(stored) == WRITERS + 1
    assert sorted(event.actor for event in renames) == sorted(f"writer-{w}" for w in range(WRITERS))
    record = services.queries.get(PROJECT, resource.resource_id)
    assert record is not None
    assert record.version == WRITERS + 1
    assert record.name == renames[-1].name
    assert rows(services, "resources") == replayed_rows(services)


def test_two_service_instances_racing_on_one_resource_lose_nothing(
    services: Services,
) -> None:
    """As two server processes would: separate pools, no shared in-process lock."""
    other = Services(services.settings, pool_size=10)
    resource = services.resources.register(
        RegisterResource(project_id=PROJECT, actor="creator", name="start.txt")
    )
    try:

        def describe(writer: int) -> int:
            instance = services if writer % 2 else other
            return instance.resources.update(
                UpdateResource(
                    project_id=PROJECT,
                    actor=f"writer-{writer}",
                    resource_id=resource.resource_id,
                    description=f"text {writer}",
                )
            ).version

        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            versions = list(pool.map(describe, range(WRITERS)))
    finally:
        other.close()

    assert sorted(versions) == list(range(2, WRITERS + 2))
    stored = list(services.resources.events.get(resource.id))
    assert len(stored) == WRITERS + 1
    assert rows(services, "resources") == replayed_rows(services)
