"""If-Match (RFC 9110, section 13.1.1) for PATCH and DELETE, and the ETag it matches."""

from __future__ import annotations

import re
from typing import Annotated

from litestar.params import HeaderParameter

from api.http.errors import ApiError

_ENTITY_TAG = re.compile(r'\s*(W/)?"([\x21\x23-\x7e\x80-\xff]*)"\s*(?:,|$)')

# The pattern of what `parse_if_match` takes, for the document. Its character classes are
# written out (see `api.http.schemas`).
HEADER_SPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0"
r"""White space as the parser reads a header (`\s` and `str.strip()` over Latin-1)."""
ENTITY_TAG = r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"'
IF_MATCH_PATTERN = (
    rf"^[{HEADER_SPACE}]*(?:\*|{ENTITY_TAG}(?:[{HEADER_SPACE}]*,[{HEADER_SPACE}]*{ENTITY_TAG})*"
    rf"(?:[{HEADER_SPACE}]*,)?)[{HEADER_SPACE}]*$"
)
"""`*` or a comma-separated list of entity tags (RFC 9110), as `parse_if_match` parses it."""

IfMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-Match",
        description='Change only if the resource is at one of these versions (`"3"`, or a list;'
        " weak tags never match), else 412; `*` matches any existing resource."
        " A malformed value is a 400.",
        schema_extra={"type": "string", "format": "entity-tags", "pattern": IF_MATCH_PATTERN},
    ),
]
"""The If-Match a handler passes to `parse_if_match` (read as it is: the parser says
what is malformed)."""


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
