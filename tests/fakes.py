"""In-memory stand-ins for the application's ports, for tests that need no storage.

`FakeResourceStore` behaves like `adapters.resource_store.PostgresResourceStore`
where the service can tell: the read model is written from the events (by the same
`resource_effect`) in the same "transaction" as the append; an append is refused
(StaleState) when its guard fails or its versions exist; an Idempotency-Key's
outcome is kept with the append; and the store remembers the keys and rows it last
saw, which `change_elsewhere` (another server's append) does not update.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, Snapshot

from application.access import Caller, Principal
from application.errors import DuplicateRequest, StaleState, Unauthenticated
from application.ports import Guard, Outcome, RememberedOutcome, ResourcePage, StatusFilter
from domain.resource import Resource, resource_uuid
from projections.resources import (
    ResourceRecord,
    Rows,
    fold_effects,
    resource_effect,
    resource_from_record,
)


class MemoryBlobWriter:
    def __init__(self, store: MemoryBlobStore, key: str) -> None:
        self._store = store
        self._key = key
        self._chunks: list[bytes] = []
        self.committed = False

    def write(self, chunk: bytes) -> None:
        self._chunks.append(chunk)

    async def commit(self) -> int:
        self._store.blobs[self._key] = b"".join(self._chunks)
        self.committed = True
        return len(self._store.blobs[self._key])

    def discard(self) -> None:
        self._chunks.clear()


class MemoryBlobStore:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def writer(self, key: str) -> MemoryBlobWriter:
        return MemoryBlobWriter(self, key)

    async def size(self, key: str) -> int | None:
        blob = self.blobs.get(key)
        return None if blob is None else len(blob)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        yield self.blobs[key]

    async def delete(self, key: str) -> None:
        self.blobs.pop(key, None)


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
        self.before_append: Callable[[], None] | None = None
        """Runs once at the start of the next append: another server's interleaving."""
        self._last_id = 0
        self._known_keys: dict[bytes, Principal] = {}
        self._known_rows: dict[int, ResourceRecord] = {}

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
            self._known_keys.pop(caller.digest, None)
            raise Unauthenticated
        self._known_keys[caller.digest] = principal
        return principal

    async def authenticate(self, caller: Caller) -> Principal:
        return self._principal(caller)

    def remembered(
        self, caller: Caller, resource_id: int
    ) -> tuple[Principal, ResourceRecord] | None:
        principal = self._known_keys.get(caller.digest)
        row = self._known_rows.get(resource_id)
        if principal is None or row is None or row.project_id != principal.project_id:
            return None
        return principal, row

    async def load(
        self, caller: Caller, resource_id: int
    ) -> tuple[Principal, ResourceRecord | None]:
        self.loads += 1
        principal = self._principal(caller)
        record = self.row(resource_id)
        if record is None or record.project_id != principal.project_id:
            self._known_rows.pop(resource_id, None)
            return principal, None
        self._known_rows[resource_id] = record
        return principal, record

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
        basis_id = guard.basis.id if guard.basis is not None else None
        try:
            self._check(events, guard, remember_as)
        except (StaleState, DuplicateRequest):
            self.refusals += 1
            if basis_id is not None:
                self._known_rows.pop(basis_id, None)
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
        record = None if after is None else ResourceRecord(**after)
        if record is not None:
            self._known_rows[record.id] = record
        elif basis_id is not None:
            self._known_rows.pop(basis_id, None)
        return record

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

    async def keep(self, project_id: int, key: str, remembered: RememberedOutcome) -> bool:
        if (project_id, key) in self.outcomes:
            return False
        self.outcomes[(project_id, key)] = remembered
        return True
