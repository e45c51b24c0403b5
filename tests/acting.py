"""Acting in a project as a user, through the write path that production uses."""

from __future__ import annotations

from typing import Any

from api.services import BlockingResources, Services
from application.access import Caller, key_digest
from application.commands import DeleteResource, RegisterResource, UpdateResource
from application.ports import BlobStore
from application.service import blob_key
from projections.resources import ResourceRecord


async def _put(blobs: BlobStore, key: str, data: bytes) -> int:
    writer = blobs.writer(key)
    try:
        writer.write(data)
        return await writer.commit()
    finally:
        writer.discard()


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

    def put_bytes(self, resource_id: int, data: bytes) -> int:
        """Bytes into the blob store, as an upload leaves them."""
        return self.resources.call(_put, self.services.blobs, blob_key(resource_id), data)

    def blob_size(self, resource_id: int) -> int | None:
        return self.resources.call(self.services.blobs.size, blob_key(resource_id))
