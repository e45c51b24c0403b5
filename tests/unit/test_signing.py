"""Signed content URLs: only the URL that was signed, and only until it expires."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from api.signing import SignatureRejected, UrlSigner

NOW = 1_700_000_000.0
TTL = 300


@pytest.fixture
def signer() -> UrlSigner:
    return UrlSigner(b"k" * 32, "https://files.example.com", TTL)


def signed(signer: UrlSigner, method: str = "PUT", resource_id: int = 7) -> tuple[str, str]:
    """The expiry and signature of a freshly signed URL."""
    url = signer.content_url(method, resource_id, now=NOW)
    query = parse_qs(urlsplit(url).query)
    [expires] = query["expires"]
    [signature] = query["signature"]
    return expires, signature


def test_a_signed_url_points_at_the_resources_content(signer: UrlSigner) -> None:
    url = urlsplit(signer.content_url("GET", 7, now=NOW))

    assert (url.scheme, url.netloc, url.path) == (
        "https",
        "files.example.com",
        "/api/resources/7/content",
    )
    assert parse_qs(url.query)["expires"] == [str(int(NOW) + TTL)]


def test_a_signed_url_verifies_until_it_expires(signer: UrlSigner) -> None:
    expires, signature = signed(signer)

    signer.verify("PUT", 7, expires, signature, now=NOW)
    signer.verify("PUT", 7, expires, signature, now=NOW + TTL)


def test_an_expired_url_is_rejected(signer: UrlSigner) -> None:
    expires, signature = signed(signer)

    with pytest.raises(SignatureRejected, match="expired"):
        signer.verify("PUT", 7, expires, signature, now=NOW + TTL + 1)


def test_a_url_signed_for_another_method_is_rejected(signer: UrlSigner) -> None:
    expires, signature = signed(signer, method="GET")

    with pytest.raises(SignatureRejected, match="does not match"):
        signer.verify("PUT", 7, expires, signature, now=NOW)


def test_a_url_signed_for_another_resource_is_rejected(signer: UrlSigner) -> None:
    expires, signature = signed(signer, resource_id=7)

    with pytest.raises(SignatureRejected, match="does not match"):
        signer.verify("PUT", 8, expires, signature, now=NOW)


def test_a_url_with_a_later_expiry_is_rejected(signer: UrlSigner) -> None:
    expires, signature = signed(signer)

    with pytest.raises(SignatureRejected, match="does not match"):
        signer.verify("PUT", 7, str(int(expires) + 3600), signature, now=NOW)


def test_a_tampered_signature_is_rejected(signer: UrlSigner) -> None:
    expires, signature = signed(signer)
    tampered = ("0" if signature[0] != "0" else "1") + signature[1:]

    with pytest.raises(SignatureRejected, match="does not match"):
        signer.verify("PUT", 7, expires, tampered, now=NOW)


def test_a_url_signed_with_another_key_is_rejected(signer: UrlSigner) -> None:
    other = UrlSigner(b"o" * 32, "https://files.example.com", TTL)
    expires, signature = signed(other)

    with pytest.raises(SignatureRejected, match="does not match"):
        signer.verify("PUT", 7, expires, signature, now=NOW)


@pytest.mark.parametrize(
    ("expires", "signature"),
    [
        (None, "abc"),
        ("", "abc"),
        ("1700000300", None),
        ("1700000300", ""),
        ("-1", "abc"),
        ("1e9", "abc"),
        ("17000003OO", "abc"),
        (" 1700000300", "abc"),
    ],
)
def test_a_url_without_a_signature_or_a_whole_number_expiry_is_rejected(
    signer: UrlSigner, expires: str | None, signature: str | None
) -> None:
    with pytest.raises(SignatureRejected, match="not signed"):
        signer.verify("PUT", 7, expires, signature, now=NOW)


def test_an_expiry_of_a_superscript_digit_is_rejected(signer: UrlSigner) -> None:
    with pytest.raises(SignatureRejected):
        signer.verify("PUT", 7, "\u00b2", "abc", now=NOW)
