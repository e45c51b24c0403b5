"""Parameters and headers that several endpoints share, with their exact bounds."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any

from litestar.enums import ParamType
from litestar.openapi.spec import Parameter, Schema
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import HeaderParameter, PathParameter, QueryParameter

from api.http.errors import ApiError, not_found
from api.http.schemas import ErrorDetail, Header
from api.observability.request_ids import ACCEPTABLE

MAX_ID = 2**63 - 1
"""Ids, versions and sizes are PostgreSQL bigints."""
MAX_PER_PAGE = 100
MAX_PAGE = MAX_ID // MAX_PER_PAGE
"""The last page whose offset is still a bigint, whatever the page size."""


def whole_numbers(low: int, high: int) -> dict[str, Any]:
    """The OpenAPI schema of a bounded integer parameter. Litestar writes `ge` and `le`
    as floats, and a float cannot hold MAX_PAGE (9.223372036854776e16 is 2 more):
    the schema gets the bounds as integers instead."""
    return {"type": "integer", "format": "int64", "minimum": low, "maximum": high}


class PathId(int):
    """A resource id from the path, read strictly (see `path_id`)."""


MALFORMED_ID = -1
"""The id of a path whose id is not ASCII digits: it names no resource."""


def whole_in(text: object, low: int, high: int) -> int | None:
    """The whole number `text` writes in ASCII digits, if it is one from `low` to
    `high`; else None. (int() would also read signs, underscores, white space and
    other scripts' digits.)"""
    if (
        isinstance(text, str)
        and text.isascii()
        and text.isdigit()
        and len(text) <= len(str(high))
        and low <= int(text) <= high
    ):
        return int(text)
    return None


def path_id(kind: type, value: Any) -> PathId:
    """The type decoder of `PathId`: ASCII digits, or MALFORMED_ID.

    Litestar's own `int` path type reads with `int()`, so `/api/resources/+1`,
    `/api/resources/1_0` and an Arabic-Indic digit one would each name a resource;
    here they name none."""
    number = whole_in(value, 0, MAX_ID)
    return PathId(MALFORMED_ID if number is None else number)


def well_formed(resource_id: int) -> int:
    """A path's id, checked before its signature: one that is not a number is a 404,
    as for a path that names nothing (a number other than the signed one is a 403)."""
    if resource_id == MALFORMED_ID:
        raise not_found()
    return resource_id


PATH_IDS = [(lambda kind: kind is PathId, path_id)]
"""The app's `type_decoders` for `PathId`: routes declare `{resource_id:str}`."""
ResourceId = Annotated[
    PathId, PathParameter(description="The resource's id", schema_extra=whole_numbers(1, MAX_ID))
]
"""An id out of range names no resource: 404, as for an id that was never allocated."""
Page = Annotated[
    int,
    QueryParameter(
        ge=1, le=MAX_PAGE, description="The page, from 1", schema_extra=whole_numbers(1, MAX_PAGE)
    ),
]
PerPage = Annotated[
    int,
    QueryParameter(
        ge=1,
        le=MAX_PER_PAGE,
        description="Items per page, 1 to 100",
        schema_extra=whole_numbers(1, MAX_PER_PAGE),
    ),
]

SESSION_TOKEN = "Session-Token"  # noqa: S105 - a header's name
SESSION_TOKEN_PATTERN = r"^[0-9A-F]{1,8}/[0-9A-F]{1,8}$"  # noqa: S105
"""A WAL position, as the primary writes it."""
SessionToken = Annotated[
    str | None,
    HeaderParameter(
        name=SESSION_TOKEN,
        description="The Session-Token a write answered: with a read replica configured, the"
        " read sees that write or a later state (from the replica once it has replayed it,"
        " else from the primary). A malformed value is a 400.",
        schema_extra={
            "type": "string",
            "format": "session-token",
            "pattern": SESSION_TOKEN_PATTERN,
        },
    ),
]
"""The reads a replica may serve take it, as their `session_token`: that is how
`api.http.consistency` knows them, and reads the header before the handler runs."""
SESSION_TOKEN_ANSWERED = Header(
    SESSION_TOKEN,
    description="With a read replica configured (DATABASE_REPLICA_URL): send it back in a"
    " read's Session-Token to see this write",
    schema={"type": "string", "pattern": SESSION_TOKEN_PATTERN},
)
"""A write's answer carries it (`api.http.consistency.answer_token`)."""

REQUEST_ID_PARAMETER = Parameter(
    name="X-Request-ID",
    param_in=ParamType.HEADER,
    required=False,
    description="The request's id, recorded with every event it appends and echoed in the"
    " response: up to 128 of A-Za-z0-9._:/+=-. Any other value is replaced with a new id.",
    schema=Schema(type=OpenAPIType.STRING),
)
REQUEST_ID = Header(
    "X-Request-ID",
    description="The request's id (the client's X-Request-ID if it is one of up to 128 of"
    " A-Za-z0-9._:/+=-, else a new one)",
    required=True,
    schema={"type": "string", "pattern": f"^{ACCEPTABLE.pattern}$"},
)
"""Every operation takes X-Request-ID and every answer carries it
(`api.observability.request_ids`), a 503 of the HTTP server's own excepted.
`api.http.openapi` adds them to every operation: as a handler's parameter, the
header would be parsed on every request."""


class WholeNumber(int):
    """An optional integer query parameter from 1 to MAX_ID, read strictly.

    Declared `int | None`, Litestar reads `?version=null` as no version at all
    (msgspec's lax conversion of "null" for an optional value); declared
    `WholeNumber | None`, the value goes through `whole_number` instead, and
    anything but a whole number in range is a 400 like any other bad value.
    """


def whole_number(kind: type, value: Any) -> WholeNumber:
    """The type decoder of `WholeNumber` (see `WHOLE_NUMBERS`)."""
    number = whole_in(value, 1, MAX_ID)
    if number is None:
        raise ValueError(f"must be a whole number from 1 to {MAX_ID}")
    return WholeNumber(number)


WHOLE_NUMBERS = [(lambda kind: kind is WholeNumber, whole_number)]
"""The `type_decoders` of a handler with a `WholeNumber` parameter."""

DATE_TIME = {"type": "string", "format": "date-time"}
"""The schema of a time parameter: RFC 3339 with a zone (see `parse_rfc3339`)."""
PLAIN_TEXT = {"type": "string", "pattern": r"^[^\x00-\x1f\x7f-\x9f]*$"}
"""The schema of a text filter: no control characters (see `plain_text`)."""


def id_or_none(resource_id: int) -> int:
    """The id to look up: 0 (which names nothing) for one out of range."""
    return resource_id if 1 <= resource_id <= MAX_ID else 0


def existing_id(resource_id: int) -> int:
    """Ids are 1 to 2^63-1; anything else names no resource."""
    if not 1 <= resource_id <= MAX_ID:
        raise not_found()
    return resource_id


def plain_text(value: str | None, name: str) -> str | None:
    """A filter's text: control characters (NUL among them) are a 400."""
    if value is not None and any(unicodedata.category(char) == "Cc" for char in value):
        raise ApiError(
            400,
            f"{name} must not contain control characters.",
            details=[ErrorDetail(field=name, message="contains control characters")],
        )
    return value


_RFC3339 = re.compile(
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})[Tt](?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})"
    r":(?P<second>[0-9]{2})(?P<fraction>\.[0-9]+)?(?P<zone>[Zz]|[+-][0-9]{2}:[0-9]{2})"
)
"""RFC 3339's date-time (section 5.6): the `date-time` format of the OpenAPI document."""
_EARLIEST = datetime.min.replace(tzinfo=UTC)


def _rfc3339(value: str) -> datetime | None:
    """The moment an RFC 3339 date-time names; None if it is not one.

    Exactly the strings the JSON Schema `date-time` format takes: `t` and `z` in
    lower case too, any number of fraction digits, a leap second (`:60`) only at
    23:59 UTC (read as the last microsecond of that minute), and the year 0000,
    before the first moment Python can hold (read as that first moment: every
    event is later).
    """
    found = _RFC3339.fullmatch(value)
    if found is None:
        return None
    date, hour, minute, second = found.group("date", "hour", "minute", "second")
    zone = found.group("zone").upper().replace("Z", "+00:00")
    offset = (int(zone[1:3]) * 60 + int(zone[4:])) * (-1 if zone[0] == "-" else 1)
    if int(zone[4:]) > 59:
        return None
    leap = second == "60"
    if leap and (int(hour) * 60 + int(minute) - offset) % 1440 != 23 * 60 + 59:
        return None
    year_zero = date.startswith("0000")
    text = (
        f"{'2000' + date[4:] if year_zero else date}T{hour}:{minute}:{'59' if leap else second}"
        f"{'.999999' if leap else found.group('fraction') or ''}{zone}"
    )
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return _EARLIEST if year_zero else moment


def parse_rfc3339(value: str, name: str) -> datetime:
    plain_text(value, name)
    moment = _rfc3339(value)
    if moment is None:
        raise ApiError(
            400,
            f"{name} must be an RFC 3339 time with a zone, such as 2026-11-28T09:30:00Z.",
            details=[ErrorDetail(field=name, message="is not an RFC 3339 date-time")],
        )
    return moment
