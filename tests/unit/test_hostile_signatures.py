"""Tampered signed URLs, of content and of event streams: each is refused by the signer,
whose refusal the endpoints answer with a 403 (`tests/e2e/test_hostile_input.py`)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from api.composition.signing import EXPIRY_DIGITS, STREAM, SignatureRejected, UrlSigner
from tests.hostile import ARABIC_ONE, LONG_DIGITS, SUPERSCRIPT_TWO

NOW = 1_800_000_000.0
TTL = 3600
FAR = "4102444800"  # 2100-01-01: not expired
SIGNER = UrlSigner(b"s" * 32, "https://files.example.com", TTL)


def query(url: str) -> tuple[str, str]:
    """The expiry and the signature a signed URL carries."""
    found = parse_qs(urlsplit(url).query)
    return found["expires"][0], found["signature"][0]


def rejected(method: str, subject: int, expires: str | None, signature: str | None) -> str:
    """Why the signer refuses the URL (it must)."""
    with pytest.raises(SignatureRejected) as refusal:
        SIGNER.verify(method, subject, expires, signature, now=NOW)
    return str(refusal.value)


MALFORMED = [
    ("non-ASCII signature", FAR, "é" * 64),
    ("non-ASCII digits in expiry", ARABIC_ONE * 10, "a" * 64),
    ("superscript expiry", SUPERSCRIPT_TWO, "a" * 64),
    ("expiry of 5,000 digits", LONG_DIGITS, "a" * 64),
    ("expiry of 13 digits", "1" * (EXPIRY_DIGITS + 1), "a" * 64),
    ("negative expiry", "-1", "a" * 64),
    ("NUL in signature", FAR, "a\x00"),
    ("upper-case signature", FAR, "A" * 64),
    ("63 hex digits", FAR, "a" * 63),
    ("65 hex digits", FAR, "a" * 65),
    ("no signature", FAR, None),
    ("no expiry", None, "a" * 64),
]


@pytest.mark.parametrize(
    ("expires", "signature"),
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
def test_a_download_url_of_another_shape_is_told_malformed(
    expires: str | None, signature: str | None
) -> None:
    assert rejected("GET", 7, expires, signature).startswith("the URL's signature is malformed")


@pytest.mark.parametrize("method", ["GET", "PUT", STREAM])
def test_a_url_without_expiry_and_signature_is_told_not_signed(method: str) -> None:
    assert rejected(method, 7, None, None).startswith("the URL is not signed")


@pytest.mark.parametrize(
    ("expires", "signature"),
    [(FAR, "0" * 64), ("1", "0" * 64), ("99999999999", "a" * 64)],
    ids=["wrong", "wrong and expired", "forged"],
)
@pytest.mark.parametrize("method", ["GET", "PUT", STREAM])
def test_a_signature_that_was_not_made_is_told_not_to_match(
    method: str, expires: str, signature: str
) -> None:
    assert rejected(method, 7, expires, signature) == "the URL's signature does not match"


@pytest.mark.parametrize(
    ("signed_for", "used_for"),
    [
        (("PUT", 7), ("GET", 7)),  # the upload URL's signature on the download
        (("GET", 7), ("PUT", 7)),  # the download URL's signature on the upload
        (("PUT", 7), ("PUT", 8)),  # another id than signed
        (("GET", 4), (STREAM, 4)),  # a content URL's signature on a stream
        ((STREAM, 4), ("GET", 4)),  # a stream URL's signature on a download
        ((STREAM, 4), (STREAM, 5)),  # another project's stream
    ],
)
def test_a_signature_opens_only_what_it_was_made_for(
    signed_for: tuple[str, int], used_for: tuple[str, int]
) -> None:
    method, subject = signed_for
    if method == STREAM:
        expires, signature = query(SIGNER.stream_url(subject, now=NOW))
    else:
        expires, signature = query(SIGNER.content_url(method, subject, now=NOW))
    SIGNER.verify(method, subject, expires, signature, now=NOW)  # it opens its own

    assert rejected(*used_for, expires, signature) == "the URL's signature does not match"


def test_a_signed_url_past_its_expiry_is_told_expired() -> None:
    expires, signature = query(SIGNER.content_url("GET", 7, now=NOW - TTL - 1))

    assert rejected("GET", 7, expires, signature) == "the URL has expired"


@given(
    st.text(max_size=20).filter(
        lambda text: not (text.isascii() and text.isdigit() and len(text) <= EXPIRY_DIGITS)
    )
)
def test_every_expiry_but_up_to_12_ascii_digits_is_told_malformed(expires: str) -> None:
    assert rejected("GET", 7, expires, "a" * 64).startswith("the URL's signature is malformed")


@given(st.text(max_size=70).filter(lambda text: text != text.lower() or len(text) != 64))
def test_every_signature_of_another_length_or_with_upper_case_is_told_malformed(
    signature: str,
) -> None:
    assert rejected("GET", 7, FAR, signature).startswith("the URL's signature is malformed")


@given(
    st.sampled_from(["GET", "PUT", STREAM]),
    st.integers(min_value=1, max_value=2**63 - 1),
    st.integers(min_value=0, max_value=TTL),
)
def test_every_url_signed_opens_what_it_names_until_it_expires(
    method: str, subject: int, elapsed: int
) -> None:
    if method == STREAM:
        expires, signature = query(SIGNER.stream_url(subject, now=NOW))
    else:
        expires, signature = query(SIGNER.content_url(method, subject, now=NOW))

    SIGNER.verify(method, subject, expires, signature, now=NOW + elapsed)
