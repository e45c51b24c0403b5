"""The Resource use cases over the event store."""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import EnvType
from msgspec import UNSET

from application.commands import Command, DeleteResource, RegisterResource, UpdateResource
from application.errors import ConcurrentUpdate, ResourceNotFound, StaleState, VersionMismatch
from application.ids import PostgresIdAllocator
from application.ports import BlobStore, IdAllocator
from domain.errors import DomainError, InvalidValue
from domain.resource import Resource, resource_uuid

logger = logging.getLogger(__name__)
T = TypeVar("T")

MAX_ATTEMPTS = 12
"""How often a change is retried against fresh state after losing a race."""

LOCK_STRIPES = 256
"""Writers in one process take turns per resource (striped by id), so version
conflicts arise only between processes, where a jittered retry resolves them."""


def blob_key(resource_id: int) -> str:
    """Where a file resource's bytes are kept in the blob store."""
    return f"resources/{resource_id}"


def check_expected_version(resource: Resource, command: Command) -> None:
    """If-Match: the command applies only to the version the client saw."""
    if command.expected_versions is not None and resource.version not in command.expected_versions:
        raise VersionMismatch(resource.version)


def apply_update(resource: Resource, command: UpdateResource, blobs: BlobStore) -> None:
    """The changes a PATCH asks for, as the aggregate's own commands (checks included)."""
    if command.name is not UNSET:
        resource.rename(command.name, by=command.by)
    if command.description is not UNSET:
        resource.describe(command.description, by=command.by)
    if command.confirm_upload and resource.status == "pending":
        stored_size = blobs.size(blob_key(resource.resource_id))
        resource.confirm_upload(stored_size, by=command.by)


async def update_async(
    command: UpdateResource,
    *,
    load: Callable[[], Awaitable[Resource]],
    append: Callable[[Resource, list[Resource.Changed]], Awaitable[T]],
    blobs: BlobStore,
    cached: Resource | None = None,
) -> tuple[Resource, T | None]:
    """The update use case on async I/O: load, decide, append; again when a writer won.

    `load` raises ResourceNotFound; `append` raises IntegrityError on a version
    conflict. Returns the resource and what `append` returned (None: nothing changed).

    With `cached` — state that was current once and may not be now — the command
    is first decided on it without a load. Only an append can confirm that state
    (the store refuses version `v + 1` if anyone appended first), so a decision
    that appends nothing, or is refused, is made again on freshly loaded state:
    no answer is ever given from state that the store has not confirmed.
    """
    if cached is not None:
        decided = await _decide_on_cached(command, cached, append, blobs)
        if decided is not None:
            return cached, decided[0]
    for attempt in range(1, MAX_ATTEMPTS + 1):
        resource = await load()
        events = _decide(resource, command, blobs)
        if not events:
            return resource, None
        try:
            return resource, await append(resource, events)
        except (IntegrityError, StaleState):
            logger.info(
                "version conflict on resource %s, attempt %s", resource.resource_id, attempt
            )
            await asyncio.sleep(random.uniform(0, 0.002 * 2**attempt))  # noqa: S311 - jitter
    raise ConcurrentUpdate(command.resource_id)


async def _decide_on_cached(
    command: UpdateResource,
    cached: Resource,
    append: Callable[[Resource, list[Resource.Changed]], Awaitable[T]],
    blobs: BlobStore,
) -> tuple[T] | None:
    """What `append` returned for a decision on `cached`; None when it cannot stand."""
    try:
        events = _decide(cached, command, blobs)
    except (VersionMismatch, DomainError):
        return None  # perhaps only because the cached state is old
    if not events:
        return None  # "no change" may be an old state's answer
    try:
        return (await append(cached, events),)
    except (IntegrityError, StaleState):
        return None


def _decide(
    resource: Resource, command: UpdateResource, blobs: BlobStore
) -> list[Resource.Changed]:
    """Applies the command to `resource`; the change events it decided on."""
    check_expected_version(resource, command)
    apply_update(resource, command, blobs)
    return [event for event in resource.collect_events() if isinstance(event, Resource.Changed)]


class ResourceApplication(Application[UUID]):
    """Registers, changes and deletes resources; each change is an appended event."""

    name = "Resources"
    snapshotting_intervals: ClassVar[dict[type[Aggregate], int]] = {Resource: 50}  # type: ignore[assignment]
    """Bounds the events read to rebuild a resource at any version to 50."""

    def __init__(
        self,
        env: EnvType | None = None,
        *,
        blobs: BlobStore,
        max_upload_bytes: int,
        ids: IdAllocator | None = None,
    ) -> None:
        super().__init__(env)
        self.blobs = blobs
        self._locks = [threading.Lock() for _ in range(LOCK_STRIPES)]
        self.max_upload_bytes = max_upload_bytes
        if ids is None:
            recorder = self.recorder
            assert isinstance(recorder, PostgresApplicationRecorder)
            ids = PostgresIdAllocator(recorder.datastore)
        self.ids = ids

    def register(self, command: RegisterResource) -> Resource:
        """Registers a file (pending until its upload is confirmed) or a link."""
        if (
            command.url is None
            and command.size_bytes is not None
            and command.size_bytes > self.max_upload_bytes
        ):
            raise InvalidValue(
                "size_bytes", f"must be at most the upload limit of {self.max_upload_bytes} bytes"
            )
        facts: dict[str, Any] = {
            "resource_id": self.ids.next_id(),
            "project_id": command.project_id,
            "name": command.name,
            "description": command.description,
            "mime_type": command.mime_type,
            "size_bytes": command.size_bytes,
            "by": command.by,
        }
        if command.url is None:
            resource = Resource.register_file(**facts)
        else:
            resource = Resource.register_link(url=command.url, **facts)
        self.save(resource)
        return resource

    def update(self, command: UpdateResource) -> Resource:
        """Applies every requested change; returns the resource after them.

        All events of one command are appended atomically; a command that changes
        nothing appends nothing.
        """

        return self._change(
            command,
            command.resource_id,
            lambda resource: apply_update(resource, command, self.blobs),
        )

    def delete(self, command: DeleteResource) -> Resource:
        """Deletes the resource from the read models and its bytes; history stays."""
        resource = self._change(
            command, command.resource_id, lambda resource: resource.delete(by=command.by)
        )
        self.blobs.delete(blob_key(command.resource_id))
        return resource

    def resource_accepting_upload(self, resource_id: int) -> Resource:
        """The resource whose bytes are about to be uploaded, if it takes them."""
        resource = self._load(resource_id)
        resource.ensure_accepts_upload()
        return resource

    def find(self, project_id: int, resource_id: int) -> Resource:
        """The live resource, as its events say; deleted ones are not found."""
        resource = self._load(resource_id)
        if resource.project_id != project_id or resource.deleted:
            raise ResourceNotFound(resource_id)
        return resource

    def _load(self, resource_id: int) -> Resource:
        try:
            found: object = self.repository.get(resource_uuid(resource_id))
        except AggregateNotFoundError:
            raise ResourceNotFound(resource_id) from None
        assert isinstance(found, Resource)
        return found

    def _change(
        self, command: Command, resource_id: int, change: Callable[[Resource], None]
    ) -> Resource:
        """Loads, changes and saves, again from fresh state when another writer won.

        With an expected version, a resource at any other version is refused, and
        since the append itself checks the version, nothing can slip in between.
        """
        with self._locks[resource_id % LOCK_STRIPES]:
            for attempt in range(1, MAX_ATTEMPTS + 1):
                resource = self.find(command.project_id, resource_id)
                check_expected_version(resource, command)
                change(resource)
                try:
                    self.save(resource)
                except IntegrityError:
                    logger.info("version conflict on resource %s, attempt %s", resource_id, attempt)
                    time.sleep(random.uniform(0, 0.002 * 2**attempt))  # noqa: S311 - jitter
                    continue
                return resource
        raise ConcurrentUpdate(resource_id)
