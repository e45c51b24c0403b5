"""A real HTTP server on a local port, and clients with keys of two projects."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from api.app import create_app
from api.services import Services

PROJECT = 4
OTHER_PROJECT = 5


@pytest.fixture(scope="session")
def base_url(session_services: Services, http_port: int) -> Iterator[str]:
    app = create_app(session_services.settings, session_services)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=http_port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the HTTP server did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{http_port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def anonymous(base_url: str, services: Services) -> Iterator[httpx.Client]:
    """A client without a key (and a clean database under it)."""
    with httpx.Client(base_url=base_url, timeout=60) as client:
        yield client


def _client_with_key(base_url: str, services: Services, project: int, user: str) -> httpx.Client:
    _, secret = services.keys.create(project, user)
    return httpx.Client(
        base_url=base_url, timeout=60, headers={"Authorization": f"Bearer {secret}"}
    )


@pytest.fixture
def client(base_url: str, services: Services) -> Iterator[httpx.Client]:
    """A client with a key of project 4, acting for user-id."""
    with _client_with_key(base_url, services, PROJECT, "user-id") as client:
        yield client


@pytest.fixture
def stranger(base_url: str, services: Services) -> Iterator[httpx.Client]:
    """A client with a key of another project."""
    with _client_with_key(base_url, services, OTHER_PROJECT, "stranger") as client:
        yield client
