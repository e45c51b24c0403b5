"""What the use cases need from the world, as Protocols; `adapters/` implements them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Literal, Protocol

from eventsourcing.domain import Aggregate, Snapshot
from msgspec import Struct

from application.access import Caller, Principal
from projections.activity import ActivityFilter, ActivityPage
from projections.resources import ResourceRecord

StatusFilter = Literal["uploaded", "pending", "all"]


class ResourcePage(Struct, frozen=True, kw_only=True):
    resources: list[ResourceRecord]
    total: int


class Guard(Struct, frozen=True, kw_only=True):
    """What must still hold when an append commits, checked in the same statement."""

    digest: bytes
    """The caller's key: still live, and still of `project_id`."""
    project_id: int
    basis: ResourceRecord | None = None
    """The row the command was decided on: still the resource's row."""


class Outcome(Struct, frozen=True, kw_only=True):
    """What a command left: the resource after it, and whether it was created."""

    record: ResourceRecord
    created: bool = False
    replayed: bool = False
    """True when this is the stored outcome of an earlier request with the same key."""


class RememberedOutcome(Struct, frozen=True, kw_only=True):
    """An Idempotency-Key's first outcome, kept for its retries."""

    fingerprint: bytes
    outcome: Outcome


class Basis(Struct, frozen=True, kw_only=True):
    """The row a change is decided on."""

    principal: Principal
    row: ResourceRecord | None
    confirmed: bool
    """Whether the store read the row just now. A row a cache remembered is only a
    hint that the append's guard verifies: a decision on it that appends nothing is
    made again on a confirmed row."""


class ResourceStore(Protocol):
    """The resources' events and read model, and the keys that may reach them."""

    async def authenticate(self, caller: Caller) -> Principal:
        """The live key's principal; raises Unauthenticated."""
        ...

    async def load(
        self, caller: Caller, resource_id: int
    ) -> tuple[Principal, ResourceRecord | None]:
        """The caller's principal and the resource's row if it is in their project;
        one round trip. Raises Unauthenticated."""
        ...

    async def basis(self, caller: Caller, resource_id: int) -> Basis:
        """The caller's principal and the row to decide a change on: read now, or (a
        caching store) the row this process last saw. Raises Unauthenticated."""
        ...

    async def page(
        self, caller: Caller, status: StatusFilter, page: int, per_page: int
    ) -> tuple[Principal, ResourcePage]: ...

    async def find(self, resource_id: int) -> ResourceRecord | None:
        """A live resource of any project (for requests authorised by a signed URL)."""
        ...

    async def has_history(self, resource_id: int) -> bool:
        """Whether any event was ever recorded for the resource (deleted ones included)."""
        ...

    async def append(
        self,
        events: Sequence[Aggregate.Event],
        *,
        guard: Guard,
        snapshot: Snapshot | None = None,
        remember_as: tuple[str, bytes, bool] | None = None,
    ) -> ResourceRecord | None:
        """Appends atomically with the read models; the resource's row after them (None
        once deleted). With `remember_as` (key, fingerprint, created), the outcome is
        kept for the Idempotency-Key in the same transaction.

        Raises StaleState when the guard fails or another writer appended first, and
        DuplicateRequest when the key's outcome was kept meanwhile; nothing is written."""
        ...


class ActivityReads(Protocol):
    """The project activity feed (an asynchronous read model)."""

    async def page(
        self, project_id: int, where: ActivityFilter, page: int, per_page: int
    ) -> ActivityPage:
        """The project's entries matching `where`, newest first."""
        ...


class StreamStretch(Struct, frozen=True, kw_only=True):
    """A stretch of one resource's event stream, read at one moment."""

    latest: int
    """The resource's number of events (its latest version); 0 when it never existed."""
    snapshot: Snapshot | None
    """The latest snapshot at or before the version asked for, if any."""
    events: list[Aggregate.Event]
    """Its events after the snapshot (from the first, without one) up to the version
    asked for, in order, decoded (and upcast) as domain events."""


class EventHistory(Protocol):
    """The resources' event streams, deleted resources' included: for history and time
    travel. Each read also looks up the caller's key, as `ResourceStore.load` does, so
    that a request makes one round trip."""

    async def stretch(
        self, caller: Caller, resource_id: int, *, restore_at: int, until: int
    ) -> tuple[Principal, StreamStretch]:
        """The caller's principal and, in the same read, the resource's latest version,
        its nearest snapshot at or before version `restore_at`, and its events after that
        snapshot up to version `until`. Raises Unauthenticated."""
        ...

    async def version_at(
        self, caller: Caller, resource_id: int, moment: datetime
    ) -> tuple[Principal, int | None]:
        """The caller's principal and the resource's version current at `moment` (None
        before it existed). Raises Unauthenticated."""
        ...


class IdempotencyRecords(Protocol):
    async def outcome(self, project_id: int, key: str) -> RememberedOutcome | None:
        """The outcome kept for a key in the last 24 hours."""
        ...

    async def keep(self, project_id: int, key: str, remembered: RememberedOutcome) -> bool:
        """Keeps the outcome of a command that appended nothing; False if one was kept."""
        ...

    async def sweep(self) -> int:
        """Removes outcomes past their 24 hours; returns how many."""
        ...


class IdAllocator(Protocol):
    """Hands out public resource ids: integers from 1 up, never reused."""

    async def next_id(self) -> int: ...


class StoredBlob(Struct, frozen=True, kw_only=True):
    """Bytes in the blob store: an upload waiting for confirmation, or a kept object."""

    name: str
    """The object's name within the store (never a client's words: ids and tokens)."""
    size: int
    digest: str
    """`sha256:<hex>` (the file store, computed while streaming) or `etag:<tag>` (S3)."""
    modified: datetime


class BlobItem(Struct, frozen=True, kw_only=True):
    """One object of the store, as the garbage collector sees it."""

    name: str
    resource_id: int
    kind: Literal["upload", "object"]
    modified: datetime


class BlobWriter(Protocol):
    """Streams one upload's bytes into a staging object of its own."""

    def write(self, chunk: bytes) -> None: ...

    async def commit(self) -> StoredBlob:
        """Makes the upload visible to a confirmation; returns it."""
        ...

    def discard(self) -> None:
        """Drops what was written unless `commit` was called; ends the upload."""
        ...


class BlobStore(Protocol):
    """Where the bytes of uploaded files are kept.

    Every upload lands in a staging object of its own (`uploads/<id>/<token>`);
    confirming moves or copies the newest one to an object that no URL can write
    (`objects/<id>/<token>`), so confirmed bytes never change. Failures to reach
    the store raise BlobStoreUnavailable within the store's timeout.
    """

    direct: bool
    """Whether clients send and fetch the bytes straight to and from the store
    (signed store URLs), or through the service's content endpoint."""

    def upload_url(self, resource_id: int, ttl_seconds: int) -> str:
        """A signed PUT of a new staging object (direct stores only)."""
        ...

    def download_url(
        self, name: str, ttl_seconds: int, *, content_type: str, disposition: str
    ) -> str:
        """A signed GET of an object (direct stores only), answered with these
        Content-Type and Content-Disposition, as the service's own downloads are."""
        ...

    async def check_room(self) -> None:
        """Raises InsufficientStorage when an upload could fill the disk."""
        ...

    def receive(self, resource_id: int) -> BlobWriter:
        """A writer for one upload; UploadInProgress while another one runs."""
        ...

    async def newest_upload(self, resource_id: int) -> StoredBlob | None:
        """The newest complete upload of a resource (a staging object, or an object
        kept for it by a confirmation that did not commit), or None."""
        ...

    def object_name(self, resource_id: int, upload: StoredBlob) -> str:
        """The name of the immutable object that keeps an upload once confirmed."""
        ...

    async def keep(self, upload: StoredBlob, name: str) -> None:
        """Moves or copies an upload to its immutable object (nothing when it is one).
        Raises FileNotFoundError when the upload is gone: moved by a confirmation in
        another process, or collected."""
        ...

    def read(self, name: str) -> AsyncIterator[bytes]:
        """An object's bytes in chunks, so memory does not grow with the file."""
        ...

    async def delete(self, resource_id: int) -> None:
        """Removes every object and upload of a resource; none is not an error."""
        ...

    def listing(self) -> AsyncIterator[BlobItem]:
        """Every upload and object in the store."""
        ...

    async def remove(self, name: str) -> None:
        """Removes one object; a missing one is not an error."""
        ...
