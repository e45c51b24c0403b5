"""The presigned S3 GET with response headers, signed as botocore signs it."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

import boto3
import pytest
from botocore.config import Config

from adapters.presign import with_response_headers

HEADERS = {
    "response-content-type": "application/pdf",
    "response-content-disposition": (
        "attachment; filename=\"Q3 _.pdf\"; filename*=UTF-8''Q3%20%E2%82%AC.pdf"
    ),
}


@pytest.mark.parametrize(
    ("endpoint", "style", "token"),
    [
        ("http://127.0.0.1:9000", "path", None),
        (None, "virtual", None),
        ("https://account.r2.cloudflarestorage.com", "path", "a-session-token"),
    ],
)
def test_the_signature_is_the_one_botocore_computes(
    endpoint: str | None, style: str, token: str | None
) -> None:
    client = boto3.client(
        "s3",
        region_name="eu-west-1",
        endpoint_url=endpoint,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        aws_session_token=token,
        config=Config(signature_version="s3v4", s3={"addressing_style": style}),
    )
    signed = client.generate_presigned_url(
        "get_object",
        Params={
            "Bucket": "bucket",
            "Key": "objects/7/abc.def",
            "ResponseContentType": HEADERS["response-content-type"],
            "ResponseContentDisposition": HEADERS["response-content-disposition"],
        },
        ExpiresIn=300,
    )
    parts = urlsplit(signed)
    query = dict(parse_qsl(parts.query))
    # The URL as obstore makes it: the same, without the response headers.
    plain = {k: v for k, v in query.items() if not k.startswith("response-")}
    unsigned = parts._replace(query=urlencode(plain)).geturl()

    ours = with_response_headers(unsigned, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", HEADERS)

    ours_query = dict(parse_qsl(urlsplit(ours).query))
    assert ours_query == query
    assert urlsplit(ours)[:3] == parts[:3]


def test_another_secret_gives_another_signature() -> None:
    url = (
        "http://127.0.0.1:9000/bucket/o?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKID%2F20261205%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20261205T123144Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=00"
    )
    one = with_response_headers(url, "one", HEADERS)
    other = with_response_headers(url, "other", HEADERS)
    assert one != other
    assert one.count("X-Amz-Signature=") == 1
