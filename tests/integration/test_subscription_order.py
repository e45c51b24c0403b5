"""A subscriber never passes over an event committed after it read past its id."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from api.composition.services import Services
from domain.resource import Actor, Resource, resource_uuid
from tests.acting import Acting
from tests.seeding import seed

PROJECT = 4
WRITES_PER_PATH = 150


def test_a_subscriber_sees_every_event_of_concurrent_appends_in_order(
    services: Services, acting: Acting
) -> None:
    seed(services, resources=20, changes_each=0, links=True)
    start = services.events.recorder.max_notification_id() or 0
    seen: list[int] = []
    expected = 2 * WRITES_PER_PATH
    subscription = services.events.recorder.subscribe(gt=start)

    def subscribe() -> None:
        with subscription:
            for notification in subscription:
                seen.append(notification.id)
                if len(seen) >= expected:
                    break

    reader = threading.Thread(target=subscribe)
    reader.start()

    def service_writer(number: int) -> None:
        acting.update(PROJECT, "service", 1 + number % 10, name=f"s{number}")

    def library_writer(number: int) -> None:
        """The library's own recorder, which bulk seeding uses."""
        resource: object = services.events.repository.get(resource_uuid(11 + number % 10))
        assert isinstance(resource, Resource)
        resource.rename(f"l{number}", by=Actor(user_id="library"))
        services.events.save(resource)

    with ThreadPoolExecutor(max_workers=4) as pool:
        done = pool.map(service_writer, range(WRITES_PER_PATH))
        for number in range(WRITES_PER_PATH):
            library_writer(number)
        list(done)
    reader.join(timeout=30)
    subscription.stop()

    stored = [
        n.id
        for n in services.events.recorder.select_notifications(
            start=start, limit=10 * expected, inclusive_of_start=False
        )
    ]
    assert len(stored) == expected
    assert seen == stored
    assert seen == sorted(seen)
