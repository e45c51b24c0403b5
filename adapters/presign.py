"""Response headers in a presigned S3 GET: `response-content-type` and
`response-content-disposition`, which S3, R2 and MinIO answer the download with.

obstore presigns a GET with no query parameters of its own. Those two must be in
the signed query, so the URL obstore made is signed again here with them added,
by AWS Signature Version 4 for query strings: the same host, path, date, scope and
expiry, a signature over the longer query. Only with a static secret key (the
AWS_SECRET_ACCESS_KEY the service was given); with credentials from a provider
(an instance role) obstore's URL goes as it is.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

ALGORITHM = "AWS4-HMAC-SHA256"


def _encoded(text: str) -> str:
    return quote(text, safe="-_.~")


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def with_response_headers(url: str, secret_key: str, headers: Mapping[str, str]) -> str:
    """`url` (a SigV4 presigned GET) signed again with `headers` (`response-*` query
    parameters) in its query."""
    parts = urlsplit(url)
    query = [
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if name != "X-Amz-Signature"
    ]
    query += list(headers.items())
    fields = dict(query)
    canonical_query = "&".join(
        f"{_encoded(name)}={_encoded(value)}" for name, value in sorted(query)
    )
    canonical_request = "\n".join(
        (
            "GET",
            parts.path or "/",
            canonical_query,
            f"host:{parts.netloc}\n",
            fields.get("X-Amz-SignedHeaders", "host"),
            "UNSIGNED-PAYLOAD",
        )
    )
    _, date, region, service, terminal = fields["X-Amz-Credential"].split("/")
    scope = f"{date}/{region}/{service}/{terminal}"
    string_to_sign = "\n".join(
        (
            ALGORITHM,
            fields["X-Amz-Date"],
            scope,
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        )
    )
    key = _hmac(f"AWS4{secret_key}".encode(), date)
    for part in (region, service, terminal):
        key = _hmac(key, part)
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return urlunsplit(parts._replace(query=f"{canonical_query}&X-Amz-Signature={signature}"))
