"""One contract for both blob stores, the file system's and S3's (moto on loopback).

Every test runs against a service keeping its bytes in each store: a client PUTs
with a plain HTTP client to the upload_url it was given, confirms, downloads.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from api.composition.services import BlockingResources, Services
from application.ports import BlobItem
from application.service import ResourceService
from domain.resource import resource_uuid
from tests.buckets import create_bucket, s3_env, s3_server
from tests.conftest import make_settings
from tests.e2e.flows import error
from tests.e2e.servers import free_port, serving

PROJECT = 4
OBJECT_NAME = re.compile(r"(uploads|objects)/\d+/[0-9a-f]+(\.[0-9a-f]{64})?")


@dataclass
class Stack:
    kind: str
    base: str
    services: Services
    resources: BlockingResources
    endpoint: str | None

    def names(self) -> list[str]:
        async def names() -> list[str]:
            return [item.name async for item in self.services.blobs.listing()]

        return self.resources.call(names)

    def clear(self) -> None:
        async def clear() -> None:
            async for item in self.services.blobs.listing():
                await self.services.blobs.remove(item.name)

        self.resources.call(clear)

    def collect(self, older_than: timedelta) -> list[BlobItem]:
        async def collect(service: ResourceService) -> list[BlobItem]:
            return [
                item
                async for item in service.collect_garbage(older_than=older_than, per_second=1000)
            ]

        return self.resources.call(collect, self.resources.service)

    def events(self, resource_id: int) -> list[str]:
        stored = self.services.events.recorder.select_events(resource_uuid(resource_id))
        return [event.topic.rsplit(".", 1)[-1] for event in stored]


@pytest.fixture(scope="module")
def bucket_endpoint() -> Iterator[str]:
    with s3_server() as server:
        yield server.endpoint


@pytest.fixture(scope="module", params=["file", "s3"])
def stack(
    request: pytest.FixtureRequest, database_url: str, bucket_endpoint: str
) -> Iterator[Stack]:
    kind: str = request.param
    port = free_port()
    overrides = {"PORT": str(port), "MAX_UPLOAD_BYTES": str(1024 * 1024)}
    endpoint = None
    if kind == "s3":
        endpoint = bucket_endpoint
        create_bucket(endpoint, "contract")
        overrides |= s3_env(endpoint, "contract")
    data_dir = Path(tempfile.mkdtemp(prefix=f"resources-{kind}-"))
    services = Services(make_settings(database_url, data_dir, **overrides), pool_size=4)
    try:
        with services.blocking() as resources, serving(services, port) as base:
            yield Stack(kind, base, services, resources, endpoint)
    finally:
        services.close()


@pytest.fixture
def store(stack: Stack, services: Services) -> Stack:
    """The stack over an emptied database (the `services` fixture) and store."""
    stack.clear()
    return stack


@pytest.fixture
def client(store: Stack) -> Iterator[httpx.Client]:
    _, secret = store.services.keys.create(PROJECT, "user-id")
    headers = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=store.base, headers=headers, timeout=30) as client:
        yield client


def create(client: httpx.Client, **body: Any) -> dict[str, Any]:
    response = client.post("/api/resources", json={"name": "report.pdf", **body})
    assert response.status_code == 201, response.text
    resource: dict[str, Any] = response.json()["data"]["resource"]
    return resource


def put(url: str, content: Any) -> httpx.Response:
    return httpx.put(url, content=content, timeout=30)


def confirm(client: httpx.Client, resource_id: int) -> httpx.Response:
    return client.patch(f"/api/resources/{resource_id}", json={"status": "uploaded"})


def download(url: str) -> httpx.Response:
    return httpx.get(url, follow_redirects=True, timeout=30)


def accepted(response: httpx.Response) -> bool:
    """The service answers an upload with 204; a bucket with 200."""
    return response.status_code in (200, 204)


def test_bytes_put_by_a_plain_client_download_exactly_once_confirmed(
    store: Stack, client: httpx.Client
) -> None:
    resource = create(client, size_bytes=11, mime_type="text/plain")
    assert accepted(put(resource["upload_url"], b"hello world"))

    response = confirm(client, resource["id"])

    assert response.status_code == 200, response.text
    confirmed = response.json()["data"]["resource"]
    assert (confirmed["status"], confirmed["size_bytes"]) == ("uploaded", 11)
    got = download(confirmed["url"])
    assert got.status_code == 200
    assert got.content == b"hello world"
    assert got.headers["etag"]
    # Both stores answer with the resource's type and name (S3: presigned overrides).
    assert got.headers["content-type"].split(";")[0] == "text/plain"
    assert got.headers["content-disposition"] == (
        "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
    )
    if store.kind == "s3":
        assert store.endpoint is not None
        assert resource["upload_url"].startswith(store.endpoint)  # straight to the bucket
        assert confirmed["url"].startswith(store.endpoint)
    else:
        digest = hashlib.sha256(b"hello world").hexdigest()
        assert got.headers["etag"] == f'"sha256:{digest}"'
    assert store.events(resource["id"]) == ["FileRegistered", "UploadConfirmed"]


def test_a_size_other_than_declared_is_a_size_mismatch(store: Stack, client: httpx.Client) -> None:
    resource = create(client, size_bytes=10)
    assert accepted(put(resource["upload_url"], b"short"))

    assert error(confirm(client, resource["id"]), 409)["code"] == "size_mismatch"
    assert store.events(resource["id"]) == ["FileRegistered"]


def test_confirming_without_an_upload_is_an_incomplete_upload(
    store: Stack, client: httpx.Client
) -> None:
    resource = create(client, size_bytes=10)

    assert error(confirm(client, resource["id"]), 409)["code"] == "upload_incomplete"
    assert store.events(resource["id"]) == ["FileRegistered"]


def test_bytes_sent_to_an_old_upload_url_never_reach_a_download(
    store: Stack, client: httpx.Client
) -> None:
    resource = create(client, size_bytes=5)
    assert accepted(put(resource["upload_url"], b"first"))
    confirmed = confirm(client, resource["id"]).json()["data"]["resource"]

    late = put(resource["upload_url"], b"later")

    if store.kind == "file":
        assert error(late, 409)["code"] == "conflict"
    assert download(confirmed["url"]).content == b"first"
    again = client.get(f"/api/resources/{resource['id']}").json()["data"]["resource"]
    assert download(again["url"]).content == b"first"


def test_concurrent_uploads_leave_one_whole_upload_to_confirm(
    store: Stack, client: httpx.Client
) -> None:
    resource = create(client)
    other_url = client.get(f"/api/resources/{resource['id']}").json()["data"]["resource"][
        "upload_url"
    ]
    started = threading.Event()
    statuses: list[int] = []

    def slowly() -> Iterator[bytes]:
        yield b"A" * 1000
        started.set()
        time.sleep(1.0)
        yield b"A" * 1000

    def slow_upload() -> None:
        statuses.append(put(resource["upload_url"], slowly()).status_code)

    thread = threading.Thread(target=slow_upload)
    thread.start()
    assert started.wait(10)
    statuses.append(put(other_url, b"B" * 2000).status_code)
    thread.join(timeout=30)

    if store.kind == "file":  # one upload of a resource at a time
        assert sorted(statuses) == [204, 409]
    else:
        assert statuses == [200, 200]
    confirmed = confirm(client, resource["id"])
    assert confirmed.status_code == 200, confirmed.text
    content = download(confirmed.json()["data"]["resource"]["url"]).content
    assert content in (b"A" * 2000, b"B" * 2000)


def test_upload_urls_expire(store: Stack, client: httpx.Client) -> None:
    resource = create(client)
    ttl = store.services.settings.signed_url_ttl
    if store.kind == "s3":
        query = parse_qs(urlsplit(resource["upload_url"]).query)
        assert query["X-Amz-Expires"] == [str(ttl)]
        return
    expired = store.services.signer.content_url("PUT", resource["id"], now=time.time() - ttl - 1)
    assert error(put(expired, b"abc"), 403)["code"] == "forbidden"


def test_delete_removes_the_bytes(store: Stack, client: httpx.Client) -> None:
    resource = create(client, size_bytes=3)
    assert accepted(put(resource["upload_url"], b"abc"))
    assert confirm(client, resource["id"]).status_code == 200
    assert store.names()

    assert client.delete(f"/api/resources/{resource['id']}").status_code == 204

    assert store.names() == []


def test_gc_removes_garbage_but_nothing_young_or_confirmed(
    store: Stack, client: httpx.Client
) -> None:
    kept = create(client, size_bytes=4)
    assert accepted(put(kept["upload_url"], b"kept"))
    assert confirm(client, kept["id"]).status_code == 200
    never_confirmed = create(client, size_bytes=5)
    assert accepted(put(never_confirmed["upload_url"], b"stale"))
    deleted = create(client, size_bytes=4)
    assert accepted(put(deleted["upload_url"], b"gone"))
    assert confirm(client, deleted["id"]).status_code == 200
    left_behind = store.names()
    # A delete whose removal of the bytes never happened (the process died):
    with store.services.datastore.transaction(commit=True) as curs:
        curs.execute("DELETE FROM resources WHERE id = %s", (deleted["id"],))
    assert len(left_behind) == 3

    assert store.collect(older_than=timedelta(hours=1)) == []  # all younger than that

    removed = store.collect(older_than=timedelta(0))
    assert sorted(item.resource_id for item in removed) == [never_confirmed["id"], deleted["id"]]
    (remaining,) = store.names()
    assert remaining.startswith(f"objects/{kept['id']}/")
    assert (
        download(
            client.get(f"/api/resources/{kept['id']}").json()["data"]["resource"]["url"]
        ).content
        == b"kept"
    )


def test_a_name_like_a_path_never_reaches_an_object_name(
    store: Stack, client: httpx.Client
) -> None:
    resource = create(client, name="../../x", size_bytes=3)
    assert accepted(put(resource["upload_url"], b"abc"))
    confirmed = confirm(client, resource["id"]).json()["data"]["resource"]

    assert all(OBJECT_NAME.fullmatch(name) for name in store.names()), store.names()
    got = download(confirmed["url"])
    assert got.content == b"abc"
    assert got.headers["content-disposition"] == (
        "attachment; filename=\"../../x\"; filename*=UTF-8''..%2F..%2Fx"
    )


def test_an_upload_still_streaming_when_the_confirmation_lands_changes_nothing(
    store: Stack, client: httpx.Client
) -> None:
    resource = create(client)
    assert accepted(put(resource["upload_url"], b"first"))
    streaming = threading.Event()
    late: list[httpx.Response] = []

    def slowly() -> Iterator[bytes]:
        yield b"late "
        streaming.set()
        time.sleep(1.0)
        yield b"bytes"

    thread = threading.Thread(target=lambda: late.append(put(resource["upload_url"], slowly())))
    thread.start()
    assert streaming.wait(10)
    confirmed = confirm(client, resource["id"])
    thread.join(timeout=30)

    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["data"]["resource"]["size_bytes"] == 5
    if store.kind == "file":
        assert error(late[0], 409)["code"] == "conflict"
    url = client.get(f"/api/resources/{resource['id']}").json()["data"]["resource"]["url"]
    assert download(url).content == b"first"


def test_a_renamed_file_downloads_under_its_new_name_and_type(
    store: Stack, client: httpx.Client
) -> None:
    resource = create(client, name="draft.txt", size_bytes=2, mime_type="text/plain")
    assert accepted(put(resource["upload_url"], b"hi"))
    confirm(client, resource["id"])
    renamed = client.patch(f"/api/resources/{resource['id']}", json={"name": "Fähre €.md"}).json()[
        "data"
    ]["resource"]

    got = download(renamed["url"])

    assert got.content == b"hi"
    assert got.headers["content-type"].split(";")[0] == "text/plain"
    assert got.headers["content-disposition"] == (
        "attachment; filename=\"F_hre _.md\"; filename*=UTF-8''F%C3%A4hre%20%E2%82%AC.md"
    )
