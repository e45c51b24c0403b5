"""Bearer authentication: the key a request presents, as the application's `Caller`.

Whether the key is live is the resource store's question, asked in the same
round trip as the request's read or guarded by its append.
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from api.http.errors import unauthorized
from api.http.wiring import resources_of
from api.observability.raw_headers import header as raw_header
from api.observability.request_ids import request_id
from application.access import Caller, Principal, key_digest


def bearer_secret(request: Request[Any, Any, Any]) -> str:
    """The key sent as `Authorization: Bearer <key>`; 401 when there is none."""
    header = raw_header(request.scope, b"authorization")
    if not header:
        raise unauthorized("An API key is required: send Authorization: Bearer <key>.")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise unauthorized("Send the API key as Authorization: Bearer <key>.")
    return secret.strip()


def caller(request: Request[Any, Any, Any]) -> Caller:
    """Who the request says it is; 401 for a missing or malformed key."""
    digest = key_digest(bearer_secret(request))
    if digest is None:
        raise unauthorized()
    return Caller(digest=digest, request_id=request_id(request))


async def principal_of(request: Request[Any, Any, Any]) -> Principal:
    """The principal of the request's live key; 401 otherwise."""
    return await resources_of(request).authenticate(caller(request))
