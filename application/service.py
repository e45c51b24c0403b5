"""The Resource use cases, on async I/O: the one path by which anything changes.

Every change is decided on a row of the read model (which is written in the same
transaction as the events, so a row *is* the resource's state at its version),
then appended with a guard: the caller's key is still live for the project, and
the row is still the resource's row. A refused append means the state moved on:
the command is decided again on a fresh row.

A process first decides a PATCH on the row it last saw for the resource (no
read at all). Only an append can confirm such a row, so a decision on it that
appends nothing (no change, a broken rule, a failed If-Match) is made again on
fresh state: no answer ever rests on a row the store has not confirmed.
Commands on one resource take turns in a process, so conflicts arise only
between processes, where a jittered retry resolves them.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterable, AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from eventsourcing.domain import Aggregate, Snapshot
from msgspec import UnsetType
from msgspec.structs import replace

from application.access import Caller, OnPrincipal, Principal, actor, ignore_principal
from application.commands import (
    ChangeResource,
    DeleteResource,
    IdempotencyKey,
    RegisterResource,
    UpdateResource,
)
from application.errors import (
    BlobStoreUnavailable,
    ConcurrentUpdate,
    DuplicateRequest,
    IdempotencyKeyReused,
    ResourceNotFound,
    StaleState,
    UploadElsewhere,
    UploadTooLarge,
    VersionMismatch,
)
from application.ports import (
    Basis,
    BlobItem,
    BlobStore,
    Guard,
    IdAllocator,
    IdempotencyRecords,
    Outcome,
    RememberedOutcome,
    ResourcePage,
    ResourceStore,
    StatusFilter,
    StoredBlob,
)
from domain.errors import DomainError, InvalidValue, ResourceDeleted
from domain.resource import Actor, Resource
from projections.resources import ResourceRecord, resource_from_record

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
"""How often a change is decided again on fresh state after losing a race."""
MAX_BACKOFF = 0.05
"""Seconds a retry waits at most (jittered): all attempts together stay under a second."""
TURN_STRIPES = 1024
"""Commands whose resource ids are equal modulo this take turns in a process."""
SNAPSHOT_INTERVAL = 50
"""A snapshot every 50 events bounds what history and time travel read."""

Decision = Callable[[Resource, Actor, StoredBlob | None], None]
"""Applies a command to the resource, given who acts and (for a confirmation) the
uploaded bytes as the object that will keep them."""


def blob_name(record: ResourceRecord) -> str:
    """The object that keeps an uploaded file's bytes (before objects had names, they
    were kept under the resource's id)."""
    return record.blob or f"resources/{record.id}"


def snapshot_due(first_version: int, last_version: int) -> bool:
    """Whether an append of versions first..last crosses a snapshot interval."""
    return last_version // SNAPSHOT_INTERVAL > (first_version - 1) // SNAPSHOT_INTERVAL


def _update(command: UpdateResource) -> Decision:
    def decide(resource: Resource, by: Actor, upload: StoredBlob | None) -> None:
        if not isinstance(command.name, UnsetType):
            resource.rename(command.name, by=by)
        if not isinstance(command.description, UnsetType):
            resource.describe(command.description, by=by)
        if command.confirm_upload:
            if upload is None:
                resource.confirm_upload(None, by=by)
            else:
                resource.confirm_upload(upload.size, blob=upload.name, digest=upload.digest, by=by)

    return decide


def _events(resource: Resource) -> list[Aggregate.Event]:
    """The events a command made, to append."""
    return [event for event in resource.collect_events() if isinstance(event, Aggregate.Event)]


def _delete(resource: Resource, by: Actor, _upload: StoredBlob | None) -> None:
    resource.delete(by=by)


class ResourceService:
    def __init__(
        self,
        *,
        store: ResourceStore,
        ids: IdAllocator,
        outcomes: IdempotencyRecords,
        blobs: BlobStore,
        max_upload_bytes: int,
        on_principal: OnPrincipal = ignore_principal,
    ) -> None:
        self.store = store
        self.blobs = blobs
        self._ids = ids
        self._outcomes = outcomes
        self.max_upload_bytes = max_upload_bytes
        self._on_principal = on_principal
        self._turns = [asyncio.Lock() for _ in range(TURN_STRIPES)]

    def _actor(self, principal: Principal, caller: Caller) -> Actor:
        """Who the events of this request record; the edge learns whom it acts for."""
        self._on_principal(principal)
        return actor(principal, caller)

    # Reads

    async def authenticate(self, caller: Caller) -> Principal:
        principal = await self.store.authenticate(caller)
        self._on_principal(principal)
        return principal

    async def get(self, caller: Caller, resource_id: int) -> tuple[Principal, ResourceRecord]:
        principal, record = await self.store.load(caller, resource_id)
        self._on_principal(principal)
        if record is None:
            raise ResourceNotFound(resource_id)
        return principal, record

    async def page(
        self, caller: Caller, status: StatusFilter, page: int, per_page: int
    ) -> ResourcePage:
        principal, found = await self.store.page(caller, status, page, per_page)
        self._on_principal(principal)
        return found

    # Changes

    async def register(self, caller: Caller, command: RegisterResource) -> Outcome:
        """Registers a file (pending until its upload is confirmed) or a link."""
        principal = await self.store.authenticate(caller)
        if command.project_id is not None and command.project_id != principal.project_id:
            raise InvalidValue("project_id", "must be the project of your API key")
        remember_as = None
        if command.idempotency is not None:
            replay = await self._replay(principal, command.idempotency)
            if replay is not None:
                return replay
            remember_as = (command.idempotency.key, command.idempotency.fingerprint, True)
        if (command.size_bytes or 0) > self.max_upload_bytes:
            raise InvalidValue(
                "size_bytes", f"must be at most the upload limit of {self.max_upload_bytes} bytes"
            )
        facts: dict[str, Any] = {
            field: getattr(command, field) for field in RegisterResource.registered_fields()
        }
        facts["resource_id"] = await self._ids.next_id()
        facts["project_id"] = principal.project_id
        facts["by"] = self._actor(principal, caller)
        if command.url is None:
            resource = Resource.register_file(**facts)
        else:
            resource = Resource.register_link(url=command.url, **facts)
        guard = Guard(digest=caller.digest, project_id=principal.project_id)
        try:
            record = await self.store.append(
                _events(resource), guard=guard, remember_as=remember_as
            )
        except DuplicateRequest:
            return await self._replay_after_race(principal, command.idempotency)
        except StaleState:
            # The store tries an append once more when its connection is lost; if the
            # first try had committed, the second is refused. The id is this request's
            # own (from the sequence, never reused): a row with it is this registration.
            committed = await self.store.find(resource.resource_id)
            if committed is not None:
                return Outcome(record=committed, created=True)
            await self.store.authenticate(caller)  # the key was revoked meanwhile: 401
            raise ConcurrentUpdate(resource.resource_id) from None
        assert record is not None
        return Outcome(record=record, created=True)

    async def update(self, caller: Caller, command: UpdateResource) -> Outcome:
        """Applies every requested change in one atomic append; the resource after it.

        A command that changes nothing appends nothing."""
        return await self._change(caller, command, _update(command), command.confirm_upload)

    async def delete(self, caller: Caller, command: DeleteResource) -> None:
        """Deletes the resource from the read models and its bytes; its history stays.

        The deletion is committed first; bytes that cannot be removed then (the store
        is down, or the process dies) are left to the garbage collector."""
        await self._change(caller, command, _delete, confirm_upload=False)
        try:
            await self.blobs.delete(command.resource_id)
        except BlobStoreUnavailable:
            logger.warning(
                "resource %s deleted; its bytes stay until the blob store's garbage collection",
                command.resource_id,
            )

    async def _change(
        self, caller: Caller, command: ChangeResource, decide: Decision, confirm_upload: bool
    ) -> Outcome:
        async with self._turns[command.resource_id % TURN_STRIPES]:
            if command.idempotency is None:
                outcome, _ = await self._decide_and_append(
                    caller, command, decide, confirm_upload, None
                )
                return outcome
            return await self._change_once(
                caller, command, command.idempotency, decide, confirm_upload
            )

    async def _change_once(
        self,
        caller: Caller,
        command: ChangeResource,
        idempotency: IdempotencyKey,
        decide: Decision,
        confirm_upload: bool,
    ) -> Outcome:
        """A change with an Idempotency-Key: its outcome is kept in the same transaction."""
        principal = await self.store.authenticate(caller)
        replay = await self._replay(principal, idempotency)
        if replay is not None:
            return replay
        remember_as = (idempotency.key, idempotency.fingerprint, False)
        try:
            outcome, appended = await self._decide_and_append(
                caller, command, decide, confirm_upload, remember_as
            )
        except DuplicateRequest:
            return await self._replay_after_race(principal, idempotency)
        if not appended:
            kept = RememberedOutcome(fingerprint=idempotency.fingerprint, outcome=outcome)
            if not await self._outcomes.keep(principal.project_id, idempotency.key, kept):
                return await self._replay_after_race(principal, idempotency)
        return outcome

    async def _decide_and_append(
        self,
        caller: Caller,
        command: ChangeResource,
        decide: Decision,
        confirm_upload: bool,
        remember_as: tuple[str, bytes, bool] | None,
    ) -> tuple[Outcome, bool]:
        """Decide → append → on a lost race, decide again on fresh state.

        The first decision may rest on a row the store remembered (`Basis.confirmed`
        false): only an append confirms such a row, so any other answer on it (no
        change, a broken rule, a failed If-Match) is decided again on a fresh row, and
        only an answer on a confirmed row is given. Returns the outcome and whether
        anything was appended."""
        basis = await self.store.basis(caller, command.resource_id)
        attempt = 0
        while True:
            if basis.row is None:
                raise ResourceNotFound(command.resource_id)
            try:
                outcome, appended = await self._attempt(
                    caller, basis.principal, basis.row, command, decide, confirm_upload, remember_as
                )
            except StaleState:
                if basis.confirmed:  # a race lost to another process: wait a little
                    attempt += 1
                    if attempt >= MAX_ATTEMPTS:
                        raise ConcurrentUpdate(command.resource_id) from None
                    logger.info(
                        "version conflict on resource %s, attempt %s", command.resource_id, attempt
                    )
                    await asyncio.sleep(random.uniform(0, min(0.002 * 2**attempt, MAX_BACKOFF)))  # noqa: S311
            except (VersionMismatch, DomainError):
                if basis.confirmed:
                    raise
            else:
                if appended or basis.confirmed:
                    return outcome, appended
            principal, row = await self.store.load(caller, command.resource_id)
            basis = Basis(principal=principal, row=row, confirmed=True)

    async def _attempt(
        self,
        caller: Caller,
        principal: Principal,
        row: ResourceRecord,
        command: ChangeResource,
        decide: Decision,
        confirm_upload: bool,
        remember_as: tuple[str, bytes, bool] | None,
    ) -> tuple[Outcome, bool]:
        """One decision on `row`, appended with a guard that `row` is still current."""
        resource = resource_from_record(row)
        if command.expected_versions is not None and row.version not in command.expected_versions:
            raise VersionMismatch(row.version)
        upload = kept = None
        if confirm_upload and resource.status == "pending":
            upload = await self.blobs.newest_upload(row.id)
            if upload is not None:
                if upload.size > self.max_upload_bytes:
                    raise UploadTooLarge(self.max_upload_bytes)
                kept = replace(upload, name=self.blobs.object_name(row.id, upload))
        decide(resource, self._actor(principal, caller), kept)
        events = _events(resource)
        if not events:
            return Outcome(record=row), False
        if upload is not None and kept is not None:
            # Kept before the event that names it is appended: a confirmed resource's
            # object always exists, and no URL can write it.
            try:
                await self.blobs.keep(upload, kept.name)
            except FileNotFoundError:
                # Moved by a confirmation in another process, or collected: decide
                # again on the current row and files.
                raise StaleState from None
        snapshot = None
        if snapshot_due(events[0].originator_version, events[-1].originator_version):
            snapshot = Snapshot.take(resource)
        guard = Guard(digest=caller.digest, project_id=principal.project_id, basis=row)
        after = await self.store.append(
            events, guard=guard, snapshot=snapshot, remember_as=remember_as
        )
        return Outcome(record=after if after is not None else row), True

    async def _replay(self, principal: Principal, idempotency: IdempotencyKey) -> Outcome | None:
        """The kept outcome of an earlier request with this key, if any."""
        kept = await self._outcomes.outcome(principal.project_id, idempotency.key)
        if kept is None:
            return None
        if kept.fingerprint != idempotency.fingerprint:
            raise IdempotencyKeyReused(idempotency.key)
        return Outcome(record=kept.outcome.record, created=kept.outcome.created, replayed=True)

    async def _replay_after_race(
        self, principal: Principal, idempotency: IdempotencyKey | None
    ) -> Outcome:
        """Another request with the same key committed first: its outcome."""
        assert idempotency is not None
        replay = await self._replay(principal, idempotency)
        if replay is None:  # its outcome expired in between: the client may retry
            raise ConcurrentUpdate(0)
        return replay

    # Bytes

    async def upload(
        self, resource_id: int, chunks: AsyncIterable[bytes], declared_length: int | None
    ) -> StoredBlob:
        """Streams a pending file's bytes into a staging object of their own.

        Raises UploadTooLarge past the declared size or the upload limit (nothing is
        kept), UploadInProgress while another upload of it streams, and a domain
        error when the resource takes no upload, also when it was confirmed while
        these bytes streamed (they are then discarded)."""
        if self.blobs.direct:
            raise UploadElsewhere
        record = await self._accepting_upload(resource_id)
        limit = self.max_upload_bytes
        if record.size_bytes is not None:
            limit = min(limit, record.size_bytes)
        if declared_length is not None and declared_length > limit:
            raise UploadTooLarge(limit)
        await self.blobs.check_room()
        writer = self.blobs.receive(resource_id)
        try:
            received = 0
            async for chunk in chunks:
                received += len(chunk)
                if received > limit:
                    raise UploadTooLarge(limit)
                writer.write(chunk)
            await self._accepting_upload(resource_id)
            return await writer.commit()
        finally:
            writer.discard()

    async def _accepting_upload(self, resource_id: int) -> ResourceRecord:
        record = await self.store.find(resource_id)
        if record is None:
            if await self.store.has_history(resource_id):
                raise ResourceDeleted("the resource has been deleted")
            raise ResourceNotFound(resource_id)
        resource_from_record(record).ensure_accepts_upload()
        return record

    async def download(self, resource_id: int) -> tuple[ResourceRecord, str]:
        """An uploaded file's row and the name of the object that keeps its bytes."""
        record = await self.store.find(resource_id)
        if record is None or record.kind != "file" or record.status != "uploaded":
            raise ResourceNotFound(resource_id)
        return record, blob_name(record)

    async def forget_old_outcomes(self) -> int:
        """Idempotency-Key outcomes are kept 24 hours: sweeps the older ones."""
        return await self._outcomes.sweep()

    async def collect_garbage(
        self, *, older_than: timedelta, per_second: float = 50.0
    ) -> AsyncIterator[BlobItem]:
        """Removes what no resource needs, yielding each object removed: uploads never
        confirmed, and objects of resources deleted (or confirmed with another one).

        Nothing younger than `older_than` (the signed URLs' lifetime) is touched, so a
        client's pending upload survives; removals are paced at `per_second`."""
        now = datetime.now(UTC)
        async for item in self.blobs.listing():
            if now - item.modified < older_than:
                continue
            if item.kind == "object":
                record = await self.store.find(item.resource_id)
                if (
                    record is not None
                    and record.status == "uploaded"
                    and (blob_name(record) == item.name)
                ):
                    continue
            await self.blobs.remove(item.name)
            yield item
            await asyncio.sleep(1 / per_second)
