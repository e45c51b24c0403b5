"""Public resource ids from a PostgreSQL sequence."""

from __future__ import annotations

from eventsourcing.postgres import PostgresDatastore

SEQUENCE = "resource_ids"


class PostgresIdAllocator:
    """`nextval` of a sequence: unique across processes, never reused."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        self._datastore = datastore
        with datastore.transaction(commit=True) as curs:
            curs.execute(f"CREATE SEQUENCE IF NOT EXISTS {SEQUENCE} AS bigint MINVALUE 1")

    def next_id(self) -> int:
        with self._datastore.get_connection() as conn:
            row = conn.execute(f"SELECT nextval('{SEQUENCE}') AS id", prepare=True).fetchone()
        assert row is not None
        return int(row["id"])
