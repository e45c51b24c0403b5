"""A 1 GiB upload and download through the file store, against `cp` on the same disk.

The service runs as `make run` serves it (the file store under DATA_DIR); the
client streams the file from disk in 1 MiB chunks and reads the download to
nowhere. The server's peak RSS is read from /proc (VmHWM) after both.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.common import free_port, server_process, service_command

SIZE = 1024**3
CHUNK = 1024 * 1024
SIGNING_KEY = "bench-signing-key-of-at-least-32-bytes"


@dataclass(frozen=True)
class Transfer:
    upload_mb_s: float
    download_mb_s: float
    cp_mb_s: float
    peak_rss_mib: float


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            yield chunk


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(database_url: str) -> Transfer:
    data_dir = Path(tempfile.mkdtemp(prefix="bench-upload-", dir=os.getcwd()))
    try:
        source = data_dir / "source.bin"
        with source.open("wb") as file:
            block = os.urandom(CHUNK)
            for _ in range(SIZE // CHUNK):
                file.write(block)
            file.flush()
            os.fsync(file.fileno())
        started = time.perf_counter()
        subprocess.run(["cp", str(source), str(data_dir / "copy.bin")], check=True)
        subprocess.run(["sync"], check=True)
        cp_seconds = time.perf_counter() - started
        (data_dir / "copy.bin").unlink()

        port = free_port()
        env = {
            "DATABASE_URL": database_url,
            "DATA_DIR": str(data_dir),
            "SIGNING_KEY": SIGNING_KEY,
            "LOG_LEVEL": "WARNING",
            "MAX_UPLOAD_BYTES": str(2 * SIZE),
            "MIN_FREE_DISK_BYTES": "0",
        }
        with server_process(env, service_command(port), port) as (base, process):
            from api.composition.services import Services
            from api.composition.settings import Settings

            services = Services(Settings.from_env({**env, "PORT": str(port)}), pool_size=1)
            try:
                _, key = services.keys.create(1, "bench")
            finally:
                services.close()
            headers = {"Authorization": f"Bearer {key}"}
            with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
                resource = client.post(
                    "/api/resources", json={"name": "big.bin", "size_bytes": SIZE}
                ).json()["data"]["resource"]
                started = time.perf_counter()
                put = httpx.put(resource["upload_url"], content=_chunks(source), timeout=600)
                upload_seconds = time.perf_counter() - started
                assert put.status_code == 204, put.text
                confirmed = client.patch(
                    f"/api/resources/{resource['id']}", json={"status": "uploaded"}
                ).json()["data"]["resource"]
                started = time.perf_counter()
                received = 0
                with httpx.stream("GET", confirmed["url"], timeout=600) as response:
                    for chunk in response.iter_raw(CHUNK):
                        received += len(chunk)
                download_seconds = time.perf_counter() - started
                assert received == SIZE
            peak = _peak_rss_mib(process.pid)
        mib = SIZE / 1024**2
        return Transfer(mib / upload_seconds, mib / download_seconds, mib / cp_seconds, peak)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
