"""Reading an event stream (Server-Sent Events) in a test, as a browser's EventSource
parses it, on a thread of its own so that a test can wait for the next frame."""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Frame:
    """One dispatched event (`id`, `event`, `data`), a comment, or the retry field."""

    id: str | None = None
    event: str | None = None
    data: str | None = None
    comment: str | None = None
    retry: int | None = None

    def json(self) -> dict[str, Any]:
        assert self.data is not None
        found: dict[str, Any] = json.loads(self.data)
        return found


@dataclass
class StreamReader:
    """Frames of one stream as they arrive; `ended` once the server ends it."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    status: int | None = None
    response_headers: httpx.Headers | None = None
    body: str = ""
    ended: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def __post_init__(self) -> None:
        self._frames: queue.Queue[Frame] = queue.Queue()
        self._opened = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(60, read=120))
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self._opened.wait(30), "the stream did not answer"

    def _read(self) -> None:
        try:
            with self._client.stream(
                "GET", self.url, headers=self.headers, params=self.params
            ) as response:
                self.status = response.status_code
                self.response_headers = response.headers
                self._opened.set()
                if response.status_code != 200:
                    self.body = response.read().decode()
                    return
                frame = Frame()
                for line in response.iter_lines():
                    if line == "":
                        if frame != Frame():
                            self._frames.put(frame)
                        frame = Frame()
                    elif line.startswith(":"):
                        self._frames.put(Frame(comment=line[1:].strip()))
                    else:
                        name, _, value = line.partition(":")
                        value = value.removeprefix(" ")
                        if name == "data":
                            frame.data = value if frame.data is None else f"{frame.data}\n{value}"
                        elif name == "retry":
                            frame.retry = int(value)
                        elif name in ("id", "event"):
                            setattr(frame, name, value)
        except Exception as error:
            self.error = error
        finally:
            self._opened.set()
            self.ended.set()

    def next(self, timeout: float = 10) -> Frame:
        return self._frames.get(timeout=timeout)

    def events(self, count: int, timeout: float = 10) -> list[Frame]:
        """The next `count` events (comments skipped)."""
        deadline = time.monotonic() + timeout
        found: list[Frame] = []
        while len(found) < count:
            frame = self.next(max(0.01, deadline - time.monotonic()))
            if frame.id is not None:
                found.append(frame)
        return found

    def pending(self) -> list[Frame]:
        """The frames that have arrived and not been taken."""
        found = []
        while True:
            try:
                found.append(self._frames.get_nowait())
            except queue.Empty:
                return found

    def close(self) -> None:
        self._client.close()
        self._thread.join(timeout=10)
