"""The HTTP request and response bodies, as msgspec Structs."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import UNSET, Meta, Struct, UnsetType, field

BodyText = Annotated[str, Meta(max_length=100_000)]
"""Guards memory; the domain applies the field's real rule with a clear message."""


class Schema(Struct, frozen=True, kw_only=True):
    """Every HTTP shape is immutable and keyword-only."""


class CreateResourceBody(Schema, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[BodyText, Meta(description="1-255 characters after trimming")]
    mime_type: Annotated[
        str | None, Meta(description="A type/subtype media type; default application/octet-stream")
    ] = None
    size_bytes: Annotated[
        Annotated[int, Meta(ge=0, le=2**63 - 1)] | None,
        Meta(description="The size the upload must have"),
    ] = None
    description: Annotated[BodyText | None, Meta(description="At most 10,000 characters")] = None
    url: Annotated[
        BodyText | None, Meta(description="An http(s) link: makes a link resource, no upload")
    ] = None
    project_id: Annotated[
        Annotated[int, Meta(ge=1, le=2**63 - 1)] | None,
        Meta(description="If given, must be the key's project"),
    ] = None


class UpdateResourceBody(Schema, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: BodyText | UnsetType = UNSET
    description: Annotated[BodyText | None, Meta(description="null clears it")] | UnsetType = UNSET
    status: (
        Annotated[Literal["uploaded"], Meta(description="Confirms the upload of the file's bytes")]
        | UnsetType
    ) = UNSET


class ResourceOut(Schema, frozen=True, kw_only=True):
    id: int
    project_id: int
    name: str
    description: str | None
    status: Literal["pending", "uploaded"]
    mime_type: str
    size_bytes: int | None
    url: Annotated[
        str | None,
        Meta(description="The link, or a signed download URL once uploaded; null while pending"),
    ]
    created_by: str
    created_at: datetime
    updated_at: datetime
    upload_url: Annotated[
        str | UnsetType, Meta(description="Pending files only: a signed PUT URL for the bytes")
    ] = UNSET


class ResourceData(Schema, frozen=True, kw_only=True):
    resource: ResourceOut


class ResourceEnvelope(Schema, frozen=True, kw_only=True):
    data: ResourceData


class ResourcesData(Schema, frozen=True, kw_only=True):
    resources: list[ResourceOut]


class Pagination(Schema, frozen=True, kw_only=True):
    page: int
    per_page: int
    total: int
    total_pages: int


class ResourceListEnvelope(Schema, frozen=True, kw_only=True):
    data: ResourcesData
    pagination: Pagination


Value = str | int | bool | None


class Change(Schema, frozen=True, kw_only=True):
    from_: Value = field(name="from")
    to: Value


class HistoryEvent(Schema, frozen=True, kw_only=True):
    version: Annotated[int, Meta(description="The resource's version after this event")]
    type: Annotated[str, Meta(description="FileRegistered, Renamed, UploadConfirmed, ...")]
    occurred_at: datetime
    actor: Annotated[str, Meta(description="The user id of the key that made the change")]
    key_id: Annotated[int | None, Meta(description="The id of that key")]
    request_id: Annotated[str | None, Meta(description="The X-Request-ID of the request")]
    changes: Annotated[dict[str, Change], Meta(description="Each changed field, from and to")]


class HistoryData(Schema, frozen=True, kw_only=True):
    events: list[HistoryEvent]


class HistoryEnvelope(Schema, frozen=True, kw_only=True):
    data: HistoryData
    pagination: Pagination


class ActivityEvent(HistoryEvent, frozen=True, kw_only=True):
    id: Annotated[int, Meta(description="The event's position in the store; newest is highest")]
    resource_id: int


class ActivityData(Schema, frozen=True, kw_only=True):
    events: list[ActivityEvent]


class ActivityEnvelope(Schema, frozen=True, kw_only=True):
    data: ActivityData
    pagination: Pagination


class ErrorDetail(Schema, frozen=True, kw_only=True):
    field: str | None
    message: str


class ErrorBody(Schema, frozen=True, kw_only=True):
    code: str
    message: str
    details: list[ErrorDetail] | UnsetType = UNSET


class ErrorEnvelope(Schema, frozen=True, kw_only=True):
    error: ErrorBody


class Health(Schema, frozen=True, kw_only=True):
    status: Literal["ok"]


class ReadinessCheck(Schema, frozen=True, kw_only=True):
    name: str
    ok: bool
    detail: str


class Readiness(Schema, frozen=True, kw_only=True):
    status: Literal["ready", "not_ready"]
    checks: list[ReadinessCheck]
