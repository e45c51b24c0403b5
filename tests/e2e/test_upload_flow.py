"""The upload flow: create, PUT the bytes to the signed URL, confirm, download."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from api.composition.services import Services
from tests.e2e.flows import confirm, create, error, upload, uploaded

FIFTY_MB = 50 * 1024 * 1024


def chunks(total: int, size: int = 1024 * 1024) -> Iterator[bytes]:
    block = bytes(range(256)) * (size // 256)
    sent = 0
    while sent < total:
        piece = block[: min(size, total - sent)]
        sent += len(piece)
        yield piece


def test_a_50_mb_file_streams_up_and_down_intact(client: httpx.Client) -> None:
    resource = create(client, name="big.bin", size_bytes=FIFTY_MB)
    sent = hashlib.sha256()
    for piece in chunks(FIFTY_MB):
        sent.update(piece)
    response = httpx.put(resource["upload_url"], content=chunks(FIFTY_MB), timeout=120)
    assert response.status_code == 204, response.text

    confirmed = confirm(client, resource)
    assert confirmed.status_code == 200
    assert confirmed.json()["data"]["resource"]["status"] == "uploaded"
    assert confirmed.json()["data"]["resource"]["size_bytes"] == FIFTY_MB

    received = hashlib.sha256()
    total = 0
    with httpx.stream("GET", confirmed.json()["data"]["resource"]["url"], timeout=120) as download:
        assert download.status_code == 200
        for piece in download.iter_bytes():
            received.update(piece)
            total += len(piece)
    assert total == FIFTY_MB
    assert received.hexdigest() == sent.hexdigest()


def test_a_download_has_the_resources_content_type(client: httpx.Client) -> None:
    resource = uploaded(client, b"col1,col2\n", name="data.csv", mime_type="text/csv")
    response = httpx.get(resource["url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv"  # no charset it was not given
    assert response.content == b"col1,col2\n"
    assert response.headers["content-length"] == "10"


def test_a_download_keeps_the_charset_the_resource_was_registered_with(
    client: httpx.Client,
) -> None:
    latin = "café;crème\n".encode("iso-8859-1")
    resource = uploaded(client, latin, name="menu.csv", mime_type="text/csv; charset=iso-8859-1")
    response = httpx.get(resource["url"])
    assert response.status_code == 200
    assert response.headers.get_list("content-type") == ["text/csv; charset=iso-8859-1"]
    assert response.text == "café;crème\n"


def test_confirming_before_the_upload_is_a_409_upload_incomplete(client: httpx.Client) -> None:
    resource = create(client, size_bytes=5)
    body = error(confirm(client, resource), 409)
    assert body["code"] == "upload_incomplete"
    after = client.get(f"/api/resources/{resource['id']}")
    assert after.json()["data"]["resource"]["status"] == "pending"
    assert after.headers["etag"] == '"1"'


def test_confirming_is_a_no_op_once_uploaded(client: httpx.Client) -> None:
    resource = uploaded(client)
    again = confirm(client, resource)
    assert again.status_code == 200
    assert again.headers["etag"] == '"2"'


def test_more_bytes_than_declared_is_a_413(client: httpx.Client) -> None:
    resource = create(client, size_bytes=3)
    assert error(upload(resource, b"four"), 413)["code"] == "payload_too_large"


def test_more_bytes_than_declared_without_a_length_header_is_a_413(client: httpx.Client) -> None:
    resource = create(client, size_bytes=3)
    response = httpx.put(resource["upload_url"], content=iter([b"ab", b"cd"]))
    assert error(response, 413)["code"] == "payload_too_large"
    assert confirm(client, resource).status_code == 409


def test_more_bytes_than_the_server_limit_is_a_413(
    client: httpx.Client, services: Services
) -> None:
    resource = create(client)
    limit = services.settings.max_upload_bytes
    response = httpx.put(resource["upload_url"], content=chunks(limit + 1), timeout=120)
    assert error(response, 413)["code"] == "payload_too_large"


def test_fewer_bytes_than_declared_cannot_be_confirmed(client: httpx.Client) -> None:
    resource = create(client, size_bytes=10)
    assert upload(resource, b"short").status_code == 204
    assert error(confirm(client, resource), 409)["code"] == "size_mismatch"


def test_an_upload_can_be_replaced_before_confirmation(client: httpx.Client) -> None:
    resource = create(client)
    assert upload(resource, b"first").status_code == 204
    assert upload(resource, b"second").status_code == 204
    confirmed = confirm(client, resource).json()["data"]["resource"]
    assert httpx.get(confirmed["url"]).content == b"second"


def test_an_upload_to_a_confirmed_resource_is_a_409(client: httpx.Client) -> None:
    resource = create(client, size_bytes=5)
    assert upload(resource, b"hello").status_code == 204
    assert confirm(client, resource).status_code == 200
    assert error(upload(resource, b"hello"), 409)["code"] == "conflict"


def test_an_upload_to_a_deleted_resource_is_a_409(client: httpx.Client) -> None:
    resource = create(client)
    assert client.delete(f"/api/resources/{resource['id']}").status_code == 204
    assert error(upload(resource, b"hello"), 409)["code"] == "conflict"


def test_an_upload_to_a_link_is_a_409(client: httpx.Client, services: Services) -> None:
    link = create(client, url="https://example.com/x")
    url = services.signer.content_url("PUT", link["id"])
    assert error(httpx.put(url, content=b"x"), 409)["code"] == "conflict"


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    query.update(changes)
    return parts._replace(query=urlencode(query)).geturl()


def test_a_tampered_upload_signature_is_a_403(client: httpx.Client) -> None:
    resource = create(client)
    url = resource["upload_url"]
    signature = parse_qs(urlsplit(url).query)["signature"][0]
    tampered = _with_query(url, signature=("0" if signature[0] != "0" else "1") + signature[1:])
    assert error(httpx.put(tampered, content=b"x"), 403)["code"] == "forbidden"
    later = _with_query(url, expires=str(int(time.time()) + 99999))
    assert error(httpx.put(later, content=b"x"), 403)["code"] == "forbidden"
    other_resource = url.replace(
        f"/resources/{resource['id']}/", f"/resources/{resource['id'] + 1}/"
    )
    assert error(httpx.put(other_resource, content=b"x"), 403)["code"] == "forbidden"


def test_an_unsigned_upload_is_a_403(client: httpx.Client) -> None:
    resource = create(client)
    response = httpx.put(resource["upload_url"].split("?")[0], content=b"x")
    found = error(response, 403)
    assert found["code"] == "forbidden"
    assert "not signed" in found["message"]


def test_a_cut_signature_is_told_malformed_not_missing(client: httpx.Client) -> None:
    resource = create(client)
    cut = resource["upload_url"][:-10]  # a copy and paste that lost the end
    found = error(httpx.put(cut, content=b"x"), 403)
    assert "malformed" in found["message"]
    assert "not signed" not in found["message"]


def test_an_expired_upload_url_is_a_403(client: httpx.Client, services: Services) -> None:
    resource = create(client)
    expired = services.signer.content_url("PUT", resource["id"], now=time.time() - 7200)
    assert error(httpx.put(expired, content=b"x"), 403)["code"] == "forbidden"


def test_an_upload_url_does_not_authorise_a_download(client: httpx.Client) -> None:
    resource = uploaded(client)
    as_download = client.get(f"/api/resources/{resource['id']}").json()["data"]["resource"]
    put_url = as_download["url"]
    assert httpx.put(put_url, content=b"x").status_code == 403


def test_tampered_and_expired_download_urls_are_403(
    client: httpx.Client, services: Services
) -> None:
    resource = uploaded(client)
    tampered = _with_query(resource["url"], signature="f" * 64)
    assert error(httpx.get(tampered), 403)["code"] == "forbidden"
    expired = services.signer.content_url("GET", resource["id"], now=time.time() - 7200)
    assert error(httpx.get(expired), 403)["code"] == "forbidden"


def test_a_deleted_resources_download_url_stops_working(client: httpx.Client) -> None:
    resource = uploaded(client)
    assert client.delete(f"/api/resources/{resource['id']}").status_code == 204
    assert error(httpx.get(resource["url"]), 404)["code"] == "not_found"


def test_a_pending_resource_has_no_download(client: httpx.Client, services: Services) -> None:
    resource = create(client)
    url = services.signer.content_url("GET", resource["id"])
    assert error(httpx.get(url), 404)["code"] == "not_found"
