"""The Resource aggregate: a file or link registered in a project, and its life."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import (
    AlreadyUploaded,
    LinkHasNoUpload,
    ResourceDeleted,
    SizeMismatch,
    UploadIncomplete,
)
from domain.rules import (
    valid_description,
    valid_link,
    valid_mime_type,
    valid_name,
    valid_size,
)

RESOURCE_NAMESPACE = UUID("5b0c6d0e-54a4-4b8e-9a55-2f3c1e1d7a10")
"""Aggregate ids are derived from public ids, so neither needs a lookup table."""

Status = Literal["pending", "uploaded"]


@dataclass(frozen=True, kw_only=True)
class Actor:
    """Who asks for a change: the user, through which key, in which request."""

    user_id: str
    key_id: int | None = None
    request_id: str | None = None


def _upcast_v1_v2(state: dict[str, Any]) -> None:
    """Version 1 events recorded only the user; the key and request were unknown."""
    state["key_id"] = None
    state["request_id"] = None


@lru_cache(maxsize=4096)
def resource_uuid(resource_id: int) -> UUID:
    """The aggregate id of the resource with this public id (a SHA-1: kept for reuse)."""
    return uuid5(RESOURCE_NAMESPACE, str(resource_id))


class Resource(Aggregate):
    """A file (uploaded through a signed URL, then confirmed) or a link, in one project.

    Public methods check the rules and raise a named domain error; the private
    ``@event`` methods only assign state, so replaying history never re-runs a check.
    """

    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """Snapshots taken before the bytes had an object name and a digest."""
        state["blob"] = None
        state["digest"] = None

    @staticmethod
    def create_id(resource_id: int, **_: Any) -> UUID:
        return resource_uuid(resource_id)

    class Registered(Aggregate.Created):
        class_version = 2
        upcast_v1_v2 = staticmethod(_upcast_v1_v2)

        resource_id: int
        project_id: int
        name: str
        description: str | None
        mime_type: str
        size_bytes: int | None
        actor: str
        key_id: int | None
        request_id: str | None

    class FileRegistered(Registered):
        """A file was registered; its bytes are still to be uploaded."""

    class LinkRegistered(Registered):
        """A link to bytes kept elsewhere was registered; it needs no upload."""

        url: str

    class Changed(Aggregate.Event):
        """A change after registration, by whom and in which request."""

        class_version = 2
        upcast_v1_v2 = staticmethod(_upcast_v1_v2)

        actor: str
        key_id: int | None
        request_id: str | None

    class Renamed(Changed):
        name: str

    class DescriptionChanged(Changed):
        description: str | None

    class UploadConfirmed(Changed):
        """The uploaded bytes were accepted: from now on they never change."""

        class_version = 3

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            """Before version 3 the bytes were kept under the resource's id, undigested."""
            state["blob"] = None
            state["digest"] = None

        size_bytes: int
        blob: str | None
        """The name of the immutable object in the blob store that holds the bytes."""
        digest: str | None
        """`sha256:<hex>` of the bytes, or `etag:<tag>` as an S3-compatible store reports it."""

    class Deleted(Changed):
        pass

    def __init__(
        self,
        *,
        resource_id: int,
        project_id: int,
        name: str,
        description: str | None,
        mime_type: str,
        size_bytes: int | None,
        actor: str,
        key_id: int | None,
        request_id: str | None,
        url: str | None = None,
    ) -> None:
        self.resource_id = resource_id
        """The public id, allocated by the database and never reused."""
        self.project_id = project_id
        """The project whose keys may see and change this resource."""
        self.name = name
        self.description = description
        self.mime_type = mime_type
        self.size_bytes = size_bytes
        """Declared at registration; the stored size once the upload is confirmed."""
        self.url = url
        """The external link of a link resource; None for a file."""
        self.status: Status = "uploaded" if url is not None else "pending"
        self.blob: str | None = None
        """Where the confirmed bytes are kept (None: a link, pending, or kept by id)."""
        self.digest: str | None = None
        """The confirmed bytes' digest, as the blob store reports it."""
        self.created_by = actor
        self.deleted = False

    @classmethod
    def register_file(
        cls,
        *,
        resource_id: int,
        project_id: int,
        name: str,
        description: str | None,
        mime_type: str | None,
        size_bytes: int | None,
        by: Actor,
    ) -> Resource:
        return cls._create(
            cls.FileRegistered,
            resource_id=resource_id,
            project_id=project_id,
            name=valid_name(name),
            description=valid_description(description),
            mime_type=valid_mime_type(mime_type),
            size_bytes=valid_size(size_bytes),
            actor=by.user_id,
            key_id=by.key_id,
            request_id=by.request_id,
        )

    @classmethod
    def register_link(
        cls,
        *,
        resource_id: int,
        project_id: int,
        name: str,
        description: str | None,
        mime_type: str | None,
        size_bytes: int | None,
        url: str,
        by: Actor,
    ) -> Resource:
        return cls._create(
            cls.LinkRegistered,
            resource_id=resource_id,
            project_id=project_id,
            name=valid_name(name),
            description=valid_description(description),
            mime_type=valid_mime_type(mime_type),
            size_bytes=valid_size(size_bytes),
            url=valid_link(url),
            actor=by.user_id,
            key_id=by.key_id,
            request_id=by.request_id,
        )

    @property
    def is_link(self) -> bool:
        return self.url is not None

    def _ensure_not_deleted(self) -> None:
        if self.deleted:
            raise ResourceDeleted("the resource has been deleted")

    def rename(self, name: str, *, by: Actor) -> None:
        """Renames the resource; the same name (after trimming) changes nothing."""
        self._ensure_not_deleted()
        new_name = valid_name(name)
        if new_name != self.name:
            self._renamed(name=new_name, **_who(by))

    @event(Renamed)
    def _renamed(self, name: str, actor: str, key_id: int | None, request_id: str | None) -> None:
        self.name = name

    def describe(self, description: str | None, *, by: Actor) -> None:
        """Sets or (with None) clears the description; the same text changes nothing."""
        self._ensure_not_deleted()
        new_description = valid_description(description)
        if new_description != self.description:
            self._description_changed(description=new_description, **_who(by))

    @event(DescriptionChanged)
    def _description_changed(
        self, description: str | None, actor: str, key_id: int | None, request_id: str | None
    ) -> None:
        self.description = description

    def ensure_accepts_upload(self) -> None:
        """Bytes may be uploaded only to a pending file resource."""
        self._ensure_not_deleted()
        if self.is_link:
            raise LinkHasNoUpload("a link resource has no upload")
        if self.status == "uploaded":
            raise AlreadyUploaded("the upload has been confirmed; its bytes are fixed")

    def confirm_upload(
        self,
        stored_size: int | None,
        *,
        by: Actor,
        blob: str | None = None,
        digest: str | None = None,
    ) -> None:
        """Marks the upload done, given the size of the bytes in blob storage (and the
        object that will keep them, with their digest).

        A resource that is already uploaded (a link, or a confirmed file) stays as it is.
        """
        self._ensure_not_deleted()
        if self.status == "uploaded":
            return
        if stored_size is None:
            raise UploadIncomplete("no bytes have been uploaded for this resource yet")
        if self.size_bytes is not None and stored_size != self.size_bytes:
            raise SizeMismatch(
                f"{stored_size} of the declared {self.size_bytes} bytes have been uploaded"
            )
        self._upload_confirmed(size_bytes=stored_size, blob=blob, digest=digest, **_who(by))

    @event(UploadConfirmed)
    def _upload_confirmed(
        self,
        size_bytes: int,
        blob: str | None,
        digest: str | None,
        actor: str,
        key_id: int | None,
        request_id: str | None,
    ) -> None:
        self.size_bytes = size_bytes
        self.blob = blob
        self.digest = digest
        self.status = "uploaded"

    def delete(self, *, by: Actor) -> None:
        self._ensure_not_deleted()
        self._deleted(**_who(by))

    @event(Deleted)
    def _deleted(self, actor: str, key_id: int | None, request_id: str | None) -> None:
        self.deleted = True


def _who(by: Actor) -> dict[str, Any]:
    """The event fields that record who made a change."""
    return {"actor": by.user_id, "key_id": by.key_id, "request_id": by.request_id}


AUDITED_FIELDS = ("name", "description", "status", "mime_type", "size_bytes", "url", "deleted")
"""The fields whose changes an audit trail shows."""

_NOTHING: dict[str, Any] = {**dict.fromkeys(AUDITED_FIELDS), "deleted": False}


def audited_state(resource: Resource | None) -> dict[str, Any]:
    """The audited fields of a resource; before registration, all of them empty."""
    if resource is None:
        return dict(_NOTHING)
    return {field: getattr(resource, field) for field in AUDITED_FIELDS}


def field_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Each audited field that differs, as (from, to)."""
    return {
        field: (before[field], after[field])
        for field in AUDITED_FIELDS
        if before[field] != after[field]
    }
