"""What the server lets the app do to a connection, beyond ASGI: drop it, write to
it from outside the response's task, and know when the process begins to stop.

ASGI gives an app no way to close a connection whose client does not read: `send`
just waits. The server's protocol (`api.cli.server`) puts a function that aborts the
connection into each request's scope state, and calls the drain hooks when uvicorn
asks every open connection to shut down, before it waits for them.

ASGI's `send` is also the only way to write, from the response's own task: an event
reaching a thousand streams wakes a thousand tasks, each sending through the
framework's and the server's layers. The protocol also gives a body writer: it writes
part of a started response's body at once, from any code on the loop, when nothing
is paused or closed, and otherwise says it could not (the caller then sends as
usual). Under another server (a test client) none of this exists, and the app falls
back to ASGI alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

ABORT = "resources.abort_connection"
"""The scope-state key of the function that aborts the request's connection."""
BODY_WRITER = "resources.body_writer"
"""The scope-state key of the function that gives the request's body writer."""

BodyWriter = Callable[[bytes], bool]
"""Writes part of the response body now; False when it cannot (nothing written)."""

_drain_hooks: list[Callable[[], None]] = []


def aborter(scope: Mapping[str, Any]) -> Callable[[], None] | None:
    """The function that aborts this request's connection, if the server gave one."""
    state = scope.get("state")
    found = state.get(ABORT) if isinstance(state, dict) else None
    return found if callable(found) else None


def body_writer(scope: Mapping[str, Any]) -> BodyWriter | None:
    """This request's body writer, if the server gives one. Ask once its response has
    started; it writes only while that response is the connection's and unfinished."""
    state = scope.get("state")
    make = state.get(BODY_WRITER) if isinstance(state, dict) else None
    if not callable(make):
        return None
    writer: BodyWriter = make()
    return writer


def on_drain(hook: Callable[[], None]) -> Callable[[], None]:
    """Calls `hook` (on the event loop) when the server begins to stop; returns a
    function that removes it."""
    _drain_hooks.append(hook)
    return lambda: _drain_hooks.remove(hook) if hook in _drain_hooks else None


def drain() -> None:
    """The server is stopping: long-lived responses should end now."""
    for hook in list(_drain_hooks):
        hook()
