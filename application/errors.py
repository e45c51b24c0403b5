"""Why a use case could not be carried out, beyond the domain's own rules."""

from __future__ import annotations


class Unauthenticated(Exception):
    """The presented key is malformed, unknown or revoked."""


class ResourceNotFound(Exception):
    """No such resource in the caller's project (or it has been deleted)."""


class StaleState(Exception):
    """The store refused an append: the state it was decided on is no longer current
    (another writer appended first, or the caller's key was revoked)."""


class ConcurrentUpdate(Exception):
    """The resource kept changing under us; the client may retry."""


class VersionMismatch(Exception):
    """The resource is not at the version the client expected (If-Match)."""

    def __init__(self, current_version: int) -> None:
        super().__init__(f"the resource is at version {current_version}")
        self.current_version = current_version


class IdempotencyKeyReused(Exception):
    """An Idempotency-Key already names a different request."""


class DuplicateRequest(Exception):
    """Another request with the same Idempotency-Key committed first."""


class UploadTooLarge(Exception):
    """More bytes than the declared size or the upload limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the upload may be at most {limit} bytes")
        self.limit = limit


class BlobStoreUnavailable(Exception):
    """The blob store cannot be reached in time (down, refusing access, too slow)."""


class InsufficientStorage(Exception):
    """The disk that keeps uploads is too full to take another."""


class UploadInProgress(Exception):
    """Another upload of the same resource is still streaming."""


class UploadElsewhere(Exception):
    """The bytes go straight to the blob store, through the resource's upload_url."""


class DatabaseUnavailable(Exception):
    """The database cannot be reached in time (restarting, overloaded, unreachable)."""
