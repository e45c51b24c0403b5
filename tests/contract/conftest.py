"""The suite's services served on a port of the contract tests' own.

The end-to-end tests' `base_url` is a session fixture of tests/e2e/conftest.py;
re-exported here it would be a second fixture of the same name, and a second
server on the same port when both directories run in one session. This server
serves the same app over the same session services (and so the same database)
on another port.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from api.composition.services import Services
from tests.e2e.conftest import OTHER_PROJECT, PROJECT
from tests.e2e.servers import free_port, serving

__all__ = ["OTHER_PROJECT", "PROJECT"]


@pytest.fixture(scope="session")
def contract_url(session_services: Services) -> Iterator[str]:
    with serving(session_services, free_port()) as base:
        yield base


@pytest.fixture(scope="session")
def document(contract_url: str) -> dict[str, object]:
    """The OpenAPI document the server serves."""
    response = httpx.get(f"{contract_url}/schema/openapi.json", timeout=30)
    response.raise_for_status()
    document: dict[str, object] = response.json()
    return document
