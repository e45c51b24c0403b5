"""Named reasons why the Resource aggregate refuses a command."""

from __future__ import annotations


class DomainError(Exception):
    """A command that the aggregate refuses; nothing is appended."""


class InvalidValue(DomainError):
    """A field's value breaks its rule."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        """The name of the offending field, as clients spell it."""
        self.message = message
        """A sentence for a person."""


class ResourceDeleted(DomainError):
    """Nothing changes a deleted resource."""


class UploadIncomplete(DomainError):
    """Confirming an upload needs the bytes, and the declared size if one was given."""


class SizeMismatch(UploadIncomplete):
    """The uploaded bytes are not the size that was declared at registration."""


class LinkHasNoUpload(DomainError):
    """A link resource points elsewhere: it has no bytes to upload."""


class AlreadyUploaded(DomainError):
    """The bytes of a confirmed upload are fixed."""
