"""The `api_keys` table: create, list and revoke project keys (the command line's).

Requests find their key through the resource store's one key lookup
(`adapters.resource_store.live_key`); only a digest of each key is stored.
"""

from __future__ import annotations

from datetime import datetime

from eventsourcing.postgres import PostgresDatastore
from msgspec import Struct
from psycopg.sql import SQL, Composed

from application.access import key_digest, new_key


class KeyListing(Struct, frozen=True, kw_only=True):
    id: int
    project_id: int
    user_id: str
    created_at: datetime
    revoked_at: datetime | None


def keys_table() -> list[Composed]:
    return [
        SQL(
            "CREATE TABLE IF NOT EXISTS api_keys ("
            " id bigserial PRIMARY KEY,"
            " project_id bigint NOT NULL CHECK (project_id >= 1),"
            " user_id text NOT NULL,"
            " secret_sha256 bytea NOT NULL UNIQUE,"
            " created_at timestamptz NOT NULL DEFAULT now(),"
            " revoked_at timestamptz)"
        ).format()
    ]


class ApiKeys:
    def __init__(self, datastore: PostgresDatastore) -> None:
        self._datastore = datastore

    def create(self, project_id: int, user_id: str) -> tuple[int, str]:
        """A new key's id and secret; the secret is not kept and cannot be shown again."""
        secret = new_key()
        digest = key_digest(secret)
        assert digest is not None
        with self._datastore.transaction(commit=True) as curs:
            row = curs.execute(
                "INSERT INTO api_keys (project_id, user_id, secret_sha256) "
                "VALUES (%s, %s, %s) RETURNING id",
                (project_id, user_id, digest),
            ).fetchone()
        assert row is not None
        return int(row["id"]), secret

    def listing(self) -> list[KeyListing]:
        with self._datastore.get_connection() as conn:
            rows = conn.execute(
                "SELECT id, project_id, user_id, created_at, revoked_at FROM api_keys ORDER BY id"
            ).fetchall()
        return [KeyListing(**row) for row in rows]

    def revoke(self, key_id: int) -> bool:
        """Revokes the key; False when there is no such key."""
        with self._datastore.transaction(commit=True) as curs:
            curs.execute(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = %s",
                (key_id,),
            )
            return curs.rowcount == 1

    def count(self) -> int:
        with self._datastore.get_connection() as conn:
            row = conn.execute("SELECT count(*) AS n FROM api_keys").fetchone()
        return 0 if row is None else int(row["n"])
