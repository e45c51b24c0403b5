"""The HTTP request and response bodies, as msgspec Structs, and the shape of a
response header.

The OpenAPI document's component schemas are generated from these Structs by
msgspec itself (see `api.http.openapi`), the library that also checks every request
body against them (`api.http.bodies`): what a field declares here is what the server
enforces. The rules only the domain applies (`domain.rules`: trimming, control
characters, media types, links) are described with `extra_json_schema`, which
msgspec puts in the document and never enforces, so the domain keeps saying
what is wrong in its own words.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar.datastructures import ResponseHeader
from msgspec import UNSET, Meta, Struct, UnsetType, field

from domain import rules
from projections.activity import EVENT_TYPES

# Character classes of the patterns below, written out: `\s`, `\d` and `$` before a
# final newline read differently in Python's, ECMA's and Rust's regex engines, and
# the document's readers (generators, validators, clients) use all three.
CONTROL = r"\x00-\x1f\x7f-\x9f"
"""Unicode category Cc: what `domain.rules` calls control characters."""
WHITE_SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
"""What `str.strip()` trims: the characters for which `str.isspace()` is true."""
NETLOC_LOOKALIKES = (
    r"\u2047-\u2049\u2100\u2101\u2105\u2106\u2a74\ufe13\ufe16\ufe55\ufe56\ufe5f\ufe6b"
    r"\uff03\uff0f\uff1a\uff1f\uff20"
)
"""Characters whose NFKC form holds one of `/?#@:`: `urllib.parse` refuses a host with them."""

NAME_PATTERN = (
    rf"^[{WHITE_SPACE}]*[^{WHITE_SPACE}{CONTROL}]"
    rf"(?:[^{CONTROL}]{{0,{rules.NAME_MAX - 2}}}[^{WHITE_SPACE}{CONTROL}])?[{WHITE_SPACE}]*$"
)
"""1 to NAME_MAX characters once trimmed, none of them a control character: the white
space around them is not counted."""
DESCRIPTION_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
"""No control character but tabs and line breaks."""
MIME_TYPE_PATTERN = rf"^(?:{rules._MIME_TYPE.pattern})$"
"""type/subtype with optional parameters, as `domain.rules.valid_mime_type` reads it."""
_URL_TEXT = rf"{WHITE_SPACE}{CONTROL}"
LINK_PATTERN = (
    r"^[Hh][Tt][Tt][Pp][Ss]?://"
    rf"(?:[^{_URL_TEXT}/?#\[\]{NETLOC_LOOKALIKES}]*@)?"  # user information
    rf"[^{_URL_TEXT}/?#@:\[\]{NETLOC_LOOKALIKES}]+"  # the host
    rf"(?::[^{_URL_TEXT}/?#@\[\]{NETLOC_LOOKALIKES}]*)?"  # the port
    rf"(?:[/?#][^{_URL_TEXT}]*)?$"  # path, query and fragment
)
"""An absolute http or https URL with a host, without white space or control
characters. Hosts written in brackets (IPv6 literals) are left out."""

EventType = Annotated[
    str, Meta(extra_json_schema={"enum": list(EVENT_TYPES)}, description="What happened")
]


def documented(description: str, **schema: Any) -> Meta:
    """A field's description, with JSON Schema keywords the document shows but
    msgspec does not check (the domain does)."""
    return Meta(description=description, extra_json_schema=schema or None)


Name = Annotated[
    str,
    documented(
        f"1 to {rules.NAME_MAX} characters, white space at both ends trimmed;"
        " no control characters",
        minLength=1,
        pattern=NAME_PATTERN,
    ),
]
Description = Annotated[
    str,
    Meta(max_length=rules.DESCRIPTION_MAX),
    documented(
        f"At most {rules.DESCRIPTION_MAX:,} characters; no control characters"
        " but tabs and line breaks",
        pattern=DESCRIPTION_PATTERN,
    ),
]
MimeType = Annotated[
    str,
    documented(
        "A type/subtype media type, with optional parameters; default"
        f" {rules.DEFAULT_MIME_TYPE}. Downloads are served with it",
        pattern=MIME_TYPE_PATTERN,
    ),
]
Link = Annotated[
    str,
    Meta(max_length=rules.URL_MAX),
    documented(
        f"An absolute http or https URL with a host, at most {rules.URL_MAX:,} characters,"
        " no white space: makes a link resource, with no upload",
        pattern=LINK_PATTERN,
    ),
]
Moment = Annotated[datetime, Meta(tz=True)]
"""A time with its zone, RFC 3339 (`date-time`): the service writes UTC, with `Z`."""
BigInt = Annotated[int, Meta(ge=1, le=rules.MAX_SIZE)]
"""Ids and versions: PostgreSQL bigints from 1."""
Size = Annotated[int, Meta(ge=0, le=rules.MAX_SIZE)]


class Schema(Struct, frozen=True, kw_only=True):
    """Every HTTP shape is immutable and keyword-only."""


class CreateResourceBody(Schema, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name
    mime_type: MimeType | None = None
    size_bytes: Annotated[
        Size | None,
        Meta(description="The size the upload must have; at most the upload limit"),
    ] = None
    description: Description | None = None
    url: Link | None = None
    project_id: Annotated[
        BigInt | None, Meta(description="If given, must be the key's project")
    ] = None


class UpdateResourceBody(Schema, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name | UnsetType = UNSET
    description: Annotated[Description | None, Meta(description="null clears it")] | UnsetType = (
        UNSET
    )
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
    created_at: Moment
    updated_at: Moment
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
    type: EventType
    occurred_at: Moment
    actor: Annotated[str, Meta(description="The user id of the key that made the change")]
    key_id: Annotated[int | None, Meta(description="The id of that key")]
    request_id: Annotated[str | None, Meta(description="The X-Request-ID of the request")]
    changes: Annotated[dict[str, Change], Meta(description="Each changed field, from and to")]


class HistoryData(Schema, frozen=True, kw_only=True):
    events: list[HistoryEvent]


class HistoryEnvelope(Schema, frozen=True, kw_only=True):
    data: HistoryData
    pagination: Pagination


Position = Annotated[
    int,
    Meta(
        ge=1,
        description="The event's position: strictly increasing in commit order, never reused,"
        " the same in the activity feed, the event feed and the stream, and across rebuilds",
    ),
]


class FeedEvent(HistoryEvent, frozen=True, kw_only=True):
    position: Position
    resource_id: int


class ActivityEvent(FeedEvent, frozen=True, kw_only=True):
    id: Annotated[int, Meta(description="The event's position (the same as `position`)")]


class ActivityData(Schema, frozen=True, kw_only=True):
    events: list[ActivityEvent]


class ActivityPagination(Pagination, frozen=True, kw_only=True, omit_defaults=True):
    total_is_lower_bound: Annotated[
        bool,
        Meta(
            description="Present, and true, only when a filtered page's count stopped at"
            " 10,000: `total` is then a lower bound (there are at least that many), and"
            " `total_pages` with it"
        ),
    ] = False


class ActivityEnvelope(Schema, frozen=True, kw_only=True):
    data: ActivityData
    pagination: ActivityPagination


class FeedData(Schema, frozen=True, kw_only=True):
    events: list[FeedEvent]


class FeedCursor(Schema, frozen=True, kw_only=True):
    after: Annotated[
        int,
        Meta(
            ge=0,
            description="The last event's position, or the request's `after` when none came:"
            " the `after` of the next request",
        ),
    ]
    has_more: Annotated[
        bool, Meta(description="More events follow at once: ask again without `wait`")
    ]


class FeedEnvelope(Schema, frozen=True, kw_only=True):
    data: FeedData
    cursor: FeedCursor


class StreamUrl(Schema, frozen=True, kw_only=True):
    url: Annotated[
        str,
        Meta(
            description="The project's event stream, signed: an EventSource opens it without"
            " headers until it expires (SIGNED_URL_TTL)"
        ),
    ]


class StreamUrlData(Schema, frozen=True, kw_only=True):
    data: StreamUrl


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


def component_schemas(names: Iterable[str], upload_limit: int | None) -> dict[str, Any]:
    """msgspec's JSON Schemas of the named Structs (and of those they hold), for the
    document's components (`api.http.openapi`); with the deployment's upload limit
    (MAX_UPLOAD_BYTES) as the largest size_bytes, if given."""
    structs = [found for name in names if isinstance(found := globals().get(name), type)]
    _, components = msgspec.json.schema_components(
        [found for found in structs if issubclass(found, Struct)],
        ref_template="#/components/schemas/{name}",
    )
    if upload_limit is not None:
        size = components["CreateResourceBody"]["properties"]["size_bytes"]
        size["anyOf"][0]["maximum"] = upload_limit
        size["description"] = (
            f"The size the upload must have: at most {upload_limit} bytes (MAX_UPLOAD_BYTES)"
        )
    return components


@dataclasses.dataclass(eq=False)  # ResponseHeader's equality and hash: by name
class Header(ResponseHeader):
    """A response header for the document, with its JSON Schema: in a handler's
    `response_headers` (Litestar shows them on its success response), or an error
    status's (`api.http.errors.ERROR_HEADERS`). The handler or a hook sets the
    header itself; Litestar would take a schema only from a fixed value's type."""

    documentation_only: bool = True
    schema: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        # Keywords of a query parameter, which Litestar sets and a header has not.
        self.allow_empty_value = self.allow_reserved = None  # type: ignore[assignment]

    def openapi(self) -> dict[str, Any]:
        """The document's Header Object."""
        return {"description": self.description, "required": self.required, "schema": self.schema}


VERSION_TAG = Header(
    "ETag",
    description="The resource's version, as a strong entity tag",
    required=True,
    schema={"type": "string", "pattern": '^"[0-9]+"$'},
)
"""The ETag of a resource's answers, and of a 412 (the version it is at)."""
