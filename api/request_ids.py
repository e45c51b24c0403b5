"""X-Request-ID: the client's, when it sends a sensible one, else a new one; echoed."""

from __future__ import annotations

import re
import uuid
from typing import Any

from litestar import Request
from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

HEADER = "x-request-id"
_ACCEPTABLE = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")
_STATE_KEY = "request_id"


def _request_id_of(scope: Scope) -> str:
    state: dict[str, Any] = scope.setdefault("state", {})
    request_id = state.get(_STATE_KEY)
    if request_id is None:
        incoming = ""
        for name, value in scope.get("headers", ()):
            if name == HEADER.encode():
                incoming = value.decode("latin-1")
                break
        request_id = incoming if _ACCEPTABLE.fullmatch(incoming) else uuid.uuid4().hex
        state[_STATE_KEY] = request_id
    return str(request_id)


def request_id(request: Request[Any, Any, Any]) -> str:
    """The id that events appended by this request record."""
    return _request_id_of(request.scope)


async def echo_request_id(message: Message, scope: Scope) -> None:
    """Adds X-Request-ID to every HTTP response, errors included."""
    if message["type"] == "http.response.start":
        MutableScopeHeaders.from_message(message)[HEADER] = _request_id_of(scope)
