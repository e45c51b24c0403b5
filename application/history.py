"""Questions about the past: a resource's events with what each changed, and
the resource as it was at a version. Answered from the event store itself, with
snapshots bounding how many events are read."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Snapshot
from msgspec import Struct

from application.errors import ResourceNotFound
from domain.resource import Resource, audited_state, field_changes, resource_uuid


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
    """Reads the event stream of one resource, deleted ones included."""

    def __init__(self, app: Application[UUID]) -> None:
        self._app = app

    def latest_version(self, resource_id: int) -> int:
        """The number of events the resource has; 404 when it never existed."""
        last = self._app.recorder.select_events(resource_uuid(resource_id), desc=True, limit=1)
        if not last:
            raise ResourceNotFound(resource_id)
        return last[0].originator_version

    def _at(self, aggregate_id: UUID, version: int) -> Resource:
        found: object = self._app.repository.get(aggregate_id, version=version)
        assert isinstance(found, Resource)
        return found

    def _nearest_snapshot(self, aggregate_id: UUID, version: int) -> Resource | None:
        """The resource from the latest snapshot at or before `version`, if any."""
        if version < 1 or self._app.snapshots is None:
            return None
        for snapshot in self._app.snapshots.get(aggregate_id, desc=True, limit=1, lte=version):
            assert isinstance(snapshot, Snapshot)
            restored = snapshot.mutate(None)
            assert isinstance(restored, Resource)
            return restored
        return None

    def _check_project(self, resource: Resource, project_id: int) -> None:
        if resource.project_id != project_id:
            raise ResourceNotFound(resource.resource_id)

    def page(self, project_id: int, resource_id: int, page: int, per_page: int) -> HistoryPage:
        """Events `(page-1)*per_page+1 ..` in order, each with what it changed."""
        total = self.latest_version(resource_id)
        aggregate_id = resource_uuid(resource_id)
        first = (page - 1) * per_page + 1
        last = min(first + per_page - 1, total)
        entries: list[HistoryEntry] = []
        if first > total:
            self._check_project(self._at(aggregate_id, total), project_id)
            return HistoryPage(entries=entries, total=total)
        # One read from the nearest snapshot before the page to its last event:
        # the events before the page only bring the state up to it.
        resource = self._nearest_snapshot(aggregate_id, first - 1)
        after = resource.version if resource is not None else 0
        for domain_event in self._app.events.get(aggregate_id, gt=after, lte=last):
            assert isinstance(domain_event, Resource.Registered | Resource.Changed)
            before = audited_state(resource)
            mutated = domain_event.mutate(resource)
            assert isinstance(mutated, Resource)
            resource = mutated
            if domain_event.originator_version < first:
                continue
            self._check_project(resource, project_id)
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
        return HistoryPage(entries=entries, total=total)

    def at_version(self, project_id: int, resource_id: int, version: int) -> Resource:
        """The resource after its `version`-th event; 404 if deleted by then or not yet."""
        if version < 1 or version > self.latest_version(resource_id):
            raise ResourceNotFound(resource_id)
        resource = self._at(resource_uuid(resource_id), version)
        self._check_project(resource, project_id)
        if resource.deleted:
            raise ResourceNotFound(resource_id)
        return resource
