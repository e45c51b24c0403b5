"""In-memory stand-ins for the application's ports, for tests that need no storage.

`FakeResourceStore` behaves like `adapters.resource_store.PostgresResourceStore`
where the service can tell: the read model is written from the events (by the same
`resource_effect`) in the same "transaction" as the append; an append is refused
(StaleState) when its guard fails or its versions exist; an Idempotency-Key's
outcome is kept with the append. Tests wrap it in the real `CachingResourceStore`, as
production wraps the PostgreSQL store; `change_elsewhere` (another server's append)
then leaves the cache out of date, as it would be.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, Snapshot

from application.access import Caller, Principal
from application.errors import DuplicateRequest, StaleState, Unauthenticated, UploadInProgress
from application.ports import (
    Basis,
    BlobItem,
    Guard,
    Outcome,
    RememberedOutcome,
    ResourcePage,
    StatusFilter,
    StoredBlob,
    StreamStretch,
)
from domain.resource import Resource, resource_uuid
from projections.resources import (
    ResourceRecord,
    Rows,
    fold_effects,
    resource_effect,
    resource_from_record,
)


class MemoryBlobWriter:
    def __init__(self, store: MemoryBlobStore, resource_id: int) -> None:
        self._store = store
        self._resource_id = resource_id
        self._chunks: list[bytes] = []
        self._done = False

    def write(self, chunk: bytes) -> None:
        self._chunks.append(chunk)

    async def commit(self) -> StoredBlob:
        self._done = True
        self._store.receiving.discard(self._resource_id)
        return self._store.plant(self._resource_id, b"".join(self._chunks))

    def discard(self) -> None:
        if not self._done:
            self._done = True
            self._store.receiving.discard(self._resource_id)


class MemoryBlobStore:
    """The blob store's port in memory: uploads and objects by name, newest last."""

    direct = False

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, datetime]] = {}
        self.receiving: set[int] = set()
        self._clock = itertools.count()

    def _now(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=next(self._clock))

    def plant(
        self, resource_id: int, data: bytes, *, modified: datetime | None = None
    ) -> StoredBlob:
        """A complete upload of the resource, as a client's PUT leaves it."""
        name = f"uploads/{resource_id}/{len(self.objects)}"
        self.objects[name] = (data, modified or self._now())
        return self._stored(name)

    def _stored(self, name: str) -> StoredBlob:
        data, modified = self.objects[name]
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        return StoredBlob(name=name, size=len(data), digest=digest, modified=modified)

    def names(self, resource_id: int) -> list[str]:
        return sorted(name for name in self.objects if name.split("/")[1] == str(resource_id))

    def bytes_of(self, resource_id: int) -> bytes | None:
        """The newest bytes kept for the resource (an upload or an object)."""
        names = self.names(resource_id)
        if not names:
            return None
        return max((self.objects[name] for name in names), key=lambda pair: pair[1])[0]

    def upload_url(self, resource_id: int, ttl_seconds: int) -> str:
        raise NotImplementedError

    def download_url(
        self, name: str, ttl_seconds: int, *, content_type: str, disposition: str
    ) -> str:
        raise NotImplementedError

    async def check_room(self) -> None:
        pass

    def receive(self, resource_id: int) -> MemoryBlobWriter:
        if resource_id in self.receiving:
            raise UploadInProgress
        self.receiving.add(resource_id)
        return MemoryBlobWriter(self, resource_id)

    async def newest_upload(self, resource_id: int) -> StoredBlob | None:
        names = self.names(resource_id)
        if not names:
            return None
        return self._stored(max(names, key=lambda name: self.objects[name][1]))

    def object_name(self, resource_id: int, upload: StoredBlob) -> str:
        return f"objects/{resource_id}/{upload.name.rpartition('/')[2]}"

    async def keep(self, upload: StoredBlob, name: str) -> None:
        if upload.name != name:
            self.objects[name] = self.objects.pop(upload.name)

    async def read(self, name: str) -> AsyncIterator[bytes]:
        yield self.objects[name][0]

    async def delete(self, resource_id: int) -> None:
        for name in self.names(resource_id):
            del self.objects[name]

    async def listing(self) -> AsyncIterator[BlobItem]:
        for name, (_, modified) in list(self.objects.items()):
            kind, resource_id, _ = name.split("/")
            yield BlobItem(
                name=name,
                resource_id=int(resource_id),
                kind="upload" if kind == "uploads" else "object",
                modified=modified,
            )

    async def remove(self, name: str) -> None:
        self.objects.pop(name, None)


def caller_of(secret: str, request_id: str | None = None) -> Caller:
    return Caller(digest=hashlib.sha256(secret.encode()).digest(), request_id=request_id)


class FakeResourceStore:
    """ResourceStore, IdAllocator and IdempotencyRecords in memory."""

    def __init__(self) -> None:
        self.keys: dict[bytes, Principal] = {}
        """Live keys by digest."""
        self.rows: Rows = {}
        self.events: dict[UUID, list[Aggregate.Event]] = {}
        self.outcomes: dict[tuple[int, str], RememberedOutcome] = {}
        self.snapshots: list[Snapshot] = []
        self.loads = 0
        self.appends = 0
        """Appends that committed (through the port; `change_elsewhere` is not counted)."""
        self.refusals = 0
        self.refuse_every_append = False
        """Set to make the store refuse every append, as if always losing a race."""
        self.lose_the_next_answer = False
        """Set to make the next append commit and then raise StaleState: its connection
        lost after the commit, the store's second try refused."""
        self.before_append: Callable[[], None] | None = None
        """Runs once at the start of the next append: another server's interleaving."""
        self._last_id = 0

    # Set-up and inspection for tests

    def add_key(self, secret: str, *, project_id: int, user_id: str, key_id: int = 1) -> Caller:
        caller = caller_of(secret)
        self.keys[caller.digest] = Principal(key_id=key_id, project_id=project_id, user_id=user_id)
        return caller

    def revoke(self, caller: Caller) -> None:
        """Revokes the key in the store; what this process remembers stays."""
        del self.keys[caller.digest]

    def row(self, resource_id: int) -> ResourceRecord | None:
        values = self.rows.get(resource_uuid(resource_id))
        return None if values is None else ResourceRecord(**values)

    def event_names(self, resource_id: int) -> list[str]:
        return [type(event).__name__ for event in self.events.get(resource_uuid(resource_id), [])]

    def change_elsewhere(self, resource_id: int, change: Callable[[Resource], None]) -> None:
        """Another server changes the resource: appended, but not remembered here."""
        current = self.row(resource_id)
        assert current is not None, "only a live resource can be changed"
        resource = resource_from_record(current)
        change(resource)
        self._commit([e for e in resource.collect_events() if isinstance(e, Aggregate.Event)])

    # ResourceStore

    def _principal(self, caller: Caller) -> Principal:
        principal = self.keys.get(caller.digest)
        if principal is None:
            raise Unauthenticated
        return principal

    async def authenticate(self, caller: Caller) -> Principal:
        return self._principal(caller)

    async def load(
        self, caller: Caller, resource_id: int
    ) -> tuple[Principal, ResourceRecord | None]:
        self.loads += 1
        principal = self._principal(caller)
        record = self.row(resource_id)
        if record is None or record.project_id != principal.project_id:
            return principal, None
        return principal, record

    async def basis(self, caller: Caller, resource_id: int) -> Basis:
        principal, row = await self.load(caller, resource_id)
        return Basis(principal=principal, row=row, confirmed=True)

    async def page(
        self, caller: Caller, status: StatusFilter, page: int, per_page: int
    ) -> tuple[Principal, ResourcePage]:
        principal = self._principal(caller)
        found = sorted(
            (
                ResourceRecord(**values)
                for values in self.rows.values()
                if values is not None
                and values["project_id"] == principal.project_id
                and status in ("all", values["status"])
            ),
            key=lambda record: -record.id,
        )
        start = (page - 1) * per_page
        return principal, ResourcePage(resources=found[start : start + per_page], total=len(found))

    async def find(self, resource_id: int) -> ResourceRecord | None:
        return self.row(resource_id)

    async def has_history(self, resource_id: int) -> bool:
        return bool(self.events.get(resource_uuid(resource_id)))

    async def append(
        self,
        events: Sequence[Aggregate.Event],
        *,
        guard: Guard,
        snapshot: Snapshot | None = None,
        remember_as: tuple[str, bytes, bool] | None = None,
    ) -> ResourceRecord | None:
        if self.before_append is not None:
            interleave, self.before_append = self.before_append, None
            interleave()
        try:
            self._check(events, guard, remember_as)
        except (StaleState, DuplicateRequest):
            self.refusals += 1
            raise
        before = self.rows.get(events[-1].originator_id)
        after = self._commit(events)
        self.appends += 1
        if snapshot is not None:
            self.snapshots.append(snapshot)
        if remember_as is not None:
            key, fingerprint, created = remember_as
            kept = after if after is not None else before  # a delete keeps the removed row
            assert kept is not None
            self.outcomes[(guard.project_id, key)] = RememberedOutcome(
                fingerprint=fingerprint,
                outcome=Outcome(record=ResourceRecord(**kept), created=created),
            )
        if self.lose_the_next_answer:
            self.lose_the_next_answer = False
            raise StaleState
        return None if after is None else ResourceRecord(**after)

    def _check(
        self,
        events: Sequence[Aggregate.Event],
        guard: Guard,
        remember_as: tuple[str, bytes, bool] | None,
    ) -> None:
        """Everything that must hold for the append to commit; raises before any write."""
        if self.refuse_every_append:
            raise StaleState
        principal = self.keys.get(guard.digest)
        if principal is None or principal.project_id != guard.project_id:
            raise StaleState
        if guard.basis is not None:
            current = self.row(guard.basis.id)
            if current is None or (current.version, current.updated_at) != (
                guard.basis.version,
                guard.basis.updated_at,
            ):
                raise StaleState
        lengths: dict[UUID, int] = {}
        for event in events:
            at = lengths.get(event.originator_id, len(self.events.get(event.originator_id, [])))
            if event.originator_version != at + 1:
                raise StaleState  # the version exists: another writer appended first
            lengths[event.originator_id] = at + 1
        if remember_as is not None and (guard.project_id, remember_as[0]) in self.outcomes:
            raise DuplicateRequest

    def _commit(self, events: Sequence[Aggregate.Event]) -> dict[str, Any] | None:
        """Appends the events and writes the read model; the last resource's row after."""
        for event in events:
            self.events.setdefault(event.originator_id, []).append(event)
        fold_effects(self.rows, [e for event in events if (e := resource_effect(event))])
        return self.rows.get(events[-1].originator_id)

    # IdAllocator

    async def next_id(self) -> int:
        self._last_id += 1
        return self._last_id

    # IdempotencyRecords

    async def outcome(self, project_id: int, key: str) -> RememberedOutcome | None:
        return self.outcomes.get((project_id, key))

    async def sweep(self) -> int:
        swept = len(self.outcomes)
        self.outcomes.clear()  # the fake keeps no times: every outcome counts as old
        return swept

    async def keep(self, project_id: int, key: str, remembered: RememberedOutcome) -> bool:
        if (project_id, key) in self.outcomes:
            return False
        self.outcomes[(project_id, key)] = remembered
        return True


class MemoryEventHistory:
    """EventHistory over a `FakeResourceStore`'s keys, events and snapshots, answered as
    the PostgreSQL adapter answers: the key with each read, the timeline from the
    events' times."""

    def __init__(self, store: FakeResourceStore) -> None:
        self._store = store
        self.reads = 0
        """Reads of the port: round trips, for the PostgreSQL adapter."""
        self.events_read = 0
        """Events handed out by `stretch` (snapshots bound it)."""

    def _principal(self, caller: Caller) -> Principal:
        self.reads += 1
        principal = self._store.keys.get(caller.digest)
        if principal is None:
            raise Unauthenticated
        return principal

    async def stretch(
        self, caller: Caller, resource_id: int, *, restore_at: int, until: int
    ) -> tuple[Principal, StreamStretch]:
        principal = self._principal(caller)
        aggregate_id = resource_uuid(resource_id)
        events = self._store.events.get(aggregate_id, [])
        snapshots = [
            snapshot
            for snapshot in self._store.snapshots
            if snapshot.originator_id == aggregate_id and snapshot.originator_version <= restore_at
        ]
        snapshot = max(snapshots, key=lambda s: s.originator_version, default=None)
        after = 0 if snapshot is None else snapshot.originator_version
        stretch = [e for e in events if after < e.originator_version <= until]
        self.events_read += len(stretch)
        return principal, StreamStretch(latest=len(events), snapshot=snapshot, events=stretch)

    async def version_at(
        self, caller: Caller, resource_id: int, moment: datetime
    ) -> tuple[Principal, int | None]:
        principal = self._principal(caller)
        events = self._store.events.get(resource_uuid(resource_id), [])
        versions = [e.originator_version for e in events if e.timestamp <= moment]
        return principal, max(versions, default=None)
