"""Bearer authentication with project API keys."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency
from msgspec.structs import replace

from api.errors import ApiError
from api.keys import Principal
from api.request_ids import request_id
from api.services import Services


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": "Bearer"})


def authenticate(request: Request[Any, Any, Any], services: NamedDependency[Services]) -> Principal:
    """The principal of the request's key; 401 for a missing, malformed or dead key."""
    principal = services.keys.authenticate(bearer_secret(request))
    if principal is None:
        raise invalid_key()
    return replace(principal, request_id=request_id(request))


def bearer_secret(request: Request[Any, Any, Any]) -> str:
    """The key sent as `Authorization: Bearer <key>`; 401 when there is none."""
    header = request.headers.get("authorization")
    if not header:
        raise _unauthorized("An API key is required: send Authorization: Bearer <key>.")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise _unauthorized("Send the API key as Authorization: Bearer <key>.")
    return secret.strip()


def invalid_key() -> ApiError:
    return _unauthorized("The API key is not valid.")
