"""The blob store on the local file system, under `DATA_DIR` by default."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import anyio.to_thread

CHUNK_SIZE = 256 * 1024


class FileBlobWriter:
    """Writes into a temporary file beside the target and renames it on commit.

    A reader therefore sees either no blob or a whole one, never a partial upload,
    even when the process dies mid-stream.
    """

    def __init__(self, target: Path) -> None:
        self._target = target
        target.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        self._file = os.fdopen(descriptor, "wb")
        self._temporary = Path(temporary)
        self._size = 0
        self._committed = False

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._size += len(chunk)

    def _commit(self) -> int:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._temporary.replace(self._target)
        self._committed = True
        return self._size

    async def commit(self) -> int:
        return await anyio.to_thread.run_sync(self._commit)

    def discard(self) -> None:
        if not self._committed:
            self._file.close()
            self._temporary.unlink(missing_ok=True)


class FileBlobStore:
    """Blobs as files under one root folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            msg = f"blob key escapes the store: {key!r}"
            raise ValueError(msg)
        return path

    def writer(self, key: str) -> FileBlobWriter:
        return FileBlobWriter(self._path(key))

    async def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    async def read(self, key: str) -> AsyncIterator[bytes]:
        with self._path(key).open("rb") as file:
            while chunk := await anyio.to_thread.run_sync(file.read, CHUNK_SIZE):
                yield chunk

    async def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
