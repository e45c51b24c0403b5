"""Where each projection stands: position, head, lag, runner and rebuild."""

from __future__ import annotations

from typing import Literal

from msgspec import Struct


class Writer(Struct, frozen=True, kw_only=True):
    """The oldest transaction on the server that holds a transaction id."""

    pid: int
    age_seconds: float
    database: str | None
    state: str | None


class ProjectionStatus(Struct, frozen=True, kw_only=True):
    name: str
    kind: Literal["inline", "async"]
    position: int
    head: int
    lag_events: int
    lag_seconds: float
    runner: Literal["active", "none", "in append"]
    """Inline projections run in each append; async ones need a runner."""
    rebuild_position: int | None
    """Where a rebuild in progress has reached, or None."""
    held_by: Writer | None = None
    """The old transaction that keeps the projection from reading on, if one may: the
    commit-ordered reader waits at a gap for every transaction open when it saw it."""
