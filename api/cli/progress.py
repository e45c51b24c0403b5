"""Showing a rebuild's progress: a bar on a terminal, plain lines elsewhere."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Self, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from adapters.read_models.rebuild import RebuildProgress

PLAIN_EVERY_SECONDS = 2.0


class RebuildDisplay:
    """Receives progress reports; draws them as fits the output."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout
        self._interactive = self._stream.isatty()
        self._progress: Progress | None = None
        self._tasks: dict[str, TaskID] = {}
        self._last_line = 0.0

    def __enter__(self) -> Self:
        if self._interactive:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("events"),
                TextColumn("{task.fields[rate]:>9,.0f}/s"),
                TimeElapsedColumn(),
                TextColumn("left"),
                TimeRemainingColumn(),
                console=Console(file=self._stream),
            )
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def __call__(self, report: RebuildProgress) -> None:
        if self._progress is not None:
            task = self._tasks.get(report.name)
            if task is None:
                task = self._progress.add_task(report.name, total=report.head, rate=0.0)
                self._tasks[report.name] = task
            self._progress.update(
                task, completed=report.position, total=max(report.head, 1), rate=report.rate
            )
            return
        now = time.monotonic()
        if now - self._last_line < PLAIN_EVERY_SECONDS and report.position < report.head:
            return
        self._last_line = now
        share = report.position / report.head * 100 if report.head else 100.0
        left = (report.head - report.position) / report.rate if report.rate else 0.0
        print(
            f"{report.name}: {report.position:,}/{report.head:,} events ({share:.0f}%),"
            f" {report.rate:,.0f} events/s, {left:.0f} s left",
            file=self._stream,
            flush=True,
        )
