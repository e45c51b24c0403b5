"""The value rules of a resource's fields, shared by creation and change."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import urlsplit

from domain.errors import InvalidValue

NAME_MAX = 255
DESCRIPTION_MAX = 10_000
URL_MAX = 2048
DEFAULT_MIME_TYPE = "application/octet-stream"

# RFC 6838 names for type and subtype; RFC 9110 tokens and quoted strings (printable
# ASCII only) for parameters, with optional white space (spaces and tabs) around ";".
_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_TOKEN = r"[A-Za-z0-9!#$%&'*+.^_`|~-]+"  # noqa: S105 - a regex, not a secret
_QUOTED = r'"(?:[\t \x21\x23-\x5b\x5d-\x7e]|\\[\t \x21-\x7e])*"'
_PARAMETER = rf"[ \t]*;[ \t]*{_TOKEN}=(?:{_TOKEN}|{_QUOTED})"
_MIME_TYPE = re.compile(rf"{_NAME}/{_NAME}(?:{_PARAMETER})*")
MAX_SIZE = 2**63 - 1
"""The largest size PostgreSQL's bigint keeps: 8 EiB."""


def _has_control_characters(text: str, *, allowed: str = "") -> bool:
    return any(unicodedata.category(char) == "Cc" and char not in allowed for char in text)


def valid_name(name: str) -> str:
    """The name as stored: trimmed, 1 to 255 characters, no control characters."""
    trimmed = name.strip()
    if not trimmed:
        raise InvalidValue("name", "must not be empty or only white space")
    if len(trimmed) > NAME_MAX:
        raise InvalidValue("name", f"must be at most {NAME_MAX} characters")
    if _has_control_characters(trimmed):
        raise InvalidValue("name", "must not contain control characters")
    return trimmed


def valid_description(description: str | None) -> str | None:
    """A description of at most 10,000 characters; None means none."""
    if description is None:
        return None
    if len(description) > DESCRIPTION_MAX:
        raise InvalidValue("description", f"must be at most {DESCRIPTION_MAX} characters")
    if _has_control_characters(description, allowed="\t\n\r"):
        # Line breaks and tabs are welcome in a description; other control characters
        # (NUL cannot even be stored) are not text.
        raise InvalidValue(
            "description", "must not contain control characters but tabs and line breaks"
        )
    return description


def valid_mime_type(mime_type: str | None) -> str:
    """A `type/subtype` media type, optionally with parameters."""
    if mime_type is None:
        return DEFAULT_MIME_TYPE
    if not _MIME_TYPE.fullmatch(mime_type):
        raise InvalidValue("mime_type", "must be a media type such as text/plain")
    return mime_type


def valid_size(size_bytes: int | None) -> int | None:
    """A declared size: a whole number of bytes, or None when unknown."""
    if size_bytes is not None and size_bytes < 0:
        raise InvalidValue("size_bytes", "must be zero or more")
    if size_bytes is not None and size_bytes > MAX_SIZE:
        raise InvalidValue("size_bytes", f"must be at most {MAX_SIZE}")
    return size_bytes


def valid_link(url: str) -> str:
    """An absolute http or https URL with a host."""
    if len(url) > URL_MAX:
        raise InvalidValue("url", f"must be at most {URL_MAX} characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:  # a bracketed host that is no IPv6 address, say
        host = None
    if host is None or parts.scheme not in ("http", "https"):
        raise InvalidValue("url", "must be an absolute http or https URL")
    if _has_control_characters(url) or any(char.isspace() for char in url):
        raise InvalidValue("url", "must not contain white space or control characters")
    return url
