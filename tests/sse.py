"""Reading an event stream (Server-Sent Events) in a test, as a browser's EventSource
parses it, on a thread of its own so that a test can wait for the next frame.

The reader speaks HTTP/1.1 on a plain socket and polls it, so that `close` ends it at
once, as a browser closing its page does, whatever the server is sending: a thread
blocked in a socket read cannot be woken reliably from another thread."""

from __future__ import annotations

import json
import queue
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

POLL_SECONDS = 0.1
"""How often the reading thread looks up from a quiet socket to see if it is closed."""


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


class Cut(Exception):
    """The connection ended before the server ended the response."""


class Closing(Exception):
    """The test closed the reader."""


@dataclass
class StreamReader:
    """Frames of one stream as they arrive; `ended` once the server ends it (`error`
    says how, when the connection was cut rather than the response finished)."""

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
        self._closing = threading.Event()
        self._buffer = b""
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self._opened.wait(30), "the stream did not answer"

    def _read(self) -> None:
        try:
            parts = urlsplit(self.url)
            query = "&".join(q for q in (parts.query, urlencode(self.params)) if q)
            target = parts.path + (f"?{query}" if query else "")
            with socket.create_connection((parts.hostname, parts.port or 80), timeout=30) as sock:
                head = {"Host": parts.netloc, "Accept": "text/event-stream", **self.headers}
                request = f"GET {target} HTTP/1.1\r\n" + "".join(
                    f"{name}: {value}\r\n" for name, value in head.items()
                )
                sock.sendall((request + "Connection: close\r\n\r\n").encode())
                sock.setblocking(False)
                self._respond(sock)
        except Closing:
            pass
        except Exception as error:
            self.error = error
        finally:
            self._opened.set()
            self.ended.set()

    def _respond(self, sock: socket.socket) -> None:
        status_line, *lines = self._until(sock, b"\r\n\r\n").decode("latin-1").split("\r\n")
        headers = httpx.Headers(
            [(name, value.strip()) for name, _, value in (line.partition(":") for line in lines)]
        )
        self.status = int(status_line.split(" ")[1])
        self.response_headers = headers
        body = self._body(sock, headers)
        if self.status != 200:
            self.body = b"".join(body).decode()
            self._opened.set()
            return
        self._opened.set()
        frame, pending = Frame(), b""
        for chunk in body:
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for raw in complete:
                frame = self._line(frame, raw.rstrip(b"\r").decode())

    def _line(self, frame: Frame, line: str) -> Frame:
        if line == "":
            if frame != Frame():
                self._frames.put(frame)
            return Frame()
        if line.startswith(":"):
            self._frames.put(Frame(comment=line[1:].strip()))
            return frame
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            frame.data = value if frame.data is None else f"{frame.data}\n{value}"
        elif name == "retry":
            frame.retry = int(value)
        elif name in ("id", "event"):
            setattr(frame, name, value)
        return frame

    def _body(self, sock: socket.socket, headers: httpx.Headers) -> Iterator[bytes]:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int(self._until(sock, b"\r\n").split(b";")[0], 16)
                if size == 0:
                    return
                yield self._exactly(sock, size)
                self._exactly(sock, 2)
        elif "content-length" in headers:
            yield self._exactly(sock, int(headers["content-length"]))
        else:
            while True:
                chunk = self._receive(sock, eof_ok=True)
                if not chunk:
                    return
                yield chunk

    def _until(self, sock: socket.socket, marker: bytes) -> bytes:
        while marker not in self._buffer:
            self._buffer += self._receive(sock)
        found, self._buffer = self._buffer.split(marker, 1)
        return found

    def _exactly(self, sock: socket.socket, size: int) -> bytes:
        while len(self._buffer) < size:
            self._buffer += self._receive(sock)
        found, self._buffer = self._buffer[:size], self._buffer[size:]
        return found

    def _receive(self, sock: socket.socket, *, eof_ok: bool = False) -> bytes:
        while not self._closing.is_set():
            readable, _, _ = select.select([sock], [], [], POLL_SECONDS)
            if readable:
                chunk = sock.recv(65536)
                if not chunk and not eof_ok:
                    raise Cut("the connection ended before the response did")
                return chunk
        raise Closing

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
        """Disconnects, as a browser closing the page does."""
        self._closing.set()
        self._thread.join(timeout=10)
        assert not self._thread.is_alive(), "the stream's reader did not stop"
