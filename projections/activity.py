"""The project activity feed's entries and filters, and the state before each event
(for an entry's `changes`): what `adapters.read_models.activity` writes and reads."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from msgspec import Struct

from domain.resource import Resource, audited_state, field_changes

EVENT_TYPES = (
    "FileRegistered",
    "LinkRegistered",
    "Renamed",
    "DescriptionChanged",
    "UploadConfirmed",
    "Deleted",
)


class ActivityEntry(Struct, frozen=True, kw_only=True):
    id: int
    """The event's position in the store: unique, increasing."""
    resource_id: int
    version: int
    type: str
    occurred_at: datetime
    actor: str
    key_id: int | None
    request_id: str | None
    changes: dict[str, tuple[Any, Any]]


class ActivityFilter(Struct, frozen=True, kw_only=True):
    actor: str | None = None
    type: str | None = None
    resource_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


class ActivityPage(Struct, frozen=True, kw_only=True):
    entries: list[ActivityEntry]
    total: int
    total_is_lower_bound: bool = False
    """True when a filtered count stopped at `COUNT_BOUND`: there are at least `total`."""


LoadAt = Callable[[UUID, int], Resource]
"""Loads a resource as it was at a version (from the event store, with snapshots)."""


class ResourceStates:
    """The state before each event, for the feed's `changes`.

    Keeps the resources it has just seen (the usual case: events arrive in
    order), and otherwise loads the state at the previous version.
    """

    def __init__(self, load_at: LoadAt, capacity: int = 10_000) -> None:
        self._load_at = load_at
        self._capacity = capacity
        self._cache: OrderedDict[UUID, Resource] = OrderedDict()

    def apply(
        self, event: Resource.Registered | Resource.Changed
    ) -> tuple[Resource, dict[str, tuple[Any, Any]]]:
        """Applies the event; returns the resource after it, and what it changed."""
        aggregate_id = event.originator_id
        before: Resource | None = self._cache.pop(aggregate_id, None)
        if event.originator_version == 1:
            before = None
        elif before is None or before.version != event.originator_version - 1:
            before = self._load_at(aggregate_id, event.originator_version - 1)
        before_state = audited_state(before)
        after = event.mutate(before)
        assert isinstance(after, Resource)
        self._cache[aggregate_id] = after
        if len(self._cache) > self._capacity:
            self._cache.popitem(last=False)
        return after, field_changes(before_state, audited_state(after))

    def forget(self) -> None:
        """Drops what it knows (after a failed batch, whose events may be redone)."""
        self._cache.clear()
