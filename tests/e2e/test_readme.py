"""What a reader runs or opens: the README's shell blocks, as written, against a
service started as `make run` starts it; and the docs page, without the internet."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from api.cli.commands import FIRST_PROJECT, FIRST_USER
from api.composition.services import Services
from api.http.errors import CODES
from tests.buckets import create_bucket, s3_env, s3_server
from tests.e2e.servers import free_port, wait_until_healthy
from tests.feed import caught_up, running, wait_until
from tests.storage import cli_env

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
API_REFERENCE = ROOT / "docs" / "api.md"
AUDIT = ROOT / "docs" / "audit.md"
"""The walk-through's sequel: audit, time travel, the event feed, safe writes."""


def section(text: str, heading: str) -> str:
    """The text of the `## ` section whose heading starts with `heading`."""
    start = next(
        match.start()
        for match in re.finditer(r"^## .*$", text, re.M)
        if match[0].startswith(heading)
    )
    following = re.search(r"^## ", text[start + 3 :], re.M)
    return text[start : start + 3 + following.start()] if following else text[start:]


def shell_blocks(text: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```$", text, re.M | re.S)


def runnable_blocks() -> list[str]:
    """The ```sh blocks that run as written, in order, against a new service: the
    README's walk-through (the resource, then the event feed), then docs/audit.md's."""
    walk_through = section(README.read_text(), "## Walk-through with curl")
    return shell_blocks(walk_through) + shell_blocks(AUDIT.read_text())


@contextmanager
def started_service(
    services: Services, workdir: Path, **settings: str
) -> Iterator[tuple[str, str]]:
    """`resources serve` on a free port, over the test database emptied of keys (as a
    first start finds it), with `settings` on top of the test's; its base URL and the
    first key it printed."""
    port = free_port()
    env = {
        name: value
        for name, value in cli_env(services.settings).items()
        if name not in ("HOST", "PORT", "PUBLIC_URL")  # --port alone must name the server
    } | settings
    output = workdir / "serve.out"
    errors = workdir / "serve.err"
    with output.open("w") as stdout, errors.open("w") as stderr:
        server = subprocess.Popen(
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
            stdout=stdout,
            stderr=stderr,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base)
        lines = output.read_text().splitlines()
        assert lines[:1] == [
            f"First start: an API key for project {FIRST_PROJECT}, user {FIRST_USER}:"
        ], errors.read_text()
        assert errors.read_text().startswith(
            f"resources: data in {services.settings.data_dir} (DATABASE_URL)\n"
            f"resources: serving {base} (docs: {base}/schema/swagger);"
            f" files in {env.get('BLOB_STORE_URL', services.settings.blob_store_url)}\n"
        )
        yield base, lines[1]
    finally:
        server.terminate()
        server.wait(timeout=20)


def run_block(block: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + block],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_readme_names_its_runnable_blocks() -> None:
    blocks = runnable_blocks()
    assert len(blocks) >= 3
    assert all(block.startswith(': "${KEY:?') for block in blocks)
    assert "SPEC.md" not in README.read_text()


@pytest.mark.parametrize("store", ["file", "s3"])
def test_the_walk_through_and_audit_blocks_run_as_written(
    services: Services, tmp_path: Path, store: str
) -> None:
    """As written, with the default file store and with an S3 bucket (moto_server,
    configured as docs/operations.md says for MinIO)."""
    if shutil.which("curl") is None:
        pytest.fail("the README's blocks need curl (apt-get install -y curl)")
    blocks = runnable_blocks()
    with ExitStack() as stack:
        bucket: dict[str, str] = {}
        if store == "s3":
            moto = stack.enter_context(s3_server())
            create_bucket(moto.endpoint, "walk-through")
            bucket = s3_env(moto.endpoint, "walk-through")
        outputs = run_all(blocks, services, tmp_path, bucket)

    walk_through, audit, safe_writes = outputs[0], outputs[2], outputs[-1]
    assert walk_through.splitlines()[-1] == "hello world"
    upload_url = re.search(r'"upload_url":"([^"]+)"', walk_through)
    assert upload_url is not None
    if store == "s3":  # the bucket's presigned URL: the bytes never pass the service
        assert upload_url[1].startswith(f"{bucket['AWS_ENDPOINT_URL']}/walk-through/blobs/")
    else:  # the service's own content URL, on its port
        assert "/api/resources/1/content?" in upload_url[1]
    assert f'"created_by":"{FIRST_USER}"' in walk_through
    check_audit_outputs(outputs, audit, safe_writes)
    assert (tmp_path / "copy.txt").read_bytes() == b"hello world"


def run_all(
    blocks: list[str], services: Services, tmp_path: Path, settings: dict[str, str]
) -> list[str]:
    """Each block in one shell after the other, as a reader pastes them; their outputs."""
    with started_service(services, tmp_path, **settings) as (base, key), running(services):
        # What the README tells a reader to set: nothing else of this process.
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "KEY": key, "API": base}
        outputs = []
        for number, block in enumerate(blocks, start=1):
            # The activity feed is an asynchronous projection; a reader pastes the
            # next block seconds later, by when it has long caught up.
            wait_until(lambda: caught_up(services))
            result = run_block(block, env, tmp_path)
            assert result.returncode == 0, (
                f"README block {number} failed ({result.returncode}):\n{block}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
            outputs.append(result.stdout)
    return outputs


def check_audit_outputs(outputs: list[str], audit: str, safe_writes: str) -> None:
    """The feed block and docs/audit.md's blocks printed what they say they print."""
    history = audit.splitlines()[0]
    assert re.findall(r'"type":"(\w+)"', history) == [
        "FileRegistered",
        "UploadConfirmed",
        "Renamed",
    ]
    activity = audit.splitlines()[-1]
    assert '"type":"Renamed"' in activity
    assert '"total":1' in activity
    feed, stream = outputs[1].split("\n", 1)
    assert [(e["position"], e["type"]) for e in json.loads(feed)["data"]["events"]] == [
        (1, "FileRegistered"),
        (2, "UploadConfirmed"),
    ]
    assert stream.startswith("retry: ")
    assert re.findall(r"^id: (\d+)\nevent: (\w+)$", stream, re.M) == [("3", "Renamed")]
    assert "412" in safe_writes.splitlines()
    assert "idempotent-replayed: true" in safe_writes.lower()
    assert "404" in safe_writes.splitlines()
    assert '"type":"Deleted"' in safe_writes.splitlines()[-1]


def test_a_block_without_key_stops_at_once_and_says_what_to_set(tmp_path: Path) -> None:
    result = run_block(runnable_blocks()[0], {"PATH": os.environ["PATH"]}, tmp_path)
    assert result.returncode != 0
    assert "export KEY=rsk_" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_docs_page_needs_nothing_but_the_server(anonymous: httpx.Client) -> None:
    page = anonymous.get("/schema/swagger")
    assert page.status_code == 200
    own = urlsplit(str(anonymous.base_url)).netloc
    hosts = {urlsplit(url).netloc for url in re.findall(r"https?://[^\s\"'<>)]+", page.text)}
    assert hosts <= {own}, f"the docs page loads from {hosts - {own}}"
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    assert {Path(urlsplit(asset).path).suffix for asset in assets} >= {".js", ".css"}
    for asset in assets:
        response = anonymous.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 100, asset
        assert response.headers["content-type"].split(";")[0] in {
            "text/javascript",
            "text/css",
            "image/png",
        }
    assert anonymous.get("/schema/swagger-ui/core.py").status_code == 404


def test_the_api_reference_names_every_operation_header_and_error_code(
    anonymous: httpx.Client,
) -> None:
    text = API_REFERENCE.read_text()
    document = anonymous.get("/schema/openapi.json").json()
    for path, operations in document["paths"].items():
        for method in operations:
            assert f"`{method.upper()} {path.replace('{resource_id}', '{id}')}`" in text
    for code in (*CODES.values(), "size_mismatch", "upload_incomplete"):
        assert f"`{code}`" in text, code
    for header in (
        "If-Match",
        "Idempotency-Key",
        "X-Request-ID",
        "ETag",
        "Location",
        "Idempotent-Replayed",
        "Content-Disposition",
        "Retry-After",
        "WWW-Authenticate",
        "Session-Token",
    ):
        assert f"`{header}" in text, header
    assert "docs/api.md" in README.read_text().split("## Two commands")[0]


def anchors(text: str) -> set[str]:
    """The anchors GitHub gives a page's headings."""
    return {
        re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        for heading in re.findall(r"^#+ (.+)$", text, re.M)
    }


def test_the_readme_is_a_front_door_and_every_link_between_the_docs_lands() -> None:
    assert len(README.read_text().splitlines()) <= 200
    pages = [README, *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        text = re.sub(r"^```.*?^```$", "", page.read_text(), flags=re.M | re.S)
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # another site
            path, _, anchor = target.partition("#")
            landing = (page.parent / path).resolve() if path else page
            assert landing.exists(), f"{page.name}: {target}"
            if anchor and landing.suffix == ".md":
                assert anchor in anchors(landing.read_text()), f"{page.name}: {target}"
