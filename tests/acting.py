"""Acting in a project as a user, through the write path that production uses."""

from __future__ import annotations

from typing import Any

from api.composition.services import BlockingResources, Services
from application.access import Caller, key_digest
from application.commands import DeleteResource, RegisterResource, UpdateResource
from application.ports import BlobStore, StoredBlob
from projections.resources import ResourceRecord


async def _put(blobs: BlobStore, resource_id: int, data: bytes) -> StoredBlob:
    writer = blobs.receive(resource_id)
    try:
        writer.write(data)
        return await writer.commit()
    finally:
        writer.discard()


async def _names(blobs: BlobStore, resource_id: int) -> list[str]:
    return [item.name async for item in blobs.listing() if item.resource_id == resource_id]


class Acting:
    """Commands as (project, user), each user with an API key of their project."""

    def __init__(self, services: Services, resources: BlockingResources) -> None:
        self.services = services
        self.resources = resources
        self._callers: dict[tuple[int, str], Caller] = {}

    def caller(self, project_id: int, user_id: str) -> Caller:
        if (project_id, user_id) not in self._callers:
            _, secret = self.services.keys.create(project_id, user_id)
            digest = key_digest(secret)
            assert digest is not None
            self._callers[project_id, user_id] = Caller(digest=digest, request_id=f"test-{user_id}")
        return self._callers[project_id, user_id]

    def register(self, project_id: int, user_id: str, **fields: Any) -> ResourceRecord:
        fields.setdefault("name", "a.txt")
        command = RegisterResource(**fields)
        return self.resources.register(self.caller(project_id, user_id), command).record

    def update(
        self, project_id: int, user_id: str, resource_id: int, **fields: Any
    ) -> ResourceRecord:
        command = UpdateResource(resource_id=resource_id, **fields)
        return self.resources.update(self.caller(project_id, user_id), command).record

    def delete(self, project_id: int, user_id: str, resource_id: int, **fields: Any) -> None:
        command = DeleteResource(resource_id=resource_id, **fields)
        self.resources.delete(self.caller(project_id, user_id), command)

    def put_bytes(self, resource_id: int, data: bytes) -> StoredBlob:
        """Bytes into the blob store, as an upload leaves them."""
        return self.resources.call(_put, self.services.blobs, resource_id, data)

    def blob_names(self, resource_id: int) -> list[str]:
        """The uploads and objects the blob store keeps for the resource."""
        return self.resources.call(_names, self.services.blobs, resource_id)
