"""Commands: what a client asks the service to do, already authenticated."""

from __future__ import annotations

from msgspec import UNSET, Struct, UnsetType

from domain.resource import Actor


class Command(Struct, frozen=True, kw_only=True):
    """Every command acts in one project on behalf of one user, through one key."""

    project_id: int
    actor: str
    key_id: int | None = None
    request_id: str | None = None
    expected_versions: frozenset[int] | None = None
    """If given, the command applies only to the resource at one of these versions."""

    @property
    def by(self) -> Actor:
        return Actor(user_id=self.actor, key_id=self.key_id, request_id=self.request_id)


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
