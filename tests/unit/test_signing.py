"""Signed content URLs: only the URL that was signed, and only until it expires."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import pytest

from api.composition.signing import ContentLinks, SignatureRejected, UrlSigner
from projections.resources import ResourceRecord
from tests.fakes import MemoryBlobStore

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
def test_a_url_without_a_signature_or_a_whole_number_expiry_is_told_malformed(
    signer: UrlSigner, expires: str | None, signature: str | None
) -> None:
    with pytest.raises(SignatureRejected, match="malformed"):
        signer.verify("PUT", 7, expires, signature, now=NOW)


@pytest.mark.parametrize(("expires", "signature"), [(None, None), ("", ""), (None, "")])
def test_a_url_with_neither_expiry_nor_signature_is_told_not_signed(
    signer: UrlSigner, expires: str | None, signature: str | None
) -> None:
    with pytest.raises(SignatureRejected, match="not signed"):
        signer.verify("PUT", 7, expires, signature, now=NOW)


def test_an_expiry_of_a_superscript_digit_is_rejected(signer: UrlSigner) -> None:
    with pytest.raises(SignatureRejected):
        signer.verify("PUT", 7, "\u00b2", "abc", now=NOW)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


class Bucket(MemoryBlobStore):
    """A direct store: presigned URLs of its own, numbered so that each is told apart."""

    direct = True

    def __init__(self) -> None:
        super().__init__()
        self.presigned = 0

    def upload_url(self, resource_id: int, ttl_seconds: int) -> str:
        self.presigned += 1
        return f"https://bucket/uploads/{resource_id}?n={self.presigned}"

    def download_url(
        self, name: str, ttl_seconds: int, *, content_type: str, disposition: str
    ) -> str:
        self.presigned += 1
        return f"https://bucket/{name}?n={self.presigned}"


def uploaded(resource_id: int, blob: str | None = None) -> ResourceRecord:
    moment = datetime.fromtimestamp(NOW, UTC)
    return ResourceRecord(
        aggregate_id=uuid4(),
        id=resource_id,
        project_id=4,
        name="a.txt",
        description=None,
        status="uploaded",
        kind="file",
        mime_type="text/plain",
        size_bytes=3,
        link_url=None,
        created_by="u",
        created_at=moment,
        updated_at=moment,
        version=2,
        blob=blob,
        digest=None,
    )


def test_links_made_within_a_second_are_the_links_signed_then(signer: UrlSigner) -> None:
    clock = Clock()
    links = ContentLinks(signer, MemoryBlobStore(), TTL, clock=clock)

    first = links.download(uploaded(7))
    assert first == signer.content_url("GET", 7, now=NOW)
    clock.now = NOW + 0.9
    assert links.download(uploaded(7)) == first
    assert links.upload(uploaded(7)) == signer.content_url("PUT", 7, now=NOW)
    assert links.download(uploaded(8)) == signer.content_url("GET", 8, now=NOW)

    clock.now = NOW + 1
    later = links.download(uploaded(7))
    assert parse_qs(urlsplit(later).query)["expires"] == [str(int(NOW) + 1 + TTL)]


def test_a_buckets_link_is_presigned_again_each_second_and_for_each_object(
    signer: UrlSigner,
) -> None:
    clock, bucket = Clock(), Bucket()
    links = ContentLinks(signer, bucket, TTL, clock=clock)

    first = links.download(uploaded(7, blob="objects/7/a"))
    assert links.download(uploaded(7, blob="objects/7/a")) == first
    assert links.download(uploaded(7, blob="objects/7/b")) != first  # a newer upload
    clock.now = NOW + 1
    assert links.download(uploaded(7, blob="objects/7/a")) != first
    assert bucket.presigned == 3
