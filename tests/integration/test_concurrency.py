"""Many writers on one resource: no change lost, none doubled, no error."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from api.composition.services import Services
from application.commands import UpdateResource
from domain.resource import Resource
from tests.acting import Acting
from tests.integration.read_models import replayed_rows, rows

PROJECT = 4
WRITERS = 20


def test_twenty_threads_patching_one_resource_lose_nothing(
    services: Services, acting: Acting
) -> None:
    resource = acting.register(PROJECT, "creator", name="start.txt")
    for writer in range(WRITERS):
        acting.caller(PROJECT, f"writer-{writer}")

    def rename(writer: int) -> int:
        return acting.update(
            PROJECT, f"writer-{writer}", resource.id, name=f"name-{writer}"
        ).version

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        versions = list(pool.map(rename, range(WRITERS)))

    stored = list(services.events.events.get(resource.aggregate_id))
    renames = [event for event in stored if isinstance(event, Resource.Renamed)]
    assert sorted(versions) == list(range(2, WRITERS + 2))
    assert len(stored) == WRITERS + 1
    assert sorted(event.actor for event in renames) == sorted(f"writer-{w}" for w in range(WRITERS))
    (row,) = rows(services, "resources")
    assert row["version"] == WRITERS + 1
    assert row["name"] == renames[-1].name
    assert rows(services, "resources") == replayed_rows(services)


def test_two_service_instances_racing_on_one_resource_lose_nothing(
    services: Services, acting: Acting
) -> None:
    """As two server processes would: separate pools and caches, no shared turn-taking."""
    resource = acting.register(PROJECT, "creator", name="start.txt")
    caller = acting.caller(PROJECT, "writer")
    with services.blocking() as other:

        def describe(writer: int) -> int:
            instance = acting.resources if writer % 2 else other
            command = UpdateResource(resource_id=resource.id, description=f"text {writer}")
            return instance.update(caller, command).record.version

        with ThreadPoolExecutor(max_workers=WRITERS) as pool:
            versions = list(pool.map(describe, range(WRITERS)))

    assert sorted(versions) == list(range(2, WRITERS + 2))
    stored = list(services.events.events.get(resource.aggregate_id))
    assert len(stored) == WRITERS + 1
    assert rows(services, "resources") == replayed_rows(services)
