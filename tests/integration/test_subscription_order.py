"""A subscriber never passes over an event committed after it read past its id."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from api.services import Services
from application.commands import UpdateResource
from domain.resource import Actor, Resource
from projections.queries import resource_from_record
from tests.seeding import seed

PROJECT = 4
WRITES_PER_PATH = 150


def test_a_subscriber_sees_every_event_of_concurrent_appends_in_order(
    services: Services,
) -> None:
    seed(services, resources=20, changes_each=0, links=True)
    start = services.resources.recorder.max_notification_id() or 0
    seen: list[int] = []
    expected = 2 * WRITES_PER_PATH
    subscription = services.resources.recorder.subscribe(gt=start)

    def subscribe() -> None:
        with subscription:
            for notification in subscription:
                seen.append(notification.id)
                if len(seen) >= expected:
                    break

    reader = threading.Thread(target=subscribe)
    reader.start()

    def sync_writer(number: int) -> None:
        services.resources.update(
            UpdateResource(
                project_id=PROJECT, actor="sync", resource_id=1 + number % 10, name=f"s{number}"
            )
        )

    other = Services(services.settings, pool_size=4)  # its own async pool, on this loop

    async def async_writers() -> None:
        await other.appender.open()
        try:
            for number in range(WRITES_PER_PATH):
                resource_id = 11 + number % 10
                record = other.queries.get(PROJECT, resource_id)
                assert record is not None
                resource = resource_from_record(record)
                resource.rename(f"a{number}", by=Actor(user_id="async"))
                events = [
                    event
                    for event in resource.collect_events()
                    if isinstance(event, Resource.Changed)
                ]
                stored = [other.resources.mapper.to_stored_event(event) for event in events]
                await other.appender.append(events, stored)
        finally:
            await other.appender.close()

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            done = pool.map(sync_writer, range(WRITES_PER_PATH))
            asyncio.run(async_writers())
            list(done)
    finally:
        other.close()
    reader.join(timeout=30)
    subscription.stop()

    stored = [
        n.id
        for n in services.resources.recorder.select_notifications(
            start=start, limit=10 * expected, inclusive_of_start=False
        )
    ]
    assert len(stored) == expected
    assert seen == stored
    assert seen == sorted(seen)
