"""The anchor: the PATCH (and GETs) a team would write without event sourcing.

Same stack as the service — Litestar, msgspec, psycopg 3 async pool, PostgreSQL —
one `UPDATE ... RETURNING` per PATCH, one `SELECT` per GET. `make bench` runs it
beside the service on the same database and reports ratios against it.

Run: DATABASE_URL=postgresql://... uvicorn bench.crud_baseline:app --port 8099
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import msgspec
from litestar import Litestar, Request, get, patch
from litestar.exceptions import NotAuthorizedException, NotFoundException
from psycopg_pool import AsyncConnectionPool

pool = AsyncConnectionPool(os.environ.get("DATABASE_URL", ""), min_size=4, max_size=8, open=False)
SELECT = (
    "SELECT id, project_id, name, description, status, mime_type, size_bytes, created_by,"
    " created_at, updated_at FROM crud_resources"
)


class ResourcePatch(msgspec.Struct, forbid_unknown_fields=True):
    name: str | msgspec.UnsetType = msgspec.UNSET
    description: str | msgspec.UnsetType = msgspec.UNSET
    status: str | msgspec.UnsetType = msgspec.UNSET


class Resource(msgspec.Struct):
    id: int
    project_id: int
    name: str
    description: str | None
    status: str
    mime_type: str
    size_bytes: int
    created_by: str
    created_at: datetime
    updated_at: datetime


async def startup() -> None:
    await pool.open()
    async with pool.connection() as conn:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS crud_resources (id bigserial PRIMARY KEY,"
            " project_id bigint NOT NULL, name text NOT NULL, description text,"
            " status text NOT NULL, mime_type text NOT NULL, size_bytes bigint NOT NULL,"
            " created_by text NOT NULL, created_at timestamptz NOT NULL DEFAULT now(),"
            " updated_at timestamptz NOT NULL DEFAULT now())"
        )
        row = await (await conn.execute("SELECT count(*) FROM crud_resources")).fetchone()
        if row is not None and row[0] < 1000:
            await conn.execute(
                "INSERT INTO crud_resources (project_id, name, status, mime_type, size_bytes,"
                " created_by) SELECT 4, 'file-' || g || '.docx', 'uploaded',"
                " 'application/octet-stream', 245000, 'user-id' FROM generate_series(1, 1000) g"
            )


def _authorise(request: Request[Any, Any, Any]) -> None:
    if request.headers.get("authorization") != "Bearer bench-key":
        raise NotAuthorizedException()


@patch("/api/resources/{rid:int}")
async def update(request: Request[Any, Any, Any], rid: int, data: ResourcePatch) -> dict[str, Any]:
    _authorise(request)
    sets, args = ["updated_at = now()"], []
    for field in ("name", "description", "status"):
        value = getattr(data, field)
        if value is not msgspec.UNSET:
            sets.append(f"{field} = %s")
            args.append(value)
    async with pool.connection() as conn:
        cursor = await conn.execute(
            f"UPDATE crud_resources SET {', '.join(sets)} WHERE id = %s AND project_id = 4"
            " RETURNING id, project_id, name, description, status, mime_type, size_bytes,"
            " created_by, created_at, updated_at",
            [*args, rid],
        )
        row = await cursor.fetchone()
    if row is None:
        raise NotFoundException()
    return {"data": {"resource": Resource(*row)}}


@get("/api/resources/{rid:int}")
async def get_one(request: Request[Any, Any, Any], rid: int) -> dict[str, Any]:
    _authorise(request)
    async with pool.connection() as conn:
        cursor = await conn.execute(SELECT + " WHERE id = %s AND project_id = 4", [rid])
        row = await cursor.fetchone()
    if row is None:
        raise NotFoundException()
    return {"data": {"resource": Resource(*row)}}


@get("/api/resources")
async def get_page(request: Request[Any, Any, Any]) -> dict[str, Any]:
    _authorise(request)
    async with pool.connection() as conn:
        cursor = await conn.execute(
            SELECT + " WHERE project_id = 4 AND status = 'uploaded' ORDER BY id DESC LIMIT 20"
        )
        rows = await cursor.fetchall()
        total = await (
            await conn.execute(
                "SELECT count(*) FROM crud_resources WHERE project_id = 4 AND status = 'uploaded'"
            )
        ).fetchone()
    return {
        "data": {"resources": [Resource(*row) for row in rows]},
        "pagination": {"page": 1, "per_page": 20, "total": total[0] if total else 0},
    }


app = Litestar([update, get_one, get_page], on_startup=[startup])
