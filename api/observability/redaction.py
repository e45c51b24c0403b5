"""Secrets never reach a log line: signed URLs are logged without their query string
(`api.observability.logs` applies this to every record)."""

from __future__ import annotations

import re

_SIGNED = re.compile(r"([?&](?:signature|X-Amz-Signature|X-Amz-Credential)=)", re.IGNORECASE)


def redact(target: str) -> str:
    """A path with its query string replaced when the query carries a signature."""
    path, question, query = target.partition("?")
    if question and _SIGNED.search(question + query):
        return f"{path}?[signed query redacted]"
    return target
