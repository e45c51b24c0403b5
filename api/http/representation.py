"""How a read-model row is shown to a client: links signed fresh on every read.

The fields a client sees that the row has by the same name are copied by name,
so a field added to the row and to `ResourceOut` needs no code here.
"""

from __future__ import annotations

from datetime import UTC, datetime

from litestar import Response
from msgspec import UNSET, UnsetType

from api.composition.signing import ContentLinks
from api.http.idempotency import REPLAYED
from api.http.schemas import ResourceData, ResourceEnvelope, ResourceOut
from application.ports import Outcome
from projections.resources import ResourceRecord

COMPUTED = ("url", "upload_url")
"""The fields of `ResourceOut` that are not the row's: signed or chosen per read."""
COPIED = tuple(field for field in ResourceOut.__struct_fields__ if field not in COMPUTED)
_UNKNOWN = set(COPIED) - set(ResourceRecord.__struct_fields__)
if _UNKNOWN:  # checked at import: a field shown to clients that the row lacks
    raise TypeError(f"ResourceOut fields missing from ResourceRecord: {sorted(_UNKNOWN)}")


MOMENTS = ("created_at", "updated_at")
"""Shown in UTC whatever the database session's time zone."""


PLAIN = tuple(field for field in COPIED if field not in MOMENTS)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


def resource_out(
    record: ResourceRecord, links: ContentLinks, *, offer_upload: bool = True
) -> ResourceOut:
    upload_url: str | UnsetType = UNSET
    if record.kind == "link":
        url = record.link_url
    elif record.status == "uploaded":
        url = links.download(record)
    else:
        url = None
        if offer_upload:
            # A pending file's upload URL is handed out again on every read, so a
            # client whose URL expired before it finished can still upload.
            upload_url = links.upload(record)
    return ResourceOut(
        **{field: getattr(record, field) for field in PLAIN},
        created_at=_utc(record.created_at),
        updated_at=_utc(record.updated_at),
        url=url,
        upload_url=upload_url,
    )


def etag(version: int) -> str:
    return f'"{version}"'


def resource_response(
    record: ResourceRecord,
    links: ContentLinks,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    offer_upload: bool = True,
) -> Response[ResourceEnvelope]:
    """One resource in its envelope, with its version as the ETag."""
    envelope = ResourceEnvelope(
        data=ResourceData(resource=resource_out(record, links, offer_upload=offer_upload))
    )
    return Response(
        envelope,
        status_code=status_code,
        headers={"ETag": etag(record.version), **(headers or {})},
    )


def outcome_response(outcome: Outcome, links: ContentLinks) -> Response[ResourceEnvelope]:
    """A command's outcome: 201 with Location when it created the resource; marked
    when it is the kept outcome of an earlier request with the same Idempotency-Key."""
    headers = {REPLAYED: "true"} if outcome.replayed else {}
    if outcome.created:
        headers["Location"] = f"/api/resources/{outcome.record.id}"
    return resource_response(
        outcome.record, links, status_code=201 if outcome.created else 200, headers=headers
    )
