"""If-Match (RFC 9110, section 13.1.1) for PATCH and DELETE."""

from __future__ import annotations

import re

from api.http.errors import ApiError

_ENTITY_TAG = re.compile(r'\s*(W/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*(?:,|$)')


MAX_DIGITS = 19
"""A version is a bigint: a longer tag cannot be one (and need not be converted)."""


class AnyVersion:
    """`If-Match: *`: any current representation matches."""


ANY_VERSION = AnyVersion()


def parse_if_match(header: str | None) -> frozenset[int] | AnyVersion | None:
    """The versions the client allows: None without the header; 400 if malformed.

    Strong comparison: weak tags (W/"3") and tags that are not our versions are
    kept out of the set, so they can never match and the request gets a 412.
    """
    if header is None:
        return None
    if header.strip() == "*":
        return ANY_VERSION
    versions: set[int] = set()
    position = 0
    text = header.strip()
    if not text:
        raise ApiError(400, 'If-Match must be * or a list of entity tags such as "3".')
    while position < len(text):
        match = _ENTITY_TAG.match(text, position)
        if match is None or match.end() == position:
            raise ApiError(400, 'If-Match must be * or a list of entity tags such as "3".')
        weak, tag = match.group(1), match.group(2)
        if not weak and tag.isascii() and tag.isdigit() and len(tag) <= MAX_DIGITS:
            versions.add(int(tag))
        position = match.end()
    return frozenset(versions)
