"""X-Request-ID: the client's, when it sends a sensible one, else a new one.

It is echoed on every response by `api.observability.request_metrics.on_send`.
"""

from __future__ import annotations

import random
import re
from typing import Any

from litestar import Request
from litestar.types import Scope

from api.observability.raw_headers import header

HEADER = "x-request-id"
ACCEPTABLE = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")
"""A client's X-Request-ID that is kept as the id (anything else is replaced)."""
_STATE_KEY = "request_id"
_HEADER = HEADER.encode()


def _new_id() -> str:
    """128 random bits in hex. Not a secret, so not from os.urandom (a system call
    per request); `random` is seeded from it once per process."""
    return f"{random.getrandbits(128):032x}"


def request_id_of(scope: Scope) -> str:
    state: dict[str, Any] = scope.setdefault("state", {})
    request_id = state.get(_STATE_KEY)
    if request_id is None:
        incoming = header(scope, _HEADER) or ""
        request_id = incoming if ACCEPTABLE.fullmatch(incoming) else _new_id()
        state[_STATE_KEY] = request_id
    return str(request_id)


def request_id(request: Request[Any, Any, Any]) -> str:
    """The id that events appended by this request record."""
    return request_id_of(request.scope)
