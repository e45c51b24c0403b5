"""Keeping the projection runner alive beside the server, and no longer than it."""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections.abc import Sequence

logger = logging.getLogger(__name__)

PARENT_VARIABLE = "RESOURCES_PARENT_PID"
RESTART_PAUSE = 1.0


class RunnerSupervisor:
    """Starts a command (the projection runner) and starts it again whenever it exits,
    until `stop`. The child is told its parent's pid, so it can end itself when the
    server dies without stopping it (a SIGKILL)."""

    def __init__(self, command: Sequence[str], env: dict[str, str]) -> None:
        self._command = list(command)
        self._env = {**env, PARENT_VARIABLE: str(os.getpid())}
        self._stopping = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self.restarts = 0
        self._thread = threading.Thread(target=self._watch, name="runner-supervisor", daemon=True)

    def start(self) -> None:
        self._spawn()
        self._thread.start()

    def _spawn(self) -> None:
        with self._lock:
            if not self._stopping.is_set():
                self._process = subprocess.Popen(self._command, env=self._env)  # noqa: S603 - ours

    def _watch(self) -> None:
        while not self._stopping.is_set():
            process = self._process
            if process is not None and process.poll() is not None:
                if self._stopping.is_set():
                    return
                logger.warning(
                    "the projection runner exited with %s; starting it again", process.returncode
                )
                self.restarts += 1
                time.sleep(RESTART_PAUSE)
                self._spawn()
            self._stopping.wait(0.5)

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def watch_parent(stop: threading.Event) -> None:
    """Sets `stop` once the process that started this one is gone (when it said who it
    is in RESOURCES_PARENT_PID): a runner never outlives its server."""
    expected = os.environ.get(PARENT_VARIABLE)
    if not expected or not expected.isdigit():
        return

    def watch() -> None:
        while not stop.wait(1.0):
            if os.getppid() != int(expected):
                logger.warning("the server that started this runner is gone; stopping")
                stop.set()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
