"""In-memory stand-ins for the ports, for tests that need no storage."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from types import TracebackType
from typing import Self


class MemoryBlobWriter:
    def __init__(self, store: MemoryBlobStore, key: str) -> None:
        self._store = store
        self._key = key
        self._chunks: list[bytes] = []

    def write(self, chunk: bytes) -> None:
        self._chunks.append(chunk)

    def commit(self) -> int:
        self._store.blobs[self._key] = b"".join(self._chunks)
        return len(self._store.blobs[self._key])

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._chunks.clear()


class MemoryBlobStore:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def writer(self, key: str) -> MemoryBlobWriter:
        return MemoryBlobWriter(self, key)

    def size(self, key: str) -> int | None:
        blob = self.blobs.get(key)
        return None if blob is None else len(blob)

    def read(self, key: str) -> Iterator[bytes]:
        yield self.blobs[key]

    def delete(self, key: str) -> None:
        self.blobs.pop(key, None)


class CountingIds:
    def __init__(self) -> None:
        self._next = itertools.count(1)

    def next_id(self) -> int:
        return next(self._next)
