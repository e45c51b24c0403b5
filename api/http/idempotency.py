"""The Idempotency-Key header: which earlier request a POST or PATCH repeats.

The application keeps each key's outcome in the transaction of the change it
answers (per project, for 24 hours); here the header is read and the request
fingerprinted, so a key reused for another method, path or body is refused.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import msgspec
from litestar import Request
from msgspec import Struct

from api.http.errors import ApiError
from api.observability.raw_headers import header
from application.commands import IdempotencyKey

HEADER = "idempotency-key"
_HEADER = HEADER.encode()
REPLAYED = "Idempotent-Replayed"
_KEY_SHAPE = re.compile(r"[\x21-\x7e]{1,255}")


def idempotency_key(request: Request[Any, Any, Any], body: Struct) -> IdempotencyKey | None:
    """The request's Idempotency-Key with its fingerprint (of the method, the path and
    the decoded body, encoded again: the same for the same fields however they were
    sent); None without the header."""
    key = header(request.scope, _HEADER)
    if key is None:
        return None
    if not _KEY_SHAPE.fullmatch(key):
        raise ApiError(400, "Idempotency-Key must be 1 to 255 visible ASCII characters.")
    fingerprint = hashlib.sha256(
        b"\n".join([request.method.encode(), request.url.path.encode(), msgspec.json.encode(body)])
    ).digest()
    return IdempotencyKey(key=key, fingerprint=fingerprint)
