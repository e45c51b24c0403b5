"""Commands: what a client asks the service to do, already authenticated."""

from __future__ import annotations

from msgspec import UNSET, Struct, UnsetType


class Command(Struct, frozen=True, kw_only=True):
    """Every command acts in one project on behalf of one user."""

    project_id: int
    actor: str


class RegisterResource(Command, frozen=True, kw_only=True):
    """Registers a file to upload, or (with `url`) a link that needs no upload."""

    name: str
    description: str | None = None
    mime_type: str | None = None
    size_bytes: int | None = None
    url: str | None = None


class UpdateResource(Command, frozen=True, kw_only=True):
    """Changes any of name, description and upload status in one atomic append."""

    resource_id: int
    name: str | UnsetType = UNSET
    description: str | UnsetType | None = UNSET
    confirm_upload: bool = False


class DeleteResource(Command, frozen=True, kw_only=True):
    resource_id: int
