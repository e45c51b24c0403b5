"""Path and query parameters that several endpoints share, with their exact bounds."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Annotated

from litestar.params import PathParameter, QueryParameter

from api.errors import ApiError, not_found
from api.schemas import ErrorDetail

MAX_ID = 2**63 - 1
"""Ids, versions and sizes are PostgreSQL bigints."""
MAX_PER_PAGE = 100
MAX_PAGE = MAX_ID // MAX_PER_PAGE
"""The last page whose offset is still a bigint, whatever the page size."""

ResourceId = Annotated[int, PathParameter(description="The resource's id")]
Page = Annotated[int, QueryParameter(ge=1, le=MAX_PAGE, description="The page, from 1")]
PerPage = Annotated[
    int, QueryParameter(ge=1, le=MAX_PER_PAGE, description="Items per page, 1 to 100")
]


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


def parse_rfc3339(value: str, name: str) -> datetime:
    plain_text(value, name)
    try:
        moment = datetime.fromisoformat(value) if value.isascii() else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or "T" not in value.upper():
        raise ApiError(
            400,
            f"{name} must be an RFC 3339 time with a zone, such as 2026-11-28T09:30:00Z.",
            details=[ErrorDetail(field=name, message="is not an RFC 3339 date-time")],
        )
    return moment
