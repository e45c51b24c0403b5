"""A real HTTP server on a local port, and clients with keys of two projects."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from api.composition.services import Services
from tests.e2e.servers import serving

PROJECT = 4
OTHER_PROJECT = 5


@pytest.fixture(scope="session")
def base_url(session_services: Services, http_port: int) -> Iterator[str]:
    with serving(session_services, http_port) as base:
        yield base


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
