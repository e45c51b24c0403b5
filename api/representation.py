"""How a read-model row is shown to a client: links signed fresh on every read."""

from __future__ import annotations

from datetime import UTC

from litestar import Response
from msgspec.structs import replace

from api.schemas import ResourceData, ResourceEnvelope, ResourceOut
from api.signing import UrlSigner
from domain.resource import Resource
from projections.queries import ResourceRecord


def resource_out(
    record: ResourceRecord, signer: UrlSigner, *, offer_upload: bool = True
) -> ResourceOut:
    url: str | None = None
    if record.kind == "link":
        url = record.link_url
    elif record.status == "uploaded":
        url = signer.content_url("GET", record.id)
    out = ResourceOut(
        id=record.id,
        project_id=record.project_id,
        name=record.name,
        description=record.description,
        status=record.status,
        mime_type=record.mime_type,
        size_bytes=record.size_bytes,
        url=url,
        created_by=record.created_by,
        created_at=record.created_at.astimezone(UTC),
        updated_at=record.updated_at.astimezone(UTC),
    )
    if offer_upload and record.kind == "file" and record.status == "pending":
        # A pending file's upload URL is handed out again on every read, so a
        # client whose URL expired before it finished can still upload.
        return replace(out, upload_url=signer.content_url("PUT", record.id))
    return out


def record_of(resource: Resource) -> ResourceRecord:
    """The read-model shape of a resource rebuilt from its events (time travel)."""
    return ResourceRecord(
        id=resource.resource_id,
        project_id=resource.project_id,
        name=resource.name,
        description=resource.description,
        status=resource.status,
        kind="link" if resource.is_link else "file",
        mime_type=resource.mime_type,
        size_bytes=resource.size_bytes,
        link_url=resource.url,
        created_by=resource.created_by,
        created_at=resource.created_on,
        updated_at=resource.modified_on,
        version=resource.version,
    )


def etag(version: int) -> str:
    return f'"{version}"'


def resource_response(
    record: ResourceRecord,
    signer: UrlSigner,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    offer_upload: bool = True,
) -> Response[ResourceEnvelope]:
    """One resource in its envelope, with its version as the ETag."""
    envelope = ResourceEnvelope(
        data=ResourceData(resource=resource_out(record, signer, offer_upload=offer_upload))
    )
    return Response(
        envelope,
        status_code=status_code,
        headers={"ETag": etag(record.version), **(headers or {})},
    )
