"""Emptying the database between tests."""

from __future__ import annotations

import os

from eventsourcing.postgres import PostgresDatastore
from psycopg.conninfo import conninfo_to_dict

from api.composition.settings import Settings

TEST_SIGNING_KEY = "test-signing-key-for-the-suite-32b+"
"""At least 32 bytes, as the service requires."""

WRITTEN_TABLES = (
    "resources_events",
    "resources_snapshots",
    "resources",
    "resource_timeline",
    "activity",
    "row_counts",
)


def library_datastore(url: str, *, pool_size: int, max_overflow: int = 0) -> PostgresDatastore:
    """The event-sourcing library's datastore on the database `url` names."""
    params = conninfo_to_dict(url)
    return PostgresDatastore(
        dbname=str(params["dbname"]),
        host=str(params.get("host") or "127.0.0.1"),
        port=str(params.get("port") or 5432),
        user=str(params.get("user") or "postgres"),
        password=str(params.get("password") or ""),
        pool_size=pool_size,
        max_overflow=max_overflow,
    )


def empty(datastore: PostgresDatastore, *, keys: bool = True) -> None:
    """Removes every event and read-model row (and API keys, unless told not to)."""
    tables = (*WRITTEN_TABLES, "api_keys", "idempotency_outcomes") if keys else WRITTEN_TABLES
    with datastore.transaction(commit=True) as curs:
        curs.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY")
        curs.execute("ALTER SEQUENCE resource_ids RESTART")
        curs.execute("DELETE FROM projection_rebuilds")
        for table in ("resources", "resource_timeline", "activity"):
            curs.execute(f"DROP TABLE IF EXISTS {table}__rebuild")
        # The library keeps a migration marker row in tracking tables: keep it.
        curs.execute("DELETE FROM activity_tracking WHERE application_name <> '__migration__'")


def cli_env(settings: Settings) -> dict[str, str]:
    """The environment a `resources` process needs to use the test database."""
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url or "",
        "DATA_DIR": str(settings.data_dir),
        "SIGNING_KEY": TEST_SIGNING_KEY,
        "LOG_LEVEL": "WARNING",
    }
