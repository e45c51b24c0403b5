"""Questions about the past: a resource's events with what each changed, and
the resource as it was at a version or a moment. Answered from the event store
itself (the `EventHistory` port), with snapshots bounding how many events are read:
one read (the caller's key with the events) for a page of history or a version, two
for a moment."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.domain import Snapshot
from msgspec import Struct

from application.access import Caller, OnPrincipal, Principal, ignore_principal
from application.errors import ResourceNotFound
from application.ports import EventHistory, StreamStretch
from domain.resource import Resource, audited_state, field_changes


class HistoryEntry(Struct, frozen=True, kw_only=True):
    version: int
    type: str
    occurred_at: datetime
    actor: str
    key_id: int | None
    request_id: str | None
    changes: dict[str, tuple[Any, Any]]
    """Each changed field as (from, to); registration lists the initial values."""


class HistoryPage(Struct, frozen=True, kw_only=True):
    entries: list[HistoryEntry]
    total: int


class ResourceHistory:
    """Reads the event stream of one resource, deleted ones included, for a caller whose
    key is looked up in the same read: a resource of another project is not found."""

    def __init__(self, events: EventHistory, on_principal: OnPrincipal = ignore_principal) -> None:
        self._events = events
        self._on_principal = on_principal

    async def _stretch(
        self, caller: Caller, resource_id: int, restore_at: int, until: int
    ) -> tuple[Principal, StreamStretch]:
        principal, found = await self._events.stretch(
            caller, resource_id, restore_at=restore_at, until=until
        )
        self._on_principal(principal)
        return principal, found

    def _restored(self, snapshot: Snapshot | None) -> Resource | None:
        """The resource from a snapshot, if there is one."""
        if snapshot is None:
            return None
        restored = snapshot.mutate(None)
        assert isinstance(restored, Resource)
        return restored

    def _check_project(self, resource: Resource | None, principal: Principal) -> None:
        assert resource is not None
        if resource.project_id != principal.project_id:
            raise ResourceNotFound(resource.resource_id)

    async def page(self, caller: Caller, resource_id: int, page: int, per_page: int) -> HistoryPage:
        """Events `(page-1)*per_page+1 ..` in order, each with what it changed."""
        first = (page - 1) * per_page + 1
        # One read from the nearest snapshot before the page to its last event: the
        # events before the page only bring the state up to it. Past the last event,
        # the same read brings the resource to its latest version (for the project).
        principal, found = await self._stretch(
            caller, resource_id, restore_at=first - 1, until=first + per_page - 1
        )
        total = found.latest
        if total == 0:
            raise ResourceNotFound(resource_id)
        resource = self._restored(found.snapshot)
        entries: list[HistoryEntry] = []
        for domain_event in found.events:
            assert isinstance(domain_event, Resource.Registered | Resource.Changed)
            before = audited_state(resource)
            mutated = domain_event.mutate(resource)
            assert isinstance(mutated, Resource)
            resource = mutated
            if domain_event.originator_version < first:
                continue
            self._check_project(resource, principal)
            entries.append(
                HistoryEntry(
                    version=domain_event.originator_version,
                    type=type(domain_event).__name__,
                    occurred_at=domain_event.timestamp,
                    actor=domain_event.actor,
                    key_id=domain_event.key_id,
                    request_id=domain_event.request_id,
                    changes=field_changes(before, audited_state(resource)),
                )
            )
        if first > total:
            self._check_project(resource, principal)
        return HistoryPage(entries=entries, total=total)

    async def at_version(self, caller: Caller, resource_id: int, version: int) -> Resource:
        """The resource after its `version`-th event; 404 if deleted by then or not yet."""
        principal, found = await self._stretch(
            caller, resource_id, restore_at=version, until=version
        )
        if version < 1 or version > found.latest:
            raise ResourceNotFound(resource_id)
        resource = self._restored(found.snapshot)
        for domain_event in found.events:
            mutated = domain_event.mutate(resource)
            assert isinstance(mutated, Resource)
            resource = mutated
        assert resource is not None
        assert resource.version == version
        self._check_project(resource, principal)
        if resource.deleted:
            raise ResourceNotFound(resource_id)
        return resource

    async def as_of(self, caller: Caller, resource_id: int, moment: datetime) -> Resource:
        """The resource as it was at `moment`; 404 before it existed or once deleted."""
        principal, version = await self._events.version_at(caller, resource_id, moment)
        self._on_principal(principal)
        if version is None:
            raise ResourceNotFound(resource_id)
        return await self.at_version(caller, resource_id, version)
