"""Secrets never reach a log line: signed URLs are logged without their query string."""

from __future__ import annotations

import logging
import re

_SIGNED = re.compile(r"([?&](?:signature|X-Amz-Signature|X-Amz-Credential)=)", re.IGNORECASE)


def redact(target: str) -> str:
    """A path with its query string replaced when the query carries a signature."""
    path, question, query = target.partition("?")
    if question and _SIGNED.search(question + query):
        return f"{path}?[signed query redacted]"
    return target


class RedactSignedUrls(logging.Filter):
    """For uvicorn's access log, whose records carry the request target as an argument."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact(arg) if isinstance(arg, str) and "?" in arg else arg for arg in record.args
            )
        return True


def redact_access_log() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(existing, RedactSignedUrls) for existing in access.filters):
        access.addFilter(RedactSignedUrls())
