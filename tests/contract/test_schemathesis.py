"""Schemathesis against the served document: every check, every phase, no warning.

Run as schemathesis's own command line (`schemathesis run`), which runs the
examples, coverage, fuzzing and stateful phases, and reports its warnings (a
document at odds with the server shows as `validation_mismatch`, `missing_test_data`,
...); `warnings.fail-on` in tests/contract/schemathesis.toml makes any of them fail
the run. The test data a schema cannot hold comes from tests/contract/hooks.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

from api.composition.services import Services
from tests.contract.conftest import OTHER_PROJECT, PROJECT
from tests.feed import running

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
MIN_CASES = 1000
SECONDS = 180


def an_uploaded_file(base_url: str, key: str) -> int:
    """Registers, uploads and confirms a file; its id."""
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}) as client:
        created = client.post(
            "/api/resources", json={"name": "download.txt", "mime_type": "text/plain"}
        )
        resource = created.json()["data"]["resource"]
        signed = parse_qs(urlsplit(resource["upload_url"]).query)
        uploaded = client.put(
            f"/api/resources/{resource['id']}/content",
            params={name: values[0] for name, values in signed.items()},
            content=b"hello world",
            headers={"Authorization": ""},
        )
        assert uploaded.status_code == 204, uploaded.text
        confirmed = client.patch(f"/api/resources/{resource['id']}", json={"status": "uploaded"})
        assert confirmed.status_code == 200, confirmed.text
        return int(resource["id"])


def a_kept_resource(base_url: str, key: str) -> int:
    """A resource of the run's project with a few versions (tests/contract/hooks.py
    says what the run does with it); its id."""
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}) as client:
        created = client.post(
            "/api/resources", json={"name": "read me", "url": "https://a.example"}
        )
        assert created.status_code == 201, created.text
        resource_id = int(created.json()["data"]["resource"]["id"])
        for name in ("read me again", "read me once more"):
            renamed = client.patch(f"/api/resources/{resource_id}", json={"name": name})
            assert renamed.status_code == 200, renamed.text
        return resource_id


def test_schemathesis_finds_no_failure_and_no_warning(
    contract_url: str, services: Services, tmp_path: Path
) -> None:
    _, key = services.keys.create(PROJECT, "schemathesis")
    _, other_key = services.keys.create(OTHER_PROJECT, "download-owner")
    report = tmp_path / "report.json"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SCHEMATHESIS_HOOKS": "tests.contract.hooks",
        "CONTRACT_API_KEY": key,
        "CONTRACT_PROJECT_ID": str(PROJECT),
        "CONTRACT_SIGNING_KEY": services.settings.signing_key.hex(),
        "CONTRACT_DOWNLOAD_ID": str(an_uploaded_file(contract_url, other_key)),
        "CONTRACT_RESOURCE_ID": str(a_kept_resource(contract_url, key)),
        "CONTRACT_PATCHED_ID": str(a_kept_resource(contract_url, key)),
        "CONTRACT_URL": contract_url,
    }
    started = time.monotonic()
    # As `make run` serves it, with the projection runner: /ready then answers 503
    # only if the feed really falls behind, not because nothing projects it.
    with running(services):
        result = subprocess.run(
            [
                str(SCHEMATHESIS),
                "--config-file",
                str(CONFIG),
                "run",
                f"{contract_url}/schema/openapi.json",
                "--report",
                "json",
                "--report-json-path",
                str(report),
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=SECONDS * 2,
            check=False,
        )
    elapsed = time.monotonic() - started
    output = result.stdout[-30_000:] + result.stderr[-5_000:]
    assert result.returncode == 0, output
    run = json.loads(report.read_text())
    assert run["failures"] == [], output
    assert not any(run["warnings"].values()), run["warnings"]
    assert run["test_cases"]["generated"] >= MIN_CASES, run["test_cases"]
    assert run["test_cases"]["errored"] == 0, output
    for phase in ("coverage", "fuzzing", "stateful"):
        assert run["phases"][phase]["status"] == "success", run["phases"]
    assert elapsed < SECONDS, f"schemathesis took {elapsed:.0f} s"
