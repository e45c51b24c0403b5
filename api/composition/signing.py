"""Signed URLs: HMAC-SHA256 over method, subject and expiry.

A content URL signs `GET` or `PUT`, the resource id and its expiry; an event stream
URL signs `STREAM`, the project id and its expiry. The method sets them apart: a
content URL's signature never opens a stream, nor the other way round."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable
from urllib.parse import quote

from application.ports import BlobStore
from application.service import blob_name
from projections.resources import ResourceRecord

EXPIRY_DIGITS = 12
"""Seconds since the epoch: 12 digits reach the year 33658."""
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}")
STREAM = "STREAM"
"""The method an event stream URL signs."""


class SignatureRejected(Exception):
    """The URL was tampered with, is missing its signature, or has expired."""


class UrlSigner:
    def __init__(self, key: bytes, public_url: str, ttl_seconds: int) -> None:
        self._key = key
        self._public_url = public_url
        self._ttl = ttl_seconds

    def _signature(self, method: str, subject: int, expires: int) -> str:
        message = f"{method}\n{subject}\n{expires}".encode()
        return hmac.digest(self._key, message, hashlib.sha256).hex()

    def content_url(self, method: str, resource_id: int, now: float | None = None) -> str:
        """A URL of the resource's content that authorises `method` for the TTL."""
        expires = int(now if now is not None else time.time()) + self._ttl
        # Both values are URL-safe as they are (digits, hex): no encoding needed.
        signature = self._signature(method, resource_id, expires)
        return (
            f"{self._public_url}/api/resources/{resource_id}/content"
            f"?expires={expires}&signature={signature}"
        )

    def stream_url(self, project_id: int, now: float | None = None) -> str:
        """A URL of the project's event stream that opens it without a key, for the TTL."""
        expires = int(now if now is not None else time.time()) + self._ttl
        signature = self._signature(STREAM, project_id, expires)
        return (
            f"{self._public_url}/api/events/stream"
            f"?project={project_id}&expires={expires}&signature={signature}"
        )

    def verify(
        self,
        method: str,
        subject: int,
        expires: str | None,
        signature: str | None,
        now: float | None = None,
    ) -> None:
        if not expires and not signature:
            raise SignatureRejected("the URL is not signed (it needs expires and signature)")
        if not (
            expires
            and signature
            and expires.isascii()
            and expires.isdigit()
            and len(expires) <= EXPIRY_DIGITS
            and _HEX_SIGNATURE.fullmatch(signature)
        ):
            raise SignatureRejected(
                "the URL's signature is malformed (expires is a Unix time in seconds,"
                " signature 64 hexadecimal digits): use the URL exactly as it was handed out"
            )
        expected = self._signature(method, subject, int(expires))
        if not hmac.compare_digest(expected, signature):
            raise SignatureRejected("the URL's signature does not match")
        if int(expires) < (now if now is not None else time.time()):
            raise SignatureRejected("the URL has expired")


class ContentLinks:
    """The signed URLs a resource's representation carries: the service's own content
    endpoint for the file store, the bucket itself for a direct (S3) store.

    A URL made in the current second is handed out again rather than signed again:
    within a second the signature is the same (the file store's expiry counts whole
    seconds; a bucket's presigned URL carries its second), and a list page shows
    the same twenty resources to every client — twenty HMACs per page otherwise.
    """

    RECENT = 4096
    """URLs kept for the current second (all are dropped when there are more)."""

    def __init__(
        self,
        signer: UrlSigner,
        blobs: BlobStore,
        ttl_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._signer = signer
        self._blobs = blobs
        self._ttl = ttl_seconds
        self._clock = clock
        self._recent: dict[tuple[str, int | tuple[str, ...]], tuple[int, str]] = {}

    def upload(self, record: ResourceRecord) -> str:
        now = int(self._clock())
        url = self._recent_url("PUT", record.id, now)
        if url is None:
            if self._blobs.direct:
                url = self._blobs.upload_url(record.id, self._ttl)
            else:
                url = self._signer.content_url("PUT", record.id, now)
            self._keep("PUT", record.id, now, url)
        return url

    def download(self, record: ResourceRecord) -> str:
        now = int(self._clock())
        # A store's URL names the file and its type: a rename is a new URL.
        subject: int | tuple[str, ...] = (
            (blob_name(record), record.name, record.mime_type) if self._blobs.direct else record.id
        )
        url = self._recent_url("GET", subject, now)
        if url is None:
            if self._blobs.direct:
                url = self._blobs.download_url(
                    blob_name(record),
                    self._ttl,
                    content_type=record.mime_type,
                    disposition=content_disposition(record.name),
                )
            else:
                url = self._signer.content_url("GET", record.id, now)
            self._keep("GET", subject, now, url)
        return url

    def _recent_url(self, method: str, subject: int | tuple[str, ...], now: int) -> str | None:
        """The URL made for `subject` in this second, if there is one."""
        found = self._recent.get((method, subject))
        return found[1] if found is not None and found[0] == now else None

    def _keep(self, method: str, subject: int | tuple[str, ...], now: int, url: str) -> None:
        if len(self._recent) >= self.RECENT:
            self._recent.clear()
        self._recent[method, subject] = (now, url)


_NOT_IN_A_QUOTED_NAME = re.compile(r'[^\x20-\x7e]|["\\%]')


def content_disposition(name: str) -> str:
    """`attachment` with the name twice: RFC 6266's ASCII `filename` for clients that
    read only that (other characters, quotes, backslashes and % as `_`), and the
    exact name as RFC 8187's `filename*`."""
    fallback = _NOT_IN_A_QUOTED_NAME.sub("_", name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"
