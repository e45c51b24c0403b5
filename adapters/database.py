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
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.sql import SQL, Literal

from application.errors import DatabaseUnavailable

_embedded: dict[Path, Any] = {}

UNREACHABLE = (psycopg.OperationalError, es.OperationalError, DatabaseUnavailable)
"""What opening the database raises when it cannot be reached (the server down, a
wrong host, port or password): for the command line to say so in one line."""


def malformed(url: str | None) -> str | None:
    """Why `url` is not a PostgreSQL URL (or connection string); None when it is one."""
    if url is None:
        return None
    try:
        conninfo_to_dict(url)
    except psycopg.ProgrammingError as error:
        return str(error).strip()
    return None


def described(url: str | None) -> str:
    """Where a database URL points, without its password, for a message."""
    if not url:
        return "the embedded PostgreSQL"
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "DATABASE_URL"
    where = f"{params.get('host') or 'localhost'}:{params.get('port') or 5432}"
    return f"DATABASE_URL: {params.get('user') or 'postgres'}@{where}/{params.get('dbname') or ''}"


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


class Database:
    """Where each kind of connection goes.

    `url` serves the requests: the server, several hosts of which libpq picks the one
    that takes writes (`target_session_attrs=read-write`), or a transaction pooler.
    `direct` serves what needs a session of its own (the runner's lock and wake-ups,
    rebuilds, the schema step, the library's own pool): `DATABASE_DIRECT_URL` when
    `url` is a pooler (`pooled`), else `url` itself.

    Through a transaction pooler a connection is a different server session from
    one transaction to the next, so it carries no startup options and no prepared
    statements; the request path's timeouts are then its role's defaults in the
    database (`pooled_role_defaults`), which the direct sessions turn off for
    themselves (their statements may rightly take long: a rebuild's index, the
    schema lock's wait).
    """

    def __init__(self, url: str, direct: str | None = None) -> None:
        self.url = url
        self.pooled = direct is not None
        self.direct = _without_request_limits(direct) if direct is not None else url

    def __repr__(self) -> str:
        return f"Database(pooled={self.pooled})"  # never the URLs: they may hold passwords


def _without_request_limits(url: str) -> str:
    """The direct URL, its sessions free of the request path's role defaults."""
    options = str(conninfo_to_dict(url).get("options") or "")
    return make_conninfo(url, options=f"{options} -c statement_timeout=0 -c lock_timeout=0".strip())


REQUEST_DEFAULTS = {"statement_timeout": "1500ms", "lock_timeout": "1s", "TimeZone": "UTC"}
"""What a request's connection runs with: a request never waits long on a lock (a
rebuild's swap) or a statement; times in UTC."""


def pooled_role_defaults(pooled_url: str) -> list[str]:
    """Makes REQUEST_DEFAULTS the defaults of the role that the pooler logs in as, in
    this database (`ALTER ROLE ... IN DATABASE ... SET`), where they differ; returns
    what it changed. A transaction pooler cannot carry them per session, and a
    `SET LOCAL` in every request would cost each statement a transaction of its own.

    The pooler's server sessions opened before the change keep the old values until
    it recycles them (PgBouncer's `server_lifetime`, or its `RECONNECT` command)."""
    with psycopg.connect(pooled_url, autocommit=True, prepare_threshold=None) as conn:
        row = conn.execute(
            "SELECT s.setconfig FROM pg_db_role_setting s"
            " JOIN pg_database d ON d.oid = s.setdatabase AND d.datname = current_database()"
            " JOIN pg_roles r ON r.oid = s.setrole AND r.rolname = current_user"
        ).fetchone()
        present = dict(item.split("=", 1) for item in (row[0] if row else None) or [])
        changed = [name for name, value in REQUEST_DEFAULTS.items() if present.get(name) != value]
        for name in changed:
            conn.execute(
                SQL(
                    "DO $$ BEGIN EXECUTE format('ALTER ROLE %I IN DATABASE %I SET {0} = %L',"
                    " current_user, current_database(), {1}); END $$"
                ).format(SQL(name), Literal(REQUEST_DEFAULTS[name]))
            )
    return changed


def use_for_library(datastore: PostgresDatastore, url: str) -> None:
    """Points the library's pool (opened on first use) at `url` as it is written:
    the library passes on only host, port, database, user and password, which would
    drop `target_session_attrs` from a multi-host URL (and a pooled URL's options)."""
    pool = datastore.pool
    pool.conninfo = url
    assert isinstance(pool.kwargs, dict)
    for name in ("dbname", "host", "port", "user", "password"):
        pool.kwargs.pop(name, None)


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
