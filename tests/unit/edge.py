"""The HTTP edge's parsers driven without a server: a request is an ASGI scope, and a
refusal is read as the error envelope `api.http.errors.handle` makes of it, the one a
client gets."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import msgspec
from litestar import Request
from litestar.types import Scope

from adapters.caching_store import CachingResourceStore
from api.http.auth import caller
from api.http.bodies import check_body
from api.http.controllers.resources import (
    delete_command,
    register_command,
    require_json,
    update_command,
    version_preconditions,
)
from api.http.errors import handle
from api.http.schemas import CreateResourceBody, UpdateResourceBody
from application.ports import Outcome
from application.service import ResourceService
from tests.fakes import FakeResourceStore, MemoryBlobStore


@dataclass(frozen=True)
class Answer:
    """What a client reads of an error response."""

    status: int
    code: str
    message: str
    fields: list[str | None]
    """The `field` of each of `details`, in order."""
    headers: dict[str, str]


def request(
    method: str = "GET", path: str = "/", headers: Mapping[str, str] | None = None
) -> Request[Any, Any, Any]:
    """A request as the ASGI server hands it over: header names in lower case, values as
    the bytes a client sent (UTF-8 here, as httpx sends non-ASCII text)."""
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "scheme": "http",
        "server": ("testserver", 80),
        "query_string": b"",
        "headers": [
            (name.lower().encode(), value.encode()) for name, value in (headers or {}).items()
        ],
        "state": {},
    }
    return Request(cast("Scope", scope))


def answer(error: Exception, to: Request[Any, Any, Any] | None = None) -> Answer:
    """The response a client gets for `error` (in answer `to` a request), read from its
    JSON."""
    response = handle(to or request(), error)
    body = msgspec.json.decode(msgspec.json.encode(response.content))
    assert set(body) == {"error"}
    assert set(body["error"]) <= {"code", "message", "details"}
    assert body["error"]["message"]
    assert response.status_code is not None
    return Answer(
        status=response.status_code,
        code=body["error"]["code"],
        message=body["error"]["message"],
        fields=[detail["field"] for detail in body["error"].get("details", [])],
        headers=dict(response.headers),
    )


def refused(action: Callable[[], object]) -> Answer:
    """The answer to an action that must be refused."""
    try:
        action()
    except Exception as error:  # every error is answered with the envelope
        return answer(error)
    raise AssertionError("accepted, but should have been refused")


def bad_request(action: Callable[[], object]) -> tuple[str | None, str]:
    """The one field a refused parameter is blamed on, and the message, after checking
    that the refusal is a 400 bad_request naming that field alone."""
    refusal = refused(action)
    assert (refusal.status, refusal.code, len(refusal.fields)) == (400, "bad_request", 1)
    return refusal.fields[0], refusal.message


KEY = "rsk_" + "k" * 43
"""The API key of the project the resource endpoints act for."""
PROJECT = 4
UPLOAD_LIMIT = 64 * 1024 * 1024
"""MAX_UPLOAD_BYTES of the HTTP tests' server."""
Headers = Mapping[str, str | None] | None


class ResourceEndpoints:
    """What POST, PATCH and DELETE /api/resources do around the use case (see
    `api.http.app.admit` and `api.http.controllers.resources`), over in-memory ports:
    the key from Authorization, the Content-Type, the strict body check, If-Match and
    Idempotency-Key, then the service, whose refusals the caller reads as the envelope.
    """

    def __init__(self) -> None:
        self.store = FakeResourceStore()
        self.store.add_key(KEY, project_id=PROJECT, user_id="user-id")
        self.service = ResourceService(
            store=CachingResourceStore(self.store),
            ids=self.store,
            outcomes=self.store,
            blobs=MemoryBlobStore(),
            max_upload_bytes=UPLOAD_LIMIT,
        )

    def sent(
        self, method: str, path: str, headers: Headers
    ) -> tuple[Request[Any, Any, Any], dict[str, str]]:
        """The request, with a key and a JSON Content-Type unless `headers` say otherwise
        (None: without that header), and its headers as Litestar hands them to a handler
        (the bytes read as Latin-1)."""
        given = {
            name: value
            for name, value in {
                "Authorization": f"Bearer {KEY}",
                "Content-Type": "application/json",
                **(headers or {}),
            }.items()
            if value is not None
        }
        received = {name: value.encode().decode("latin-1") for name, value in given.items()}
        return request(method, path, given), received

    def create(self, body: bytes, headers: Headers = None) -> Outcome:
        sent, received = self.sent("POST", "/api/resources", headers)
        require_json(sent)
        check_body(body, CreateResourceBody)
        data = msgspec.json.decode(body, type=CreateResourceBody, strict=False)
        command = register_command(sent, data, received.get("Idempotency-Key"))
        return asyncio.run(self.service.register(caller(sent), command))

    def update(self, resource_id: int, body: bytes, headers: Headers = None) -> Outcome:
        sent, received = self.sent("PATCH", f"/api/resources/{resource_id}", headers)
        require_json(sent)
        check_body(body, UpdateResourceBody)
        data = msgspec.json.decode(body, type=UpdateResourceBody, strict=False)
        command = update_command(
            sent, resource_id, data, received.get("If-Match"), received.get("Idempotency-Key")
        )
        with version_preconditions():
            return asyncio.run(self.service.update(caller(sent), command))

    def delete(self, resource_id: int, headers: Headers = None) -> None:
        sent, received = self.sent("DELETE", f"/api/resources/{resource_id}", headers)
        command = delete_command(resource_id, received.get("If-Match"))
        with version_preconditions():
            asyncio.run(self.service.delete(caller(sent), command))

    def state(self) -> tuple[int, list[tuple[str, tuple[Any, ...] | None]]]:
        """The appends made and the rows of the read model, to compare before and after."""
        rows = sorted(
            (str(key), None if row is None else tuple(sorted(row.items())))
            for key, row in self.store.rows.items()
        )
        return self.store.appends, rows
