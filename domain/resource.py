"""The Resource aggregate: a file or link registered in a project, and its life."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import AlreadyUploaded, LinkHasNoUpload, ResourceDeleted, UploadIncomplete
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


def resource_uuid(resource_id: int) -> UUID:
    """The aggregate id of the resource with this public id."""
    return uuid5(RESOURCE_NAMESPACE, str(resource_id))


class Resource(Aggregate):
    """A file (uploaded through a signed URL, then confirmed) or a link, in one project.

    Public methods check the rules and raise a named domain error; the private
    ``@event`` methods only assign state, so replaying history never re-runs a check.
    """

    @staticmethod
    def create_id(resource_id: int, **_: Any) -> UUID:
        return resource_uuid(resource_id)

    class Registered(Aggregate.Created):
        resource_id: int
        project_id: int
        name: str
        description: str | None
        mime_type: str
        size_bytes: int | None
        actor: str

    class FileRegistered(Registered):
        """A file was registered; its bytes are still to be uploaded."""

    class LinkRegistered(Registered):
        """A link to bytes kept elsewhere was registered; it needs no upload."""

        url: str

    class Renamed(Aggregate.Event):
        name: str
        actor: str

    class DescriptionChanged(Aggregate.Event):
        description: str | None
        actor: str

    class UploadConfirmed(Aggregate.Event):
        size_bytes: int
        actor: str

    class Deleted(Aggregate.Event):
        actor: str

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
        actor: str,
    ) -> Resource:
        return cls._create(
            cls.FileRegistered,
            resource_id=resource_id,
            project_id=project_id,
            name=valid_name(name),
            description=valid_description(description),
            mime_type=valid_mime_type(mime_type),
            size_bytes=valid_size(size_bytes),
            actor=actor,
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
        actor: str,
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
            actor=actor,
        )

    @property
    def is_link(self) -> bool:
        return self.url is not None

    def _ensure_not_deleted(self) -> None:
        if self.deleted:
            raise ResourceDeleted("the resource has been deleted")

    def rename(self, name: str, *, actor: str) -> None:
        """Renames the resource; the same name (after trimming) changes nothing."""
        self._ensure_not_deleted()
        new_name = valid_name(name)
        if new_name != self.name:
            self._renamed(new_name, actor)

    @event(Renamed)
    def _renamed(self, name: str, actor: str) -> None:
        self.name = name

    def describe(self, description: str | None, *, actor: str) -> None:
        """Sets or (with None) clears the description; the same text changes nothing."""
        self._ensure_not_deleted()
        new_description = valid_description(description)
        if new_description != self.description:
            self._description_changed(new_description, actor)

    @event(DescriptionChanged)
    def _description_changed(self, description: str | None, actor: str) -> None:
        self.description = description

    def ensure_accepts_upload(self) -> None:
        """Bytes may be uploaded only to a pending file resource."""
        self._ensure_not_deleted()
        if self.is_link:
            raise LinkHasNoUpload("a link resource has no upload")
        if self.status == "uploaded":
            raise AlreadyUploaded("the upload has been confirmed; its bytes are fixed")

    def confirm_upload(self, stored_size: int | None, *, actor: str) -> None:
        """Marks the upload done, given the size of the bytes in blob storage.

        A resource that is already uploaded (a link, or a confirmed file) stays as it is.
        """
        self._ensure_not_deleted()
        if self.status == "uploaded":
            return
        if stored_size is None:
            raise UploadIncomplete("no bytes have been uploaded for this resource yet")
        if self.size_bytes is not None and stored_size != self.size_bytes:
            raise UploadIncomplete(
                f"{stored_size} of the declared {self.size_bytes} bytes have been uploaded"
            )
        self._upload_confirmed(stored_size, actor)

    @event(UploadConfirmed)
    def _upload_confirmed(self, size_bytes: int, actor: str) -> None:
        self.size_bytes = size_bytes
        self.status = "uploaded"

    def delete(self, *, actor: str) -> None:
        self._ensure_not_deleted()
        self._deleted(actor)

    @event(Deleted)
    def _deleted(self, actor: str) -> None:
        self.deleted = True
