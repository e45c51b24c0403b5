"""Idempotency-Key: a retried POST or PATCH returns the first response, does nothing again.

The first request with a key inserts a row for it and keeps it locked while it
runs; a concurrent retry with the same key waits on that lock, then finds the
stored response and returns it. Keys live 24 hours, per project. A key reused
with another method, path or body is refused (422): it names another request.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import msgspec
from litestar import Request, Response
from psycopg import Connection
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from api.errors import ApiError
from api.schemas import ResourceEnvelope

HEADER = "idempotency-key"
TTL_HOURS = 24
_KEY_SHAPE = re.compile(r"[\x21-\x7e]{1,255}")


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: bytes
    headers: dict[str, str]


@dataclass
class Claim:
    """A key being used: `replay` when it was used before, else room for the response."""

    replay: StoredResponse | None
    response: StoredResponse | None = field(default=None)

    def record(self, status_code: int, body: bytes, headers: dict[str, str]) -> None:
        self.response = StoredResponse(status_code, body, headers)


def fingerprint(method: str, path: str, canonical_body: bytes) -> bytes:
    return hashlib.sha256(b"\n".join([method.encode(), path.encode(), canonical_body])).digest()


def valid_key(key: str) -> str:
    if not _KEY_SHAPE.fullmatch(key):
        raise ApiError(400, "Idempotency-Key must be 1 to 255 visible ASCII characters.")
    return key


class IdempotencyKeys:
    """The `idempotency_keys` table, on a pool of its own.

    A claim holds its connection while the request runs; a separate pool means
    claims can never starve the requests they wait for of connections.
    """

    def __init__(self, conninfo: str, *, max_size: int = 8) -> None:
        self._pool = ConnectionPool(
            conninfo,
            connection_class=Connection[DictRow],
            min_size=1,
            max_size=max_size,
            open=True,
            kwargs={"row_factory": dict_row, "autocommit": True},
        )
        with self._pool.connection() as conn:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS idempotency_keys ("
                " project_id bigint NOT NULL,"
                " key text NOT NULL,"
                " fingerprint bytea NOT NULL,"
                " status_code integer,"
                " body bytea,"
                " headers jsonb,"
                " created_at timestamptz NOT NULL DEFAULT now(),"
                " PRIMARY KEY (project_id, key))"
            )

    @contextmanager
    def claim(self, project_id: int, key: str, request_fingerprint: bytes) -> Iterator[Claim]:
        """Claims the key for this request, or hands back the response stored under it.

        The row is committed with the response only if the request succeeds; if it
        fails, the key is free again for a retry.
        """
        with self._pool.connection() as conn, conn.transaction():
            conn.execute(
                "DELETE FROM idempotency_keys WHERE project_id = %s AND key = %s"
                " AND created_at < now() - make_interval(hours => %s)",
                (project_id, key, TTL_HOURS),
            )
            conn.execute(
                "INSERT INTO idempotency_keys (project_id, key, fingerprint) VALUES (%s, %s, %s)"
                " ON CONFLICT DO NOTHING",
                (project_id, key, request_fingerprint),
            )
            row = conn.execute(
                "SELECT fingerprint, status_code, body, headers FROM idempotency_keys"
                " WHERE project_id = %s AND key = %s FOR UPDATE",
                (project_id, key),
            ).fetchone()
            assert row is not None
            if bytes(row["fingerprint"]) != request_fingerprint:
                raise ApiError(
                    422,
                    "This Idempotency-Key was used for a different request; use a new key.",
                    code="validation_error",
                )
            if row["status_code"] is not None:
                yield Claim(
                    replay=StoredResponse(row["status_code"], bytes(row["body"]), row["headers"])
                )
                return
            claim = Claim(replay=None)
            yield claim
            if claim.response is not None:
                conn.execute(
                    "UPDATE idempotency_keys SET status_code = %s, body = %s, headers = %s"
                    " WHERE project_id = %s AND key = %s",
                    (
                        claim.response.status_code,
                        claim.response.body,
                        Jsonb(claim.response.headers),
                        project_id,
                        key,
                    ),
                )

    def close(self) -> None:
        self._pool.close()


def respond_once(
    request: Request[Any, Any, Any],
    keys: IdempotencyKeys,
    project_id: int,
    canonical_body: bytes,
    respond: Callable[[], Response[ResourceEnvelope]],
) -> Response[ResourceEnvelope]:
    """Runs `respond` once per Idempotency-Key; retries get the first response again."""
    key = request.headers.get(HEADER)
    if key is None:
        return respond()
    request_fingerprint = fingerprint(request.method, request.url.path, canonical_body)
    with keys.claim(project_id, valid_key(key), request_fingerprint) as claim:
        if claim.replay is not None:
            return Response(
                msgspec.json.decode(claim.replay.body, type=ResourceEnvelope),
                status_code=claim.replay.status_code,
                headers={**claim.replay.headers, "Idempotent-Replayed": "true"},
            )
        response = respond()
        claim.record(
            response.status_code or 200,
            msgspec.json.encode(response.content),
            {name: value for name, value in response.headers.items() if name in _KEPT_HEADERS},
        )
        return response


_KEPT_HEADERS = {"ETag", "Location"}
