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

_MEDIA_TOKEN = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"  # noqa: S105 - a regex, not a secret
_PARAMETER = rf"\s*;\s*{_MEDIA_TOKEN}=(?:{_MEDIA_TOKEN}|\"[^\"\\\r\n]*\")"
_MIME_TYPE = re.compile(rf"{_MEDIA_TOKEN}/{_MEDIA_TOKEN}(?:{_PARAMETER})*")


def _has_control_characters(text: str) -> bool:
    return any(unicodedata.category(char) == "Cc" for char in text)


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
    if "\x00" in description:
        # Line breaks and tabs are welcome in a description; NUL cannot be stored.
        raise InvalidValue("description", "must not contain NUL characters")
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
    return size_bytes


def valid_link(url: str) -> str:
    """An absolute http or https URL with a host."""
    if len(url) > URL_MAX:
        raise InvalidValue("url", f"must be at most {URL_MAX} characters")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidValue("url", "must be an absolute http or https URL")
    if _has_control_characters(url) or any(char.isspace() for char in url):
        raise InvalidValue("url", "must not contain white space or control characters")
    return url
