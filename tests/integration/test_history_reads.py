"""History pages deep in a long stream start from a snapshot and still show every change."""

from __future__ import annotations

from api.services import Services
from domain.resource import resource_uuid
from tests.seeding import seed

PROJECT = 4


def test_a_page_past_snapshots_shows_each_change_from_and_to(services: Services) -> None:
    seed(services, resources=1, changes_each=120)
    snapshots = services.events.snapshots
    assert snapshots is not None
    assert [s.originator_version for s in snapshots.get(resource_uuid(1))] == [50, 100]

    page = services.history.page(PROJECT, 1, page=4, per_page=20)

    assert page.total == 121
    assert [entry.version for entry in page.entries] == list(range(61, 81))
    assert page.entries[0].changes == {"name": ("seed-58", "seed-59")}
    assert page.entries[-1].changes == {"name": ("seed-77", "seed-78")}
    at_version = services.history.at_version(PROJECT, 1, 99)
    assert at_version.name == "seed-97"
