"""An S3-compatible server on loopback for the tests: moto's, spoken to over HTTP."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.e2e.servers import free_port


def _moto_command() -> str:
    installed = Path(sys.executable).with_name("moto_server")
    return str(installed) if installed.exists() else (shutil.which("moto_server") or "moto_server")


class MotoServer:
    """moto's S3 server on a free loopback port."""

    def __init__(self) -> None:
        port = free_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        self._process = subprocess.Popen(
            [_moto_command(), "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(self.endpoint, timeout=1)
                return
            except httpx.HTTPError:
                assert self._process.poll() is None, "moto_server exited"
                assert time.monotonic() < deadline, "moto_server did not start"
                time.sleep(0.1)

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            self._process.wait(timeout=10)


@contextmanager
def s3_server() -> Iterator[MotoServer]:
    """A fresh moto server, stopped on exit (if the test has not stopped it)."""
    server = MotoServer()
    try:
        yield server
    finally:
        server.stop()


def create_bucket(endpoint: str, bucket: str) -> None:
    response = httpx.put(f"{endpoint}/{bucket}", timeout=10)
    assert response.status_code == 200, response.text


def s3_env(endpoint: str, bucket: str, prefix: str = "blobs") -> dict[str, str]:
    """The configuration a service needs to keep its bytes in the bucket."""
    return {
        "BLOB_STORE_URL": f"s3://{bucket}/{prefix}",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "BLOB_STORE_TIMEOUT": "2",
    }
