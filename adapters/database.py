"""Where the database is: `DATABASE_URL`, or an embedded PostgreSQL under DATA_DIR."""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import eventsourcing.persistence as es
import psycopg
from eventsourcing.postgres import PostgresDatastore
from psycopg.conninfo import conninfo_to_dict

from application.errors import DatabaseUnavailable

_embedded: dict[Path, Any] = {}


def database_url(configured: str | None, data_dir: Path) -> str:
    """The URL to connect to, starting the embedded server when none is configured.

    The embedded server (pgserver) keeps its files under `DATA_DIR/postgres`, so
    data survives restarts; it stops when the last process using it exits.
    """
    if configured:
        return configured
    return embedded_database_url(data_dir / "postgres")


def embedded_database_url(path: Path) -> str:
    if path not in _embedded:
        with warnings.catch_warnings():
            # pgserver's platformdirs warns when XDG_RUNTIME_DIR is unset; harmless.
            warnings.simplefilter("ignore")
            import pgserver  # only needed without DATABASE_URL

            path.mkdir(parents=True, exist_ok=True)
            _keep_embedded_server_lines(path.parent / "pgserver.log")
            _embedded[path] = pgserver.get_server(path, cleanup_mode="stop")
    return str(_embedded[path].get_uri())


def _keep_embedded_server_lines(log: Path) -> None:
    """pgserver narrates every start (initdb, pg_ctl, their whole output) at INFO: into
    DATA_DIR/pgserver.log, not onto the terminal; its warnings and errors still show.
    (PostgreSQL's own log is DATA_DIR/postgres/log.)"""
    logger = logging.getLogger("pgserver")
    if getattr(logger, "kept_in", None) == log:
        return
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    kept = logging.FileHandler(log)
    kept.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    shown = logging.StreamHandler(sys.stderr)
    shown.setLevel(logging.WARNING)
    shown.setFormatter(logging.Formatter("resources: embedded PostgreSQL: %(message)s"))
    logger.addHandler(kept)
    logger.addHandler(shown)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.kept_in = log  # type: ignore[attr-defined]


def eventsourcing_env(url: str, *, pool_size: int = 10) -> dict[str, str]:
    """The event store's configuration, in the environment variables it reads."""
    params = conninfo_to_dict(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(params.get("dbname") or "postgres"),
        "POSTGRES_HOST": str(params.get("host") or "127.0.0.1"),
        "POSTGRES_PORT": str(params.get("port") or "5432"),
        "POSTGRES_USER": str(params.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(params.get("password") or ""),
        "POSTGRES_POOL_SIZE": str(pool_size),
        "POSTGRES_MAX_OVERFLOW": "0",
        # Seconds to wait for a pooled connection: a request answers 503 rather than wait.
        "POSTGRES_CONNECT_TIMEOUT": "2",
        "POSTGRES_PRE_PING": "y",
        # Tables are created by the schema step (adapters.schema), not by constructors.
        "CREATE_TABLE": "n",
    }


def connector(url: str) -> Callable[[], psycopg.Connection[tuple[Any, ...]]]:
    """Opens a new session on the database (a projection runner holds one for its lock)."""
    return lambda: psycopg.connect(url)


def database_answers(datastore: PostgresDatastore) -> None:
    """Raises unless the database answers a trivial query."""
    with datastore.get_connection() as conn:
        conn.execute("SELECT 1")


@contextmanager
def database_errors() -> Iterator[None]:
    """Turns the driver's and the library's errors of an unreachable database into
    DatabaseUnavailable (a 503), whichever layer raised them."""
    try:
        yield
    except (
        psycopg.OperationalError,
        psycopg.InterfaceError,
        es.OperationalError,
        es.InterfaceError,
    ) as error:
        raise DatabaseUnavailable(str(error)[:200]) from error
