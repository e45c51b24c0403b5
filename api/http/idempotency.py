"""The Idempotency-Key header: which earlier request a POST or PATCH repeats.

The application keeps each key's outcome in the transaction of the change it
answers (per project, for 24 hours); here the header is read and the request
fingerprinted, so a key reused for another method, path or body is refused.
"""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any

import msgspec
from litestar import Request
from litestar.params import HeaderParameter
from msgspec import Struct

from api.http.errors import ApiError
from api.http.schemas import Header
from application.commands import IdempotencyKey

KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
"""1 to 255 visible ASCII characters: the keys `idempotency_key` takes."""
_KEY_SHAPE = re.compile(KEY_PATTERN)

IdempotencyKeyHeader = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        description="1 to 255 visible ASCII characters. The same key with the same method, path"
        " and body within 24 hours answers the first request's outcome"
        " (`Idempotent-Replayed: true`); with another request, 422. A malformed value is a 400.",
        schema_extra={"type": "string", "minLength": 1, "maxLength": 255, "pattern": KEY_PATTERN},
    ),
]
"""The header as the handler takes it, for `idempotency_key` to check."""
REPLAYED = "Idempotent-Replayed"
REPLAYED_HEADER = Header(
    REPLAYED,
    description="Sent when the response is the kept outcome of an earlier request with the"
    " same Idempotency-Key",
    schema={"type": "string", "enum": ["true"]},
)


def idempotency_key(
    request: Request[Any, Any, Any], key: str | None, body: Struct
) -> IdempotencyKey | None:
    """The request's Idempotency-Key (`key`, the header's value) with its fingerprint (of
    the method, the path and the decoded body, encoded again: the same for the same
    fields however they were sent); None without the header."""
    if key is None:
        return None
    if not _KEY_SHAPE.fullmatch(key):
        raise ApiError(400, "Idempotency-Key must be 1 to 255 visible ASCII characters.")
    fingerprint = hashlib.sha256(
        b"\n".join([request.method.encode(), request.url.path.encode(), msgspec.json.encode(body)])
    ).digest()
    return IdempotencyKey(key=key, fingerprint=fingerprint)
