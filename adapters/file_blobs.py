"""The blob store on the local file system, under `DATA_DIR/blobs` by default.

    uploads/<id>/<token>.<sha256>   one file per upload, complete (renamed into place)
    uploads/<id>/.incoming-*        an upload still streaming
    uploads/<id>/.lock              held (flock) while an upload of <id> streams
    objects/<id>/<token>.<sha256>   confirmed bytes: moved here, never written again
    resources/<id>                  bytes confirmed before objects had names

Files are renamed into place only when complete and after fsync (and the
directory is fsynced after the rename), so a reader sees a whole file or none,
even when the process dies mid-stream.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import anyio.to_thread

from application.errors import BlobStoreUnavailable, InsufficientStorage, UploadInProgress
from application.ports import BlobItem, StoredBlob

CHUNK_SIZE = 1024 * 1024
T = TypeVar("T")


def _fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _stored(root: Path, path: Path) -> StoredBlob:
    """An upload or object file, its digest read from its name."""
    status = path.stat()
    _, _, hexdigest = path.name.rpartition(".")
    return StoredBlob(
        name=path.relative_to(root).as_posix(),
        size=status.st_size,
        digest=f"sha256:{hexdigest}",
        modified=datetime.fromtimestamp(status.st_mtime, UTC),
    )


def _store_error(error: OSError) -> Exception:
    """A file-system failure as the store's: a full disk (507), else unavailable (503)."""
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return InsufficientStorage(f"the file store's disk is full: {error}")
    return BlobStoreUnavailable(str(error))


async def _off_the_loop(function: Callable[[], T]) -> T:
    """Runs file-system work in a thread; its failures are the store's unavailability."""
    try:
        return await anyio.to_thread.run_sync(function)
    except (FileNotFoundError, UploadInProgress):
        raise
    except OSError as error:
        raise _store_error(error) from error


class FileBlobWriter:
    """One upload: a temporary file, hashed while it streams, renamed on commit."""

    def __init__(self, root: Path, folder: Path) -> None:
        self._root = root
        self._folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock)
            raise UploadInProgress from None
        descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".incoming-")
        self._file = os.fdopen(descriptor, "wb")
        self._temporary = Path(temporary)
        self._hash = hashlib.sha256()
        self._done = False

    def write(self, chunk: bytes) -> None:
        try:
            self._file.write(chunk)
        except OSError as error:  # the disk filled up meanwhile, or failed
            raise _store_error(error) from error
        self._hash.update(chunk)

    def _commit(self) -> StoredBlob:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        target = self._folder / f"{secrets.token_hex(8)}.{self._hash.hexdigest()}"
        self._temporary.replace(target)
        _fsync_directory(self._folder)
        self.discard()
        return _stored(self._root, target)

    async def commit(self) -> StoredBlob:
        return await _off_the_loop(self._commit)

    def discard(self) -> None:
        if self._done:
            return
        self._done = True
        self._file.close()
        self._temporary.unlink(missing_ok=True)
        os.close(self._lock)  # and with it the lock


class FileBlobStore:
    """Blobs as files under one root folder."""

    direct = False

    def __init__(self, root: Path, *, min_free_bytes: int = 0) -> None:
        self.root = root
        self._min_free_bytes = min_free_bytes

    def _path(self, name: str) -> Path:
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root.resolve()):
            msg = f"blob name escapes the store: {name!r}"
            raise ValueError(msg)
        return path

    def upload_url(self, resource_id: int, ttl_seconds: int) -> str:
        raise NotImplementedError("the file store takes uploads through the service")

    def download_url(
        self, name: str, ttl_seconds: int, *, content_type: str, disposition: str
    ) -> str:
        raise NotImplementedError("the file store serves downloads through the service")

    async def check_room(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(self.root).free
        if free < self._min_free_bytes:
            raise InsufficientStorage(f"{free} bytes free, {self._min_free_bytes} kept free")

    def receive(self, resource_id: int) -> FileBlobWriter:
        try:
            return FileBlobWriter(self.root, self.root / "uploads" / str(resource_id))
        except UploadInProgress:
            raise
        except OSError as error:
            raise _store_error(error) from error

    def _newest(self, resource_id: int) -> StoredBlob | None:
        # A file may move (another process confirming: uploads/ to objects/) or go (the
        # garbage collector) while it is read here: look again, up to three times.
        for _ in range(3):
            with contextlib.suppress(FileNotFoundError):
                found = [
                    (path.stat().st_mtime_ns, path)
                    for kind in ("uploads", "objects")
                    if (folder := self.root / kind / str(resource_id)).is_dir()
                    for path in folder.iterdir()
                    if not path.name.startswith(".")
                ]
                return _stored(self.root, max(found)[1]) if found else None
        raise BlobStoreUnavailable(f"the files of resource {resource_id} kept changing")

    async def newest_upload(self, resource_id: int) -> StoredBlob | None:
        return await _off_the_loop(lambda: self._newest(resource_id))

    def object_name(self, resource_id: int, upload: StoredBlob) -> str:
        return f"objects/{resource_id}/{upload.name.rpartition('/')[2]}"

    def _keep(self, upload: StoredBlob, name: str) -> None:
        if upload.name == name:
            return
        target = self._path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        self._path(upload.name).replace(target)
        _fsync_directory(target.parent)

    async def keep(self, upload: StoredBlob, name: str) -> None:
        await _off_the_loop(lambda: self._keep(upload, name))

    async def read(self, name: str) -> AsyncIterator[bytes]:
        with self._path(name).open("rb") as file:
            while chunk := await anyio.to_thread.run_sync(file.read, CHUNK_SIZE):
                yield chunk

    def _delete(self, resource_id: int) -> None:
        for kind in ("objects", "uploads"):
            shutil.rmtree(self.root / kind / str(resource_id), ignore_errors=True)
        (self.root / "resources" / str(resource_id)).unlink(missing_ok=True)

    async def delete(self, resource_id: int) -> None:
        await _off_the_loop(lambda: self._delete(resource_id))

    def _items(self) -> list[BlobItem]:
        items = []
        for kind, folder in (("upload", "uploads"), ("object", "objects")):
            for directory in sorted((self.root / folder).glob("*")):
                if not directory.name.isdigit():
                    continue
                for path in directory.iterdir():
                    if not path.name.startswith("."):
                        items.append(self._item(path, int(directory.name), kind))
        for path in sorted((self.root / "resources").glob("*")):
            if path.name.isdigit():
                items.append(self._item(path, int(path.name), "object"))
        return items

    def _item(self, path: Path, resource_id: int, kind: str) -> BlobItem:
        return BlobItem(
            name=path.relative_to(self.root).as_posix(),
            resource_id=resource_id,
            kind="upload" if kind == "upload" else "object",
            modified=datetime.fromtimestamp(path.stat().st_mtime, UTC),
        )

    async def listing(self) -> AsyncIterator[BlobItem]:
        for item in await _off_the_loop(self._items):
            yield item

    async def remove(self, name: str) -> None:
        def remove() -> None:
            with contextlib.suppress(FileNotFoundError):
                self._path(name).unlink()

        await _off_the_loop(remove)
