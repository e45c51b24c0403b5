"""Why a use case could not be carried out, beyond the domain's own rules."""

from __future__ import annotations


class ResourceNotFound(Exception):
    """No such resource in the caller's project (or it has been deleted)."""


class ConcurrentUpdate(Exception):
    """The resource kept changing under us; the client may retry."""
