"""A ResourceStore that remembers the keys and rows it last saw, around any other.

The service decides a change on the row this process last saw for the resource,
without a read: the append's guard verifies the row (and the key) in the same
statement, so a remembered row that is out of date costs a refused append, never
a wrong answer. Everything else passes through to the store it wraps.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from eventsourcing.domain import Aggregate, Snapshot

from application.access import Caller, Principal
from application.errors import DuplicateRequest, StaleState, Unauthenticated
from application.ports import Basis, Guard, ResourcePage, ResourceStore, StatusFilter
from projections.resources import ResourceRecord

CACHED_ROWS = 50_000
CACHED_KEYS = 1_000


class CachingResourceStore:
    """ResourceStore: `basis` answers from memory when it can; the rest passes through."""

    def __init__(
        self, store: ResourceStore, *, rows: int = CACHED_ROWS, keys: int = CACHED_KEYS
    ) -> None:
        self._store = store
        self._max_rows = rows
        self._max_keys = keys
        self._keys: dict[bytes, Principal] = {}
        self._rows: dict[int, ResourceRecord] = {}

    def _key_seen(self, caller: Caller, principal: Principal) -> Principal:
        if len(self._keys) >= self._max_keys and caller.digest not in self._keys:
            self._keys.clear()
        self._keys[caller.digest] = principal
        return principal

    def _row_seen(self, resource_id: int, record: ResourceRecord | None) -> None:
        if record is None:
            self._rows.pop(resource_id, None)
            return
        if len(self._rows) >= self._max_rows and resource_id not in self._rows:
            self._rows.pop(next(iter(self._rows)))  # the oldest entry
        self._rows[resource_id] = record

    @contextmanager
    def _key_checked(self, caller: Caller) -> Iterator[None]:
        """Forgets the caller's key when the store finds it is not live."""
        try:
            yield
        except Unauthenticated:
            self._keys.pop(caller.digest, None)
            raise

    async def authenticate(self, caller: Caller) -> Principal:
        with self._key_checked(caller):
            return self._key_seen(caller, await self._store.authenticate(caller))

    async def load(
        self, caller: Caller, resource_id: int
    ) -> tuple[Principal, ResourceRecord | None]:
        with self._key_checked(caller):
            principal, record = await self._store.load(caller, resource_id)
        self._key_seen(caller, principal)
        self._row_seen(resource_id, record)
        return principal, record

    async def basis(self, caller: Caller, resource_id: int) -> Basis:
        principal = self._keys.get(caller.digest)
        row = self._rows.get(resource_id)
        if principal is not None and row is not None and row.project_id == principal.project_id:
            return Basis(principal=principal, row=row, confirmed=False)
        principal, row = await self.load(caller, resource_id)
        return Basis(principal=principal, row=row, confirmed=True)

    async def page(
        self, caller: Caller, status: StatusFilter, page: int, per_page: int
    ) -> tuple[Principal, ResourcePage]:
        with self._key_checked(caller):
            principal, found = await self._store.page(caller, status, page, per_page)
        return self._key_seen(caller, principal), found

    async def find(self, resource_id: int) -> ResourceRecord | None:
        return await self._store.find(resource_id)

    async def has_history(self, resource_id: int) -> bool:
        return await self._store.has_history(resource_id)

    async def append(
        self,
        events: Sequence[Aggregate.Event],
        *,
        guard: Guard,
        snapshot: Snapshot | None = None,
        remember_as: tuple[str, bytes, bool] | None = None,
    ) -> ResourceRecord | None:
        resource_id = guard.basis.id if guard.basis is not None else None
        try:
            record = await self._store.append(
                events, guard=guard, snapshot=snapshot, remember_as=remember_as
            )
        except (StaleState, DuplicateRequest):
            if resource_id is not None:
                self._rows.pop(resource_id, None)
            raise
        if record is not None:
            self._row_seen(record.id, record)
        elif resource_id is not None:
            self._rows.pop(resource_id, None)
        return record
