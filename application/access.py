"""Who asks: a presented API key (a caller) and whom it acts for (a principal)."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable

from msgspec import Struct

from domain.resource import Actor

KEY_PREFIX = "rsk_"
_KEY_SHAPE = re.compile(r"rsk_[A-Za-z0-9_-]{32,256}")


class Principal(Struct, frozen=True, kw_only=True, gc=False):
    """A live key: the project it may see and change, and the user it acts for."""

    key_id: int
    project_id: int
    user_id: str


class Caller(Struct, frozen=True, kw_only=True, gc=False):
    """A request's presented key, not yet verified, and the request's id."""

    digest: bytes
    """The stored form of the key (see `key_digest`)."""
    request_id: str | None = None


OnPrincipal = Callable[[Principal], None]
"""Told whom the request acts for, once its key is known: the edge gives one at wiring
time (its log lines name the key and project); the use cases reach for nothing."""


def ignore_principal(_principal: Principal) -> None:
    """The `OnPrincipal` of a service no edge watches."""


def actor(principal: Principal, caller: Caller) -> Actor:
    """Who the events of this request record."""
    return Actor(user_id=principal.user_id, key_id=principal.key_id, request_id=caller.request_id)


def new_key() -> str:
    """A new secret: the prefix that secret scanners know, then 256 random bits."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_digest(secret: str) -> bytes | None:
    """The stored form of a key, or None when the text cannot be a key at all.

    Keys carry 256 random bits, so a fast hash is enough: there is nothing to
    brute-force, and a slow hash would cost every request.
    """
    if not _KEY_SHAPE.fullmatch(secret):
        return None
    return hashlib.sha256(secret.encode()).digest()
