"""A client generated from the served document, driving the whole flow.

`openapi-python-client` generates the client into a temporary directory (offline:
its formatting hooks are turned off), and every call goes through a generated
operation; every answer must parse into the generated types.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from io import BytesIO
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from api.composition.services import Services
from tests.contract.conftest import PROJECT
from tests.feed import caught_up, running, wait_until

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "resource_service_client"
OPERATIONS = {
    "resources": (
        "create_resource",
        "list_resources",
        "get_resource",
        "update_resource",
        "delete_resource",
    ),
    "content": ("upload_content", "download_content"),
    "audit": ("resource_history", "project_activity"),
    "events": ("event_feed", "event_stream", "event_stream_url"),
    "operations": ("health", "ready", "metrics"),
}


@pytest.fixture(scope="module")
def generated(
    document: dict[str, object], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ModuleType]:
    """The generated package, imported."""
    where = tmp_path_factory.mktemp("client")
    (where / "openapi.json").write_text(json.dumps(document))
    (where / "config.json").write_text(json.dumps({"post_hooks": []}))
    result = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(where / "openapi.json"),
            "--config",
            str(where / "config.json"),
            "--meta",
            "none",
            "--output-path",
            str(where / PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning" not in (result.stdout + result.stderr).lower(), result.stdout + result.stderr
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(where))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def operation(package: ModuleType, tag: str, name: str) -> Any:
    return importlib.import_module(f"{package.__name__}.api.{tag}.{name}")


def signed(url: str) -> dict[str, Any]:
    """The expires and signature of a signed content URL, as the operations take them."""
    query = {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}
    return {"expires": int(query["expires"]), "signature": query["signature"]}


def test_every_operation_is_generated(generated: ModuleType) -> None:
    for tag, names in OPERATIONS.items():
        for name in names:
            assert hasattr(operation(generated, tag, name), "sync_detailed"), (tag, name)


def test_the_whole_flow_through_the_generated_client(
    generated: ModuleType, contract_url: str, services: Services
) -> None:
    models = importlib.import_module(f"{PACKAGE}.models")
    types = importlib.import_module(f"{PACKAGE}.types")
    resources = "resources"
    _, key = services.keys.create(PROJECT, "generated-client")
    client = generated.AuthenticatedClient(
        base_url=contract_url, token=key, raise_on_unexpected_status=True
    )
    anonymous = generated.Client(base_url=contract_url, raise_on_unexpected_status=True)
    data = b"bytes from the generated client\n"

    # Register a file.
    created = operation(generated, resources, "create_resource").sync_detailed(
        client=client,
        body=models.CreateResourceBody(
            name="generated.txt", mime_type="text/plain", size_bytes=len(data)
        ),
    )
    assert created.status_code == 201
    assert isinstance(created.parsed, models.ResourceEnvelope)
    resource = created.parsed.data.resource
    assert resource.status == models.ResourceOutStatus.PENDING
    assert isinstance(resource.created_at, datetime)
    assert resource.created_at.tzinfo is not None
    assert created.headers["location"] == f"/api/resources/{resource.id}"

    # Upload the bytes to the signed upload URL, without the key.
    uploaded = operation(generated, "content", "upload_content").sync_detailed(
        resource.id,
        client=anonymous,
        body=types.File(payload=BytesIO(data), mime_type="application/octet-stream"),
        **signed(resource.upload_url),
    )
    assert uploaded.status_code == 204
    assert uploaded.parsed is None
    assert uploaded.content == b""

    # Confirm the upload.
    update = operation(generated, resources, "update_resource")
    confirmed = update.sync_detailed(
        resource.id,
        client=client,
        body=models.UpdateResourceBody(status=models.UpdateResourceBodyStatus.UPLOADED),
    )
    assert confirmed.status_code == 200
    assert isinstance(confirmed.parsed, models.ResourceEnvelope)
    assert confirmed.parsed.data.resource.status == models.ResourceOutStatus.UPLOADED
    assert confirmed.headers["etag"] == '"2"'

    # Rename it, if it is still at version 2; the same condition then fails.
    renamed = update.sync_detailed(
        resource.id,
        client=client,
        body=models.UpdateResourceBody(name="renamed.txt"),
        if_match='"2"',
    )
    assert renamed.status_code == 200
    assert isinstance(renamed.parsed, models.ResourceEnvelope)
    assert renamed.parsed.data.resource.name == "renamed.txt"
    stale = update.sync_detailed(
        resource.id,
        client=client,
        body=models.UpdateResourceBody(name="too-late.txt"),
        if_match='"2"',
    )
    assert stale.status_code == 412
    assert isinstance(stale.parsed, models.ErrorEnvelope)
    assert stale.parsed.error.code == "precondition_failed"
    assert stale.headers["etag"] == '"3"'

    # Its history, oldest first.
    history = operation(generated, "audit", "resource_history").sync_detailed(
        resource.id, client=client
    )
    assert isinstance(history.parsed, models.HistoryEnvelope)
    assert [event.type_ for event in history.parsed.data.events] == [
        models.HistoryEventType.FILEREGISTERED,
        models.HistoryEventType.UPLOADCONFIRMED,
        models.HistoryEventType.RENAMED,
    ]
    assert history.parsed.data.events[2].changes["name"].to == "renamed.txt"
    assert isinstance(history.parsed.data.events[2].occurred_at, datetime)

    # The project's activity, from the asynchronous projection.
    with running(services):
        wait_until(lambda: caught_up(services))
    activity = operation(generated, "audit", "project_activity").sync_detailed(
        client=client, type_=models.ProjectActivityType.RENAMED
    )
    assert isinstance(activity.parsed, models.ActivityEnvelope)
    assert [(event.resource_id, event.version) for event in activity.parsed.data.events] == [
        (resource.id, 3)
    ]

    # The project's event feed, oldest first, read page by page with its cursor.
    feed = operation(generated, "events", "event_feed")
    positions: list[int] = []
    after = 0
    while True:
        page = feed.sync_detailed(client=client, after=after, limit=1)
        assert isinstance(page.parsed, models.FeedEnvelope)
        positions += [event.position for event in page.parsed.data.events]
        assert [event.resource_id for event in page.parsed.data.events] in ([], [resource.id])
        after = page.parsed.cursor.after
        if not page.parsed.cursor.has_more:
            break
    assert len(positions) == 3
    assert positions == sorted(positions)
    stream_url = operation(generated, "events", "event_stream_url").sync_detailed(client=client)
    assert isinstance(stream_url.parsed, models.StreamUrlData)
    assert urlsplit(stream_url.parsed.data.url).path == "/api/events/stream"

    # Download the bytes from the signed URL the resource now carries.
    current = operation(generated, resources, "get_resource").sync_detailed(
        resource.id, client=client
    )
    assert isinstance(current.parsed, models.ResourceEnvelope)
    downloaded = operation(generated, "content", "download_content").sync_detailed(
        resource.id, client=anonymous, **signed(current.parsed.data.resource.url)
    )
    assert downloaded.status_code == 200
    assert isinstance(downloaded.parsed, types.File)
    assert downloaded.parsed.payload.read() == data
    assert downloaded.headers["content-type"].startswith("text/plain")

    # Delete it: gone, and its history ends with the deletion.
    deleted = operation(generated, resources, "delete_resource").sync_detailed(
        resource.id, client=client, if_match=current.headers["etag"]
    )
    assert deleted.status_code == 204
    assert deleted.parsed is None
    gone = operation(generated, resources, "get_resource").sync_detailed(resource.id, client=client)
    assert gone.status_code == 404
    assert isinstance(gone.parsed, models.ErrorEnvelope)
    after = operation(generated, "audit", "resource_history").sync_detailed(
        resource.id, client=client
    )
    assert isinstance(after.parsed, models.HistoryEnvelope)
    assert after.parsed.data.events[-1].type_ == models.HistoryEventType.DELETED
