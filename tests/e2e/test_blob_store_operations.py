"""The blob store as operators meet it: an outage, a full disk, several hosts, gc."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from api.composition.services import Services
from domain.resource import resource_uuid
from tests.buckets import create_bucket, s3_env, s3_server
from tests.conftest import make_settings
from tests.e2e.flows import error
from tests.e2e.servers import free_port, serving, wait_until_healthy
from tests.storage import cli_env

PROJECT = 4


def keyed(services: Services, base: str) -> httpx.Client:
    _, secret = services.keys.create(PROJECT, "user-id")
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {secret}"}, timeout=30)


def create(client: httpx.Client, **body: Any) -> dict[str, Any]:
    response = client.post("/api/resources", json={"name": "a.txt", **body})
    assert response.status_code == 201, response.text
    resource: dict[str, Any] = response.json()["data"]["resource"]
    return resource


def event_count(services: Services, resource_id: int) -> int:
    return len(services.events.recorder.select_events(resource_uuid(resource_id)))


def test_a_stopped_bucket_is_a_503_within_the_timeout_and_nothing_is_appended(
    services: Services, database_url: str
) -> None:
    port = free_port()
    with s3_server() as bucket:
        create_bucket(bucket.endpoint, "outage")
        env = s3_env(bucket.endpoint, "outage")  # BLOB_STORE_TIMEOUT=2
        outage = Services(make_settings(database_url, Path(tempfile.mkdtemp()), **env))
        try:
            with serving(outage, port) as base, keyed(outage, base) as client:
                resource = create(client, size_bytes=3)
                assert httpx.put(resource["upload_url"], content=b"abc").status_code == 200

                bucket.stop()
                started = time.monotonic()
                response = client.patch(
                    f"/api/resources/{resource['id']}", json={"status": "uploaded"}
                )
                elapsed = time.monotonic() - started

                assert error(response, 503)["code"] == "service_unavailable"
                assert int(response.headers["retry-after"]) > 0
                assert elapsed < 2 * 2 + 1  # BLOB_STORE_TIMEOUT, twice at most (list, copy)
                assert event_count(outage, resource["id"]) == 1
                # What needs only the database still answers.
                assert client.get(f"/api/resources/{resource['id']}").status_code == 200
        finally:
            outage.close()


def test_the_file_store_refuses_uploads_that_could_fill_its_disk(
    services: Services, database_url: str
) -> None:
    port = free_port()
    full = Services(
        make_settings(
            database_url, Path(tempfile.mkdtemp()), PORT=str(port), MIN_FREE_DISK_BYTES=str(2**62)
        )
    )
    try:
        with serving(full, port) as base, keyed(full, base) as client:
            resource = create(client, size_bytes=3)
            response = httpx.put(resource["upload_url"], content=b"abc")
            assert error(response, 507)["code"] == "insufficient_storage"
            confirm = client.patch(f"/api/resources/{resource['id']}", json={"status": "uploaded"})
            assert error(confirm, 409)["code"] == "upload_incomplete"
    finally:
        full.close()


def serve(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "api.cli.commands",
            "serve",
            "--no-projections",
            "--port",
            str(port),
        ],
        env=env,
    )


def test_two_hosts_with_their_own_data_dirs_share_one_database_and_bucket(
    services: Services,
) -> None:
    with s3_server() as bucket:
        create_bucket(bucket.endpoint, "shared")
        ports = [free_port(), free_port()]
        processes = [
            serve(
                {
                    **cli_env(services.settings),
                    "DATA_DIR": tempfile.mkdtemp(prefix="host-"),
                    **s3_env(bucket.endpoint, "shared"),
                },
                port,
            )
            for port in ports
        ]
        first, second = (f"http://127.0.0.1:{port}" for port in ports)
        try:
            wait_until_healthy(first, second)
            with keyed(services, first) as one, keyed(services, second) as other:
                resource = create(one, size_bytes=11)
                assert httpx.put(resource["upload_url"], content=b"hello hosts").status_code == 200

                confirmed = other.patch(
                    f"/api/resources/{resource['id']}", json={"status": "uploaded"}
                )
                assert confirmed.status_code == 200, confirmed.text

                url = one.get(f"/api/resources/{resource['id']}").json()["data"]["resource"]["url"]
                assert httpx.get(url).content == b"hello hosts"
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=20)


def test_blobs_gc_prints_what_it_removed_and_keeps_what_is_needed(
    services: Services, acting: Any
) -> None:
    kept = acting.register(PROJECT, "u", size_bytes=4)
    acting.put_bytes(kept.id, b"kept")
    acting.update(PROJECT, "u", kept.id, confirm_upload=True)
    root = services.settings.data_dir / "blobs"
    planted = [root / "uploads" / "9001" / "00ff.abc", root / "objects" / "9002" / "00ee.abc"]
    for path in planted:
        path.parent.mkdir(parents=True)
        path.write_bytes(b"garbage")
    young = root / "uploads" / "9003" / "00dd.abc"
    young.parent.mkdir(parents=True)
    young.write_bytes(b"a pending upload, younger than the signed URLs' lifetime")
    two_hours_ago = time.time() - 7200
    for path in [*planted, *(root / "objects" / str(kept.id)).iterdir()]:
        os.utime(path, (two_hours_ago, two_hours_ago))

    result = subprocess.run(
        [sys.executable, "-m", "api.cli.commands", "blobs", "gc"],
        env=cli_env(services.settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "removed upload uploads/9001/00ff.abc (resource 9001)" in result.stdout
    assert "removed object objects/9002/00ee.abc (resource 9002)" in result.stdout
    assert "removed 2 objects" in result.stdout
    assert not any(path.exists() for path in planted)
    assert young.exists()
    assert acting.blob_names(kept.id)
