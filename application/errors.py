"""Why a use case could not be carried out, beyond the domain's own rules."""

from __future__ import annotations


class ResourceNotFound(Exception):
    """No such resource in the caller's project (or it has been deleted)."""


class StaleState(Exception):
    """A decision made on cached state cannot stand: decide again on fresh state."""


class ConcurrentUpdate(Exception):
    """The resource kept changing under us; the client may retry."""


class VersionMismatch(Exception):
    """The resource is not at the version the client expected (If-Match)."""

    def __init__(self, current_version: int) -> None:
        super().__init__(f"the resource is at version {current_version}")
        self.current_version = current_version
