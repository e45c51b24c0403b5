"""Shared fixtures: a real PostgreSQL for every test that touches storage.

`TEST_DATABASE_URL` names a server to use; without it the suite starts an
embedded PostgreSQL (pgserver) of its own, so `make test` passes on a fresh
machine. Either way the tests work in a database created afresh for the session.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.sql import SQL, Identifier

from api.composition.services import BlockingResources, Services
from api.composition.settings import Settings
from tests.acting import Acting
from tests.storage import TEST_SIGNING_KEY, empty

TEST_DATABASE = "resource_service_test"


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    configured = os.environ.get("TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        server: Any = pgserver.get_server(
            Path(tempfile.mkdtemp(prefix="resources-pg-")), cleanup_mode="delete"
        )
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def database_url(server_url: str) -> str:
    """A database of the session's own, created empty on the server."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(
            SQL("DROP DATABASE IF EXISTS {0} WITH (FORCE)").format(Identifier(TEST_DATABASE))
        )
        conn.execute(SQL("CREATE DATABASE {0}").format(Identifier(TEST_DATABASE)))
    params = conninfo_to_dict(server_url)
    params["dbname"] = TEST_DATABASE
    return make_conninfo("", **params)


def make_settings(database_url: str, data_dir: Path, **overrides: str) -> Settings:
    env = {
        "DATABASE_URL": database_url,
        "DATA_DIR": str(data_dir),
        "SIGNING_KEY": TEST_SIGNING_KEY,
        **overrides,
    }
    return Settings.from_env(env)


@pytest.fixture(scope="session")
def session_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="resources-data-"))


@pytest.fixture(scope="session")
def http_port() -> int:
    """A free port for the session's HTTP server (the e2e tests')."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def session_services(database_url: str, session_dir: Path, http_port: int) -> Iterator[Services]:
    settings = make_settings(
        database_url,
        session_dir,
        PORT=str(http_port),
        MAX_UPLOAD_BYTES=str(64 * 1024 * 1024),
    )
    services = Services(settings, pool_size=24)
    try:
        yield services
    finally:
        services.close()


@pytest.fixture
def services(session_services: Services) -> Services:
    """The session's services over emptied tables and blob store: each test starts from
    nothing (resource ids start at 1 again, so old bytes would be found)."""
    empty(session_services.datastore)
    shutil.rmtree(session_services.settings.data_dir / "blobs", ignore_errors=True)
    return session_services


@pytest.fixture(scope="session")
def session_resources(session_services: Services) -> Iterator[BlockingResources]:
    with session_services.blocking() as resources:
        yield resources


@pytest.fixture
def resources(services: Services, session_resources: BlockingResources) -> BlockingResources:
    """The resource service, as production runs it, called from plain (test) threads."""
    return session_resources


@pytest.fixture
def acting(services: Services, resources: BlockingResources) -> Acting:
    return Acting(services, resources)
