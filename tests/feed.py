"""Running the activity projection in a test, and waiting for it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from adapters.read_models.activity import UPSTREAM
from adapters.read_models.runner import ActivityRunner
from api.composition.services import Services


def caught_up(services: Services) -> bool:
    head = services.events.recorder.max_notification_id() or 0
    return (services.activity.max_tracking_id(UPSTREAM) or 0) >= head


def wait_until(condition: object, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


@contextmanager
def running(services: Services) -> Iterator[ActivityRunner]:
    """A runner in a thread, stopped (and its session closed) on exit."""
    runner = services.activity_runner()
    stop = threading.Event()
    thread = threading.Thread(target=runner.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield runner
    finally:
        stop.set()
        thread.join(timeout=10)
