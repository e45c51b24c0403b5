"""Operations over HTTP and the CLI: rebuild under traffic, status, readiness, metrics."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import httpx
import psycopg
import pytest
from msgspec.structs import replace
from psycopg.sql import SQL, Identifier

from adapters.event_store import append_function_name
from api.cli.commands import main
from api.composition.services import Services
from tests.e2e.flows import create
from tests.e2e.servers import free_port, wait_until_healthy
from tests.feed import caught_up, running, wait_until
from tests.seeding import seed
from tests.storage import TEST_SIGNING_KEY, cli_env


def test_clients_see_no_error_while_a_rebuild_swaps(
    client: httpx.Client, services: Services
) -> None:
    seed(services, resources=500, changes_each=9)
    resource = create(client, name="watched")
    path = f"/api/resources/{resource['id']}"
    stop = threading.Event()
    failures: list[str] = []
    answered = [0]

    def read_and_write() -> None:
        number = 0
        while not stop.is_set():
            number += 1
            for response in (
                client.get(path),
                client.get("/api/resources", params={"status": "all", "per_page": 5}),
                client.patch(path, json={"name": f"n{number}"}),
            ):
                answered[0] += 1
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text}")

    traffic = [threading.Thread(target=read_and_write) for _ in range(3)]
    for thread in traffic:
        thread.start()
    try:
        time.sleep(0.2)
        for name in ("resources", "timeline"):
            outcome = services.rebuilder(services.rebuild_targets()[name], batch_size=500).run()
            assert outcome.differences == 0
        time.sleep(0.2)
    finally:
        stop.set()
        for thread in traffic:
            thread.join()
    assert failures == []
    assert answered[0] > 30
    latest = client.get(path)
    assert latest.json()["data"]["resource"]["name"].startswith("n")


def test_ready_when_the_database_answers_and_projections_keep_up(
    anonymous: httpx.Client, services: Services
) -> None:
    with running(services):
        create_resource(services)
        wait_until(lambda: caught_up(services))
        response = anonymous.get("/ready")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert {check["name"] for check in body["checks"]} >= {"database", "projection:activity"}


def test_not_ready_when_the_feed_lags_beyond_its_bound(
    anonymous: httpx.Client, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "settings", replace(services.settings, ready_max_lag_seconds=1))
    create_resource(services)
    time.sleep(1.2)
    response = anonymous.get("/ready")
    assert response.status_code == 503
    failing = [check for check in response.json()["checks"] if not check["ok"]]
    assert [check["name"] for check in failing] == ["projection:activity"]


def test_an_open_transaction_that_holds_the_feed_back_is_named(
    anonymous: httpx.Client,
    services: Services,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A transaction that drew a position and stays open keeps every reader at the gap
    below the later events: /ready and `projections status` say which one, and how old."""
    monkeypatch.setattr(services, "settings", replace(services.settings, ready_max_lag_seconds=1))
    settings = services.settings
    assert settings.database_url is not None
    for name, value in cli_env(settings).items():
        monkeypatch.setenv(name, value)
    table = services.events.projecting_recorder.events_table_name
    append = SQL("SELECT * FROM {0}(true, %s, %s, %s, %s)").format(
        Identifier(append_function_name(table))
    )
    with running(services), psycopg.connect(settings.database_url) as holder:
        create_resource(services)
        wait_until(lambda: caught_up(services))
        holder.execute(append, ([uuid4()], [1], ["held:Event"], [b"{}"]))  # stays open
        create_resource(services)
        time.sleep(1.5)
        response = anonymous.get("/ready")
        assert response.status_code == 503
        (check,) = [c for c in response.json()["checks"] if c["name"] == "projection:activity"]
        assert "held back by a transaction open" in check["detail"]
        assert f"pid {holder.info.backend_pid}" in check["detail"]
        assert main(["projections", "status"]) == 0
        activity = next(
            line for line in capsys.readouterr().out.splitlines() if line.startswith("activity")
        )
        assert f"pid {holder.info.backend_pid}, open" in activity
        holder.rollback()
        wait_until(lambda: caught_up(services))
        assert anonymous.get("/ready").status_code == 200


def create_resource(services: Services) -> None:
    seed(services, resources=1, changes_each=0)


def test_metrics_show_requests_events_and_projections(
    client: httpx.Client, anonymous: httpx.Client, services: Services
) -> None:
    resource = create(client)
    client.patch(f"/api/resources/{resource['id']}", json={"name": "renamed"})
    client.get("/api/resources/999999")
    text = anonymous.get("/metrics").text
    assert "resources_requests_total{" in text
    assert 'path="/api/resources/{resource_id}"' in text
    assert 'status_code="404"' in text
    assert "resources_request_duration_seconds_bucket{" in text
    assert 'resources_events_appended_total{type="Renamed"}' in text
    assert 'resources_projection_position{projection="activity"}' in text
    assert 'resources_projection_lag_events{projection="activity"}' in text
    assert "resources_event_store_head" in text


def test_status_prints_each_projection(
    services: Services, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = services.settings
    assert settings.database_url is not None
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("SIGNING_KEY", TEST_SIGNING_KEY)
    seed(services, resources=3, changes_each=1)
    assert main(["projections", "status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "projection",
        "kind",
        "position",
        "head",
        "lag",
        "lag",
        "s",
        "runner",
        "rebuild",
        "held",
        "by",
    ]
    activity = next(line.split() for line in lines if line.startswith("activity"))
    assert activity[:5] == ["activity", "async", "0", "6", "6"]
    assert activity[-3:] == ["none", "-", "-"]
    resources = next(line.split() for line in lines if line.startswith("resources"))
    assert resources[:5] == ["resources", "inline", "6", "6", "0"]


def test_logs_are_json_lines_with_what_an_operator_needs_and_no_secret(
    services: Services,
) -> None:
    port = free_port()
    env = {**cli_env(services.settings), "LOG_LEVEL": "INFO", "LOG_FORMAT": "json"}
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
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base)
        key_id, secret = services.keys.create(4, "user-id")
        headers = {"Authorization": f"Bearer {secret}", "X-Request-ID": "req-from-the-client"}
        created = httpx.post(
            f"{base}/api/resources", json={"name": "a.txt", "size_bytes": 3}, headers=headers
        ).json()["data"]["resource"]
        signature = parse_qs(urlsplit(created["upload_url"]).query)["signature"][0]
        assert httpx.put(created["upload_url"], content=b"abc").status_code == 204
        patched = httpx.patch(
            f"{base}/api/resources/{created['id']}", json={"name": "b.txt"}, headers=headers
        )
        assert patched.status_code == 200
    finally:
        server.terminate()
        _, logged = server.communicate(timeout=30)
    lines = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
    assert lines, logged
    patch_line = next(
        line for line in lines if line.get("event") == "request" and line["method"] == "PATCH"
    )
    assert patch_line["route"] == "/api/resources/{resource_id}"
    assert patch_line["status"] == 200
    assert patch_line["request_id"] == "req-from-the-client"
    assert patch_line["key_id"] == key_id
    assert patch_line["project_id"] == 4
    assert patch_line["duration_ms"] > 0
    assert patch_line["level"] == "info"
    assert patch_line["timestamp"].endswith("Z")
    put_line = next(line for line in lines if line.get("method") == "PUT")
    assert put_line["status"] == 204
    assert signature not in logged  # signed URLs are never logged whole
    assert secret not in logged
