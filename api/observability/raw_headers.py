"""One request header, read straight from the ASGI scope.

Litestar's `request.headers` builds a case-insensitive multidict of every header
on first use, which showed in the profiles of the hot paths; each of them wants
one or two headers. ASGI hands header names over lower-cased, so a name is
compared as bytes, and the first of repeated headers is the one read (as
`request.headers.get` reads it).
"""

from __future__ import annotations

from litestar.types import Scope


def header(scope: Scope, name: bytes) -> str | None:
    """The value of the request's first `name` header (lower-case), or None."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None
