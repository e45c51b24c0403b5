"""Rebuilding read models on a live system: aside, catch up, verify, swap."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent
from psycopg import Cursor

from adapters.read_models.rebuild import (
    RebuildOutcome,
    RebuildProgress,
    VerificationFailed,
    rebuilds_in_progress,
)
from adapters.read_models.rebuild_targets import ResourcesRebuild
from adapters.read_models.resources import ResourcesProjection
from api.composition.services import Services
from tests.acting import Acting
from tests.feed import caught_up, running, wait_until
from tests.integration.read_models import replayed_rows, rows
from tests.seeding import seed
from tests.storage import cli_env as process_env

PROJECT = 4


def cli_env(services: Services) -> dict[str, str]:
    return process_env(services.settings)


def rebuild_command(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "api.cli.commands", "projections", "rebuild", *arguments]


def rebuild_to_the_end(services: Services, *arguments: str) -> subprocess.CompletedProcess[str]:
    """`resources projections rebuild ...` run to completion, its output captured."""
    return subprocess.run(
        rebuild_command(*arguments),
        env=cli_env(services),
        capture_output=True,
        text=True,
        check=False,
    )


class ForgetsRenames(ResourcesProjection):
    """A deliberately broken projection version: it drops every rename."""

    def write_batch(
        self, curs: Cursor[Any], table: str, stored_events: Sequence[StoredEvent]
    ) -> None:
        kept = [event for event in stored_events if not event.topic.endswith(".Renamed")]
        super().write_batch(curs, table, kept)


def test_a_rebuild_gives_the_same_read_models(services: Services) -> None:
    seed(services, resources=300, changes_each=4)
    before = rows(services, "resources")
    timeline_before = rows(services, "resource_timeline", "aggregate_id, version")
    targets = services.rebuild_targets()
    for name in ("resources", "timeline"):
        outcome = services.rebuilder(targets[name], batch_size=250).run()
        assert outcome.differences == 0
        assert outcome.position == services.events.recorder.max_notification_id()
    assert rows(services, "resources") == before
    assert rows(services, "resource_timeline", "aggregate_id, version") == timeline_before
    assert rebuilds_in_progress(services.datastore) == {}


def test_a_rebuilt_table_goes_live_with_its_statistics(services: Services) -> None:
    """The planner knows the swapped-in table's size at once: it chooses the index walk
    to a page's LIMIT instead of guessing one row (a COPY leaves no statistics)."""
    seed(services, resources=50, changes_each=1)
    outcome = services.rebuilder(services.rebuild_targets()["resources"]).run()
    assert outcome.differences == 0
    with services.datastore.transaction(commit=False) as curs:
        found = curs.execute(
            "SELECT reltuples FROM pg_class WHERE oid = 'resources'::regclass"
        ).fetchone()
    assert found is not None
    assert found["reltuples"] == 50


def test_a_rebuild_under_concurrent_writes_skips_no_event(
    services: Services, acting: Acting
) -> None:
    seed(services, resources=200, changes_each=10)
    stop = threading.Event()
    written: list[int] = []
    errors: list[BaseException] = []

    def write() -> None:
        number = 0
        while not stop.is_set():
            number += 1
            try:
                changed = acting.update(
                    PROJECT, "writer", 1 + number % 200, name=f"during-{number}"
                )
                written.append(changed.version)
            except BaseException as error:
                errors.append(error)
                raise

    writer = threading.Thread(target=write)
    writer.start()
    try:
        time.sleep(0.2)
        outcome = services.rebuilder(services.rebuild_targets()["resources"], batch_size=100).run()
        time.sleep(0.2)
    finally:
        stop.set()
        writer.join()
    assert not errors
    assert len(written) > 10
    assert outcome.differences == 0
    assert rows(services, "resources") == replayed_rows(services)


def test_a_broken_projection_fails_verification_and_leaves_the_live_model(
    services: Services,
) -> None:
    seed(services, resources=50, changes_each=2)
    before = rows(services, "resources")
    broken = ResourcesRebuild(ForgetsRenames(services.events.mapper))
    with pytest.raises(VerificationFailed) as failed:
        services.rebuilder(broken, batch_size=40).run()
    assert failed.value.count == 100
    assert failed.value.samples[:3] == ["1", "2", "3"]
    assert "rows differ" in str(failed.value)
    assert rows(services, "resources") == before
    assert rebuilds_in_progress(services.datastore) == {}
    fixed = services.rebuilder(services.rebuild_targets()["resources"]).run()
    assert (fixed.differences, fixed.resumed_from) == (0, 0)


def test_changes_can_be_accepted_deliberately(services: Services) -> None:
    seed(services, resources=5, changes_each=1)
    changed = ResourcesRebuild(ForgetsRenames(services.events.mapper))
    outcome = services.rebuilder(changed).run(accept_changes=True)
    assert outcome.differences == 10
    assert {row["name"] for row in rows(services, "resources")} == {"seed"}


def test_a_rebuild_killed_with_sigkill_resumes_to_the_same_result(services: Services) -> None:
    seed(services, resources=2000, changes_each=9)
    expected = rows(services, "resources")
    rebuild = subprocess.Popen(
        rebuild_command("resources", "--batch-size", "200"),
        env=cli_env(services),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: rebuilds_in_progress(services.datastore).get("resources", 0) > 0)
        os.kill(rebuild.pid, signal.SIGKILL)
    finally:
        rebuild.wait(timeout=10)
    reached = rebuilds_in_progress(services.datastore)["resources"]
    assert 0 < reached < 20_000
    assert rows(services, "resources") == expected

    finished = rebuild_to_the_end(services, "resources")
    assert finished.returncode == 0, finished.stderr
    assert f"resumed at {reached:,}" in finished.stdout
    assert rows(services, "resources") == expected
    assert rebuilds_in_progress(services.datastore) == {}


def test_ctrl_c_stops_a_rebuild_cleanly(services: Services) -> None:
    seed(services, resources=2000, changes_each=9)
    expected = rows(services, "resources")
    rebuild = subprocess.Popen(
        rebuild_command("resources", "--batch-size", "100"),
        env=cli_env(services),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    wait_until(lambda: rebuilds_in_progress(services.datastore).get("resources", 0) > 0)
    rebuild.send_signal(signal.SIGINT)
    stdout, stderr = rebuild.communicate(timeout=30)
    assert rebuild.returncode == 130, (stdout, stderr)
    assert "untouched" in stderr
    assert rows(services, "resources") == expected
    assert rebuilds_in_progress(services.datastore)["resources"] > 0


def test_progress_is_printed_as_plain_lines_off_a_terminal(services: Services) -> None:
    seed(services, resources=100, changes_each=1)
    finished = rebuild_to_the_end(services, "timeline")
    assert finished.returncode == 0, finished.stderr
    lines = finished.stdout.splitlines()
    assert lines[0].startswith("timeline: 0/200 events (0%)")
    assert any(line.startswith("timeline: 200/200 events (100%)") for line in lines)
    assert "events/s" in lines[-1]
    assert "verified" in lines[-1]


def test_the_activity_feed_rebuilds_and_its_runner_goes_on(services: Services) -> None:
    seed(services, resources=100, changes_each=2)
    with running(services):
        wait_until(lambda: caught_up(services))
    before = rows(services, "activity")
    outcome = services.rebuilder(services.rebuild_targets()["activity"], batch_size=64).run()
    assert outcome.differences == 0
    assert rows(services, "activity") == before
    seed(services, resources=10, changes_each=0)
    with running(services):
        wait_until(lambda: caught_up(services))
    assert len(rows(services, "activity")) == 310


def test_two_rebuilds_of_one_projection_cannot_run_at_once(services: Services) -> None:
    seed(services, resources=100, changes_each=4)
    first_batch_done = threading.Event()
    may_go_on = threading.Event()

    def hold_after_first_batch(progress: RebuildProgress) -> None:
        if progress.events_this_run > 0:
            first_batch_done.set()
            may_go_on.wait(timeout=60)

    first = services.rebuilder(
        services.rebuild_targets()["resources"], hold_after_first_batch, batch_size=100
    )
    outcomes: list[RebuildOutcome] = []
    thread = threading.Thread(target=lambda: outcomes.append(first.run()))
    thread.start()
    try:
        assert first_batch_done.wait(timeout=30)
        second = rebuild_to_the_end(services, "resources")
        assert second.returncode == 1
        assert "already running" in second.stderr
    finally:
        may_go_on.set()
        thread.join(timeout=60)
    assert outcomes[0].differences == 0
