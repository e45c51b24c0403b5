"""The blob store on S3 and S3-compatible stores (Cloudflare R2, MinIO), with obstore.

Clients upload and download straight to and from the bucket with presigned
URLs: no byte passes through the service. Each upload URL names a staging
object of its own (`uploads/<id>/<token>`); a confirmation copies the newest to
`objects/<id>/<token>`, which no URL can write, so whatever a holder of an old
upload URL sends later never reaches a download.

obstore (the Rust `object_store` crate) was chosen over aiobotocore: async
without an event-loop-bound session, presigning without a network call, and
streaming reads in a few hundred KiB of memory, all in one small dependency.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Mapping
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

import obstore
from obstore.store import S3Store

from adapters.presign import with_response_headers
from application.errors import BlobStoreUnavailable, UploadElsewhere
from application.ports import BlobItem, BlobWriter, StoredBlob

T = TypeVar("T")
STREAM_CHUNK = 256 * 1024


def s3_store(url: str, env: Mapping[str, str], timeout_seconds: float) -> S3Store:
    """The bucket of `s3://bucket/prefix`, configured from the standard AWS variables."""
    parts = urlsplit(url)
    config: dict[str, Any] = {}
    for variable, option in (
        ("AWS_ACCESS_KEY_ID", "access_key_id"),
        ("AWS_SECRET_ACCESS_KEY", "secret_access_key"),
        ("AWS_SESSION_TOKEN", "session_token"),
        ("AWS_REGION", "region"),
        ("AWS_ENDPOINT_URL", "endpoint"),
    ):
        if env.get(variable):
            config[option] = env[variable]
    config.setdefault("region", env.get("AWS_DEFAULT_REGION") or "us-east-1")
    endpoint = config.get("endpoint", "")
    if endpoint:
        # R2 and MinIO name the bucket in the path, not in the host.
        config["virtual_hosted_style_request"] = False
    timeout = timedelta(seconds=timeout_seconds)
    return S3Store(
        parts.netloc,
        prefix=parts.path.strip("/") or None,
        client_options={
            "allow_http": endpoint.startswith("http://"),
            "timeout": timeout,
            "connect_timeout": min(timeout, timedelta(seconds=3)),
        },
        retry_config={"max_retries": 2, "retry_timeout": timeout},
        **config,
    )


def _etag(meta: Mapping[str, Any]) -> str:
    return "etag:" + str(meta.get("e_tag") or "").strip('"')


def _resource_id(path: str) -> int | None:
    parts = path.split("/")
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else None


_DENIED = ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403 Forbidden")
_UNREACHABLE = ("kind: Connect", "error sending request", "dns error", "Connection refused")


class S3BlobStore:
    direct = True

    def __init__(self, store: S3Store, *, timeout_seconds: float) -> None:
        self._store = store
        self._timeout = timeout_seconds

    async def _call(self, call: Awaitable[T]) -> T:
        """A store call that fails within the timeout rather than hang."""
        try:
            return await asyncio.wait_for(call, self._timeout)
        except FileNotFoundError as missing:
            if "NoSuchBucket" in str(missing):  # the bucket, not an object, is missing
                raise BlobStoreUnavailable(self.cause(missing)) from missing
            raise
        except Exception as error:  # obstore's errors: unreachable, denied, timed out
            raise BlobStoreUnavailable(self.cause(error)) from error

    def cause(self, error: BaseException) -> str:
        """What went wrong, in the words an operator acts on."""
        config = self._store.config
        bucket, endpoint = config.get("bucket", "?"), config.get("endpoint") or "S3"
        text = str(error)
        if "NoSuchBucket" in text:
            return (
                f"the bucket {bucket!r} does not exist at {endpoint}: create it"
                " (docs/operations.md, Blob storage)"
            )
        if any(code in text for code in _DENIED):
            return (
                f"{endpoint} denied access to the bucket {bucket!r}: check AWS_ACCESS_KEY_ID,"
                " AWS_SECRET_ACCESS_KEY and the bucket's policy"
            )
        if any(code in text for code in _UNREACHABLE):
            return f"cannot connect to {endpoint}: check AWS_ENDPOINT_URL and that it is up"
        if isinstance(error, TimeoutError):
            return f"{endpoint} did not answer within {self._timeout:g} s (BLOB_STORE_TIMEOUT)"
        return text.splitlines()[0][:300] if text else type(error).__name__

    def upload_url(self, resource_id: int, ttl_seconds: int) -> str:
        name = f"uploads/{resource_id}/{secrets.token_hex(8)}"
        return obstore.sign(self._store, "PUT", name, timedelta(seconds=ttl_seconds))

    def download_url(
        self, name: str, ttl_seconds: int, *, content_type: str, disposition: str
    ) -> str:
        url = obstore.sign(self._store, "GET", name, timedelta(seconds=ttl_seconds))
        secret = self._store.config.get("secret_access_key")
        if not secret:  # credentials from a provider: the bucket's own headers
            return url
        headers = {
            "response-content-type": content_type,
            "response-content-disposition": disposition,
        }
        return with_response_headers(url, str(secret), headers)

    async def check_room(self) -> None:
        """A bucket has no disk to fill."""

    def receive(self, resource_id: int) -> BlobWriter:
        raise UploadElsewhere

    async def _metas(self, prefix: str) -> list[dict[str, Any]]:
        async def collect() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = []
            async for batch in obstore.list(self._store, prefix):
                found.extend(dict(meta) for meta in batch)
            return found

        return await self._call(collect())

    async def newest_upload(self, resource_id: int) -> StoredBlob | None:
        metas = [
            meta
            for kind in ("uploads", "objects")
            for meta in await self._metas(f"{kind}/{resource_id}/")
        ]
        if not metas:
            return None
        newest = max(metas, key=lambda meta: meta["last_modified"])
        return StoredBlob(
            name=newest["path"],
            size=int(newest["size"]),
            digest=_etag(newest),
            modified=newest["last_modified"],
        )

    def object_name(self, resource_id: int, upload: StoredBlob) -> str:
        return f"objects/{resource_id}/{upload.name.rpartition('/')[2]}"

    async def keep(self, upload: StoredBlob, name: str) -> None:
        if upload.name == name:
            return
        await self._call(obstore.copy_async(self._store, upload.name, name))
        await self._call(obstore.delete_async(self._store, upload.name))

    async def read(self, name: str) -> AsyncIterator[bytes]:
        result = await self._call(obstore.get_async(self._store, name))
        async for chunk in result.stream(min_chunk_size=STREAM_CHUNK):
            yield bytes(chunk)

    async def delete(self, resource_id: int) -> None:
        names = [
            meta["path"]
            for kind in ("uploads", "objects")
            for meta in await self._metas(f"{kind}/{resource_id}/")
        ]
        if names:
            await self._call(obstore.delete_async(self._store, names))

    async def listing(self) -> AsyncIterator[BlobItem]:
        for kind, prefix in (("upload", "uploads/"), ("object", "objects/")):
            for meta in await self._metas(prefix):
                resource_id = _resource_id(meta["path"])
                if resource_id is not None:
                    yield BlobItem(
                        name=meta["path"],
                        resource_id=resource_id,
                        kind="upload" if kind == "upload" else "object",
                        modified=meta["last_modified"],
                    )

    async def remove(self, name: str) -> None:
        await self._call(obstore.delete_async(self._store, name))
