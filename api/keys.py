"""Project API keys: shown once, stored only as a hash, revocable at once."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime

from eventsourcing.postgres import PostgresDatastore
from msgspec import Struct

KEY_PREFIX = "rsk_"
_KEY_SHAPE = re.compile(r"rsk_[A-Za-z0-9_-]{32,256}")


class Principal(Struct, frozen=True, kw_only=True):
    """Who a request acts for: a user of one project, through one key, in one request."""

    key_id: int
    project_id: int
    user_id: str
    request_id: str | None = None


class KeyListing(Struct, frozen=True, kw_only=True):
    id: int
    project_id: int
    user_id: str
    created_at: datetime
    revoked_at: datetime | None


def secret_digest(secret: str) -> bytes | None:
    """The stored form of a key, or None when the text cannot be a key at all."""
    return _digest(secret) if _KEY_SHAPE.fullmatch(secret) else None


def _digest(secret: str) -> bytes:
    # Keys carry 256 random bits, so a fast hash is enough: there is nothing
    # to brute-force, and a slow hash would cost every request.
    return hashlib.sha256(secret.encode()).digest()


class ApiKeys:
    """The `api_keys` table."""

    def __init__(self, datastore: PostgresDatastore) -> None:
        self._datastore = datastore
        with datastore.transaction(commit=True) as curs:
            curs.execute(
                "CREATE TABLE IF NOT EXISTS api_keys ("
                " id bigserial PRIMARY KEY,"
                " project_id bigint NOT NULL CHECK (project_id >= 1),"
                " user_id text NOT NULL,"
                " secret_sha256 bytea NOT NULL UNIQUE,"
                " created_at timestamptz NOT NULL DEFAULT now(),"
                " revoked_at timestamptz)"
            )

    def create(self, project_id: int, user_id: str) -> tuple[int, str]:
        """A new key's id and secret; the secret is not kept and cannot be shown again."""
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        with self._datastore.transaction(commit=True) as curs:
            row = curs.execute(
                "INSERT INTO api_keys (project_id, user_id, secret_sha256) "
                "VALUES (%s, %s, %s) RETURNING id",
                (project_id, user_id, _digest(secret)),
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

    def authenticate(self, secret: str) -> Principal | None:
        """The principal of a live key, or None for a malformed, unknown or revoked one."""
        if not _KEY_SHAPE.fullmatch(secret):
            return None
        digest = _digest(secret)
        with self._datastore.get_connection() as conn:
            row = conn.execute(
                "SELECT id, project_id, user_id, secret_sha256 FROM api_keys "
                "WHERE secret_sha256 = %s AND revoked_at IS NULL",
                (digest,),
                prepare=True,
            ).fetchone()
        if row is None or not hmac.compare_digest(bytes(row["secret_sha256"]), digest):
            return None
        return Principal(key_id=row["id"], project_id=row["project_id"], user_id=row["user_id"])
