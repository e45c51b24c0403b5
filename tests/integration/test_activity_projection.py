"""The activity feed projection: asynchronous, exactly once, one runner at a time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from eventsourcing.tests.persistence import TrackingRecorderTestCase

from adapters.read_models.activity import COUNT_BOUND, UPSTREAM, ActivityView
from api.composition.services import Services
from projections.activity import ActivityFilter
from projections.resources import is_resource_event
from tests.acting import Acting
from tests.feed import caught_up, running, wait_until
from tests.seeding import seed
from tests.storage import cli_env

PROJECT = 4


def register(acting: Acting, name: str = "a.txt", actor: str = "user-1") -> int:
    return acting.register(PROJECT, actor, name=name).id


def feed_ids(services: Services) -> list[int]:
    with services.datastore.get_connection() as conn:
        return [row["id"] for row in conn.execute("SELECT id FROM activity ORDER BY id")]


def event_ids(services: Services) -> list[int]:
    notifications = services.events.recorder.select_notifications(start=None, limit=1_000_000)
    return [n.id for n in notifications if is_resource_event(n)]


def test_each_event_becomes_one_feed_entry_with_its_changes(
    services: Services, acting: Acting
) -> None:
    resource_id = register(acting, name="first")
    acting.update(PROJECT, "user-2", resource_id, name="second", description="text")
    acting.delete(PROJECT, "user-2", resource_id)

    with running(services):
        wait_until(lambda: caught_up(services))

    page = acting.resources.activity_page(PROJECT, ActivityFilter(), 1, 10)
    assert [entry.type for entry in page.entries] == [
        "Deleted",
        "DescriptionChanged",
        "Renamed",
        "FileRegistered",
    ]
    renamed = page.entries[2]
    assert (renamed.actor, renamed.request_id, renamed.resource_id, renamed.version) == (
        "user-2",
        "test-user-2",
        resource_id,
        2,
    )
    assert renamed.changes == {"name": ("first", "second")}
    assert page.entries[-1].changes["name"] == (None, "first")
    assert feed_ids(services) == event_ids(services)


def test_processing_again_adds_nothing(services: Services, acting: Acting) -> None:
    register(acting)
    runner = services.activity_runner()
    assert runner.process_batch() == 1
    assert runner.process_batch() == 0
    assert len(feed_ids(services)) == 1


def test_a_new_runner_continues_after_the_tracked_position(
    services: Services, acting: Acting
) -> None:
    register(acting)
    services.activity_runner().process_batch()
    register(acting, name="b")
    # A fresh runner knows nothing of the first: it starts from the tracking record,
    # and loads the state before each event from the store.
    assert services.activity_runner().process_batch() == 1
    assert feed_ids(services) == event_ids(services)


def test_new_events_reach_a_running_feed(services: Services, acting: Acting) -> None:
    with running(services):
        wait_until(lambda: caught_up(services))
        started = time.monotonic()
        register(acting)
        wait_until(lambda: len(feed_ids(services)) == 1, timeout=5)
        assert time.monotonic() - started < 5


def test_two_runners_at_once_only_one_processes(services: Services, acting: Acting) -> None:
    with running(services) as first, running(services) as second:
        wait_until(lambda: first.is_active.is_set() or second.is_active.is_set())
        for _ in range(20):
            assert not (first.is_active.is_set() and second.is_active.is_set())
            register(acting)
            time.sleep(0.02)
        wait_until(lambda: caught_up(services))
        assert first.is_active.is_set() != second.is_active.is_set()
    assert feed_ids(services) == event_ids(services)


def runner_process(services: Services) -> subprocess.Popen[bytes]:
    """`resources projections run` in its own process, as an operator starts it."""
    env = cli_env(services.settings)
    return subprocess.Popen(
        [sys.executable, "-m", "api.cli.commands", "projections", "run"], env=env
    )


def test_a_standby_runner_takes_over_when_the_active_one_is_killed(
    services: Services, acting: Acting
) -> None:
    active = runner_process(services)
    try:
        register(acting)
        wait_until(lambda: caught_up(services), timeout=30)
        with running(services) as standby:
            time.sleep(0.5)
            assert not standby.is_active.is_set()
            os.kill(active.pid, signal.SIGKILL)
            active.wait(timeout=10)
            wait_until(standby.is_active.is_set, timeout=10)
            register(acting, name="after takeover")
            wait_until(lambda: caught_up(services))
    finally:
        active.kill()
        active.wait(timeout=10)
    assert feed_ids(services) == event_ids(services)


def test_a_runner_killed_mid_batch_resumes_without_loss_or_duplicates(
    services: Services, acting: Acting
) -> None:
    events = 3000
    for number in range(events // 3):
        resource_id = register(acting, name=f"f{number}")
        acting.update(PROJECT, "u", resource_id, name=f"g{number}")
        acting.update(PROJECT, "u", resource_id, description="d")
    env = cli_env(services.settings)
    command = [sys.executable, "-m", "api.cli.commands", "projections", "run"]
    runner = subprocess.Popen(command, env=env)
    try:
        wait_until(lambda: (services.activity.max_tracking_id(UPSTREAM) or 0) > 0, timeout=30)
        os.kill(runner.pid, signal.SIGKILL)
    finally:
        runner.wait(timeout=10)
    position = services.activity.max_tracking_id(UPSTREAM) or 0
    assert 0 < len(feed_ids(services)) < events or position == events

    restarted = subprocess.Popen(command, env=env)
    try:
        wait_until(lambda: caught_up(services), timeout=60)
    finally:
        restarted.terminate()
        restarted.wait(timeout=10)
    assert feed_ids(services) == event_ids(services)
    assert len(feed_ids(services)) == events


class TestActivityViewIsATrackingRecorder(TrackingRecorderTestCase):
    services: Services

    @pytest.fixture(autouse=True)
    def _services(self, services: Services) -> None:
        type(self).services = services

    def create_recorder(self) -> ActivityView:
        datastore = self.services.datastore
        with datastore.transaction(commit=True) as curs:
            curs.execute("DROP TABLE IF EXISTS contract_tracking, contract_activity")
        view = ActivityView(
            datastore, tracking_table_name="contract_tracking", activity_table="contract_activity"
        )
        view.create_table()
        return view


def test_text_that_copy_must_escape_reaches_the_feed_as_sent(
    services: Services, acting: Acting
) -> None:
    # Feed rows go in one COPY, whose text format gives backslash, tab, newline and
    # carriage return meanings of their own (\N is NULL); they are shown as sent.
    name = 'back\\slash \\N \\. "quoted" \u00e9\U0001f600'
    description = "tab\there, line\nbreak\r\n\\N\\"
    resource_id = register(acting, name=name)
    acting.update(PROJECT, "user-2", resource_id, description=description)
    assert services.activity_runner().process_batch() == 2
    page = acting.resources.activity_page(PROJECT, ActivityFilter(resource_id=resource_id), 1, 10)
    described, registered = page.entries
    assert registered.changes["name"] == (None, name)
    assert described.changes == {"description": (None, description)}


def test_totals_are_kept_counts_and_a_combined_filter_stops_at_its_bound(
    services: Services, acting: Acting
) -> None:
    seed(services, resources=COUNT_BOUND + 1, changes_each=0, project_id=PROJECT)
    register(acting, actor="someone")
    while services.activity_runner().process_batch():
        pass
    everything = acting.resources.activity_page(PROJECT, ActivityFilter(), 1, 20)
    assert (everything.total, everything.total_is_lower_bound) == (COUNT_BOUND + 2, False)
    seeded = acting.resources.activity_page(PROJECT, ActivityFilter(actor="seeder"), 1, 20)
    assert (seeded.total, seeded.total_is_lower_bound) == (COUNT_BOUND + 1, False)  # kept
    registered = ActivityFilter(actor="seeder", type="FileRegistered")
    bounded = acting.resources.activity_page(PROJECT, registered, 1, 20)
    assert (bounded.total, bounded.total_is_lower_bound) == (COUNT_BOUND, True)
    assert len(bounded.entries) == 20
    one = acting.resources.activity_page(PROJECT, ActivityFilter(actor="someone"), 1, 20)
    assert (one.total, one.total_is_lower_bound) == (1, False)
    renamed = acting.resources.activity_page(PROJECT, ActivityFilter(type="Renamed"), 1, 20)
    assert (renamed.total, renamed.entries) == (0, [])
    other = acting.resources.activity_page(PROJECT + 1, ActivityFilter(), 1, 20)
    assert (other.total, other.entries) == (0, [])
