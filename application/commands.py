"""Commands: what a caller asks the service to do. Who asks comes with the call."""

from __future__ import annotations

from msgspec import UNSET, Struct, UnsetType


class IdempotencyKey(Struct, frozen=True, kw_only=True):
    """A client's Idempotency-Key and the fingerprint of the request it names."""

    key: str
    fingerprint: bytes


class Command(Struct, frozen=True, kw_only=True):
    idempotency: IdempotencyKey | None = None
    """If given, a retry with the same key gets the first outcome and changes nothing."""


class RegisterResource(Command, frozen=True, kw_only=True):
    """Registers a file to upload, or (with `url`) a link that needs no upload."""

    name: str
    description: str | None = None
    mime_type: str | None = None
    size_bytes: int | None = None
    url: str | None = None
    project_id: int | None = None
    """If given, it must be the caller's project."""

    @classmethod
    def registered_fields(cls) -> tuple[str, ...]:
        """The fields the aggregate registers as they are (all but how and where)."""
        return tuple(
            field
            for field in cls.__struct_fields__
            if field not in ("idempotency", "project_id", "url")
        )


class ChangeResource(Command, frozen=True, kw_only=True):
    resource_id: int
    expected_versions: frozenset[int] | None = None
    """If-Match: the command applies only to the resource at one of these versions."""


class UpdateResource(ChangeResource, frozen=True, kw_only=True):
    """Changes any of name, description and upload status in one atomic append."""

    name: str | UnsetType = UNSET
    description: str | UnsetType | None = UNSET
    confirm_upload: bool = False


class DeleteResource(ChangeResource, frozen=True, kw_only=True):
    pass
