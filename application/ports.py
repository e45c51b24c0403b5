"""What the use cases need from the world, as Protocols; adapters live beside them."""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Protocol, Self


class BlobWriter(Protocol):
    """Streams bytes to a blob; they become visible only on `commit`."""

    def write(self, chunk: bytes) -> None: ...

    def commit(self) -> int:
        """Makes the blob visible, replacing any earlier one; returns its size."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Discards what was written unless `commit` was called."""
        ...


class BlobStore(Protocol):
    """Where the bytes of uploaded files are kept."""

    def writer(self, key: str) -> BlobWriter: ...

    def size(self, key: str) -> int | None:
        """The size of a committed blob, or None when there is none."""
        ...

    def read(self, key: str) -> Iterator[bytes]:
        """The blob's bytes in chunks, so memory does not grow with the file."""
        ...

    def delete(self, key: str) -> None:
        """Removes the blob; removing a missing blob is not an error."""
        ...


class IdAllocator(Protocol):
    """Hands out public resource ids: integers from 1 up, never reused."""

    def next_id(self) -> int: ...
