"""What the server lets the app do to a connection, beyond ASGI: drop it, and know
when the process begins to stop.

ASGI gives an app no way to close a connection whose client does not read: `send`
just waits. The server's protocol (`api.cli.server`) puts a function that aborts the
connection into each request's scope state, and calls the drain hooks when uvicorn
asks every open connection to shut down, before it waits for them. Under another
server (a test client) neither happens, and the app falls back to ending the response.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

ABORT = "resources.abort_connection"
"""The scope-state key of the function that aborts the request's connection."""

_drain_hooks: list[Callable[[], None]] = []


def aborter(scope: Mapping[str, Any]) -> Callable[[], None] | None:
    """The function that aborts this request's connection, if the server gave one."""
    state = scope.get("state")
    found = state.get(ABORT) if isinstance(state, dict) else None
    return found if callable(found) else None


def on_drain(hook: Callable[[], None]) -> Callable[[], None]:
    """Calls `hook` (on the event loop) when the server begins to stop; returns a
    function that removes it."""
    _drain_hooks.append(hook)
    return lambda: _drain_hooks.remove(hook) if hook in _drain_hooks else None


def drain() -> None:
    """The server is stopping: long-lived responses should end now."""
    for hook in list(_drain_hooks):
        hook()
