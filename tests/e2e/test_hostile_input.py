"""Hostile requests over HTTP, a few on every endpoint: each parser the endpoint
applies is applied (the right 4xx, and the field it names), the answer is the JSON
error envelope, and the store is left exactly as it was.

The parsers themselves are unit tests, with every hostile value:
`tests/unit/test_hostile_parameters.py` (numbers, ids, text filters, times, event
types), `test_hostile_bodies.py` (JSON bodies, Content-Type), `test_hostile_headers.py`
(If-Match, Idempotency-Key, Authorization), `test_hostile_signatures.py` (signed URLs)
and `test_error_envelope.py` (Litestar's own refusals). What only the server decides
stays here: an id in the path that is not ASCII or has thousands of digits, a key the
database does not know, a missing or oversized body, uploads, unknown routes and methods.

The table names each request by what it tries; `{pending}` and `{uploaded}` stand
for the ids of a pending file and an uploaded one, `{put}` and `{get_of_pending}` for
the query strings of their valid signed URLs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from api.composition.services import Services
from tests.e2e.conftest import PROJECT
from tests.e2e.flows import create, uploaded
from tests.hostile import ARABIC_ONE, BIG, FULLWIDTH_ONE, HUGE, LONG_DIGITS, MAX


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str
    status: int
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    """A JSON-able value, or bytes sent as they are."""
    key: bool = True
    blames: str | None = None
    """The field the error's details name, if the answer must name one."""


def query(name: str, path: str, param: str, value: str, blames: str | None = None) -> Case:
    return Case(
        f"{name}: {param}={value[:20]!r}",
        "GET",
        path,
        400,
        params={param: value},
        blames=param if blames is None else blames,
    )


CASES: list[Case] = [
    # The event feed and its stream.
    query("feed", "/api/events", "after", ARABIC_ONE),
    query("feed", "/api/events", "limit", "0"),
    query("feed", "/api/events", "wait", "61"),
    query("feed", "/api/events", "resource_id", "0"),
    query("feed", "/api/events", "type", "Exploded"),
    Case("feed without a key", "GET", "/api/events", 401, key=False),
    query("stream", "/api/events/stream", "after", "x"),
    query("stream", "/api/events/stream", "type", "renamed"),
    Case(
        "stream: Last-Event-ID -1",
        "GET",
        "/api/events/stream",
        400,
        headers={"Last-Event-ID": "-1"},
        blames="Last-Event-ID",
    ),
    Case("stream without a key", "GET", "/api/events/stream", 401, key=False),
    Case(
        "stream: a project without a signature",
        "GET",
        "/api/events/stream",
        403,
        params={"project": str(PROJECT)},
        key=False,
    ),
    Case(
        "stream: a signed URL's project altered past int64",
        "GET",
        "/api/events/stream?project=9223372036854775808&{get_of_pending}",
        403,
        key=False,
    ),
    Case(
        "stream: a content URL's signature",
        "GET",
        "/api/events/stream?project={pending}&{get_of_pending}",
        403,
        key=False,
    ),
    Case("stream URL without a key", "GET", "/api/events/stream-url", 401, key=False),
    # The list, the activity feed, a history: pages and filters.
    query("list", "/api/resources", "page", "0"),
    query("list", "/api/resources", "per_page", "101"),
    query("list", "/api/resources", "status", "gone"),
    Case("no key: list", "GET", "/api/resources", 401, key=False),
    query("activity", "/api/activity", "page", HUGE),
    query("activity", "/api/activity", "per_page", ARABIC_ONE),
    query("activity", "/api/activity", "resource_id", "-1"),
    query("activity", "/api/activity", "actor", "a\x00b"),
    query("activity", "/api/activity", "since", "2026-01-01T00:00:00"),
    query("activity", "/api/activity", "until", "99999-01-01T00:00:00Z"),
    # The activity feed checks its type itself (no parser of its own to unit-test).
    *[
        Case(f"activity: type {label}", "GET", "/api/activity", 400, params={"type": value})
        for label, value in (
            ("unknown", "Hacked"),
            ("with NUL", "a\x00b"),
            ("with a control character", "a\x01b"),
        )
    ],
    Case("no key: activity", "GET", "/api/activity", 401, key=False),
    query("history", "/api/resources/{pending}/history", "page", "1.5"),
    query("history", "/api/resources/{pending}/history", "per_page", BIG),
    Case("no key: history", "GET", "/api/resources/{pending}/history", 401, key=False),
    # One resource, now or in the past.
    query("time travel", "/api/resources/{pending}", "version", "0"),
    query("time travel", "/api/resources/{pending}", "as_of", "yesterday"),
    Case(
        "version and as_of",
        "GET",
        "/api/resources/{pending}",
        400,
        params={"version": "1", "as_of": "2026-01-01T00:00:00Z"},
    ),
    *[
        Case(f"one: id {value[:20]}", "GET", f"/api/resources/{value}", 404)
        for value in (MAX, BIG, LONG_DIGITS, ARABIC_ONE, FULLWIDTH_ONE)
    ],
    # The pending resource's own id, written as int() would read it: no alias names it.
    *[
        Case(f"one: id {label}", "GET", path, 404)
        for label, path in (
            ("with a sign", "/api/resources/+{pending}"),
            ("in Arabic-Indic digits", "/api/resources/{pending_arabic}"),
            ("with an underscore", "/api/resources/{pending_underscored}"),
        )
    ],
    Case("history: id with a sign", "GET", "/api/resources/+{pending}/history?page=1", 404),
    # Creation.
    Case(
        "create: size_bytes '3'",
        "POST",
        "/api/resources",
        422,
        body={"name": "a", "size_bytes": "3"},
        blames="size_bytes",
    ),
    Case("create: name NUL", "POST", "/api/resources", 422, body={"name": "a\x00b"}, blames="name"),
    Case(
        "create: url javascript",
        "POST",
        "/api/resources",
        422,
        body={"name": "a", "url": "javascript:alert(1)"},
        blames="url",
    ),
    Case(
        "create: another project",
        "POST",
        "/api/resources",
        422,
        body={"name": "a", "project_id": PROJECT + 1},
        blames="project_id",
    ),
    Case(
        "create: duplicate keys", "POST", "/api/resources", 400, body=b'{"name": "a", "name": "b"}'
    ),
    Case(
        "create: deeply nested",
        "POST",
        "/api/resources",
        400,
        body=b'{"name": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
    ),
    Case("create: empty body", "POST", "/api/resources", 400, body=b""),
    Case(
        "create: 2 MB",
        "POST",
        "/api/resources",
        413,
        body={"name": "a", "description": "x" * 2_000_000},
    ),
    Case(
        "create: text/plain",
        "POST",
        "/api/resources",
        415,
        body=b'{"name": "a"}',
        headers={"Content-Type": "text/plain"},
    ),
    Case(
        "create: Idempotency-Key non-ASCII",
        "POST",
        "/api/resources",
        400,
        body={"name": "a"},
        headers={"Idempotency-Key": "clé"},
    ),
    Case("no key: create", "POST", "/api/resources", 401, body={"name": "a"}, key=False),
    Case(
        "Authorization Basic",
        "GET",
        "/api/resources",
        401,
        headers={"Authorization": "Basic dXNlcjpwYXNz"},
        key=False,
    ),
    Case(
        "Authorization unknown",
        "GET",
        "/api/resources",
        401,
        headers={"Authorization": "Bearer rsk_" + "a" * 43},
        key=False,
    ),
    # Changes.
    Case(
        "update: unknown field",
        "PATCH",
        "/api/resources/{pending}",
        422,
        body={"size_bytes": 3},
        blames="size_bytes",
    ),
    Case(
        "update: name NUL",
        "PATCH",
        "/api/resources/{pending}",
        422,
        body={"name": "\x00"},
        blames="name",
    ),
    Case(
        "update: text/plain",
        "PATCH",
        "/api/resources/{pending}",
        415,
        body=b"{}",
        headers={"Content-Type": "text/plain"},
    ),
    Case(
        "update: confirm without bytes",
        "PATCH",
        "/api/resources/{pending}",
        409,
        body={"status": "uploaded"},
    ),
    Case(
        "update: Idempotency-Key with a space",
        "PATCH",
        "/api/resources/{pending}",
        400,
        body={"name": "b"},
        headers={"Idempotency-Key": "a b"},
    ),
    *[
        Case(
            f"update: If-Match {label}",
            "PATCH",
            "/api/resources/{pending}",
            status,
            body={"name": "b"},
            headers={"If-Match": value},
        )
        for label, value, status in (
            ("stale", '"7"', 412),
            ("weak", 'W/"1"', 412),
            ("unquoted", "1", 400),
        )
    ],
    Case(
        "delete: If-Match stale",
        "DELETE",
        "/api/resources/{pending}",
        412,
        headers={"If-Match": '"9"'},
    ),
    Case(
        "delete: If-Match unquoted",
        "DELETE",
        "/api/resources/{pending}",
        400,
        headers={"If-Match": "9"},
    ),
    # Signed URLs.
    Case("download: unsigned", "GET", "/api/resources/{uploaded}/content", 403, key=False),
    Case(
        "download: the upload URL's signature",
        "GET",
        "/api/resources/{uploaded}/content?{put_of_uploaded}",
        403,
        key=False,
    ),
    Case(
        "upload: the download URL's signature",
        "PUT",
        "/api/resources/{pending}/content?{get_of_pending}",
        403,
        body=b"abc",
        key=False,
    ),
    *[
        Case(f"upload: an id {label}", "PUT", path, 404, body=b"abc", key=False)
        for label, path in (
            ("that is not a number", "/api/resources/1.0/content?{put}"),
            ("with a sign", "/api/resources/+{pending}/content?{put}"),
        )
    ],
    Case(
        "upload: another id than signed",
        "PUT",
        "/api/resources/0/content?{put}",
        403,
        body=b"abc",
        key=False,
    ),
    Case(
        "upload: more than declared",
        "PUT",
        "/api/resources/{pending}/content?{put}",
        413,
        body=b"x" * 11,
        key=False,
    ),
    Case(
        "upload: to a confirmed file",
        "PUT",
        "/api/resources/{uploaded}/content?{put_of_uploaded}",
        409,
        body=b"abc",
        key=False,
    ),
    Case(
        "upload: an unknown resource",
        "PUT",
        "/api/resources/999999/content?{put_999999}",
        404,
        body=b"abc",
        key=False,
    ),
    # Routes and methods.
    Case("unknown route", "GET", "/api/nothing", 404),
    Case("POST on one resource", "POST", "/api/resources/{pending}", 405, body={}),
    Case("PUT on the list", "PUT", "/api/resources", 405, body={}),
    Case("DELETE on the list", "DELETE", "/api/resources", 405),
]


ARABIC_INDIC = str.maketrans(
    "0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669"
)
"""ASCII digits to the Arabic-Indic ones, which int() reads alike."""


@pytest.fixture
def world(client: httpx.Client, services: Services) -> dict[str, str]:
    pending = create(client, size_bytes=10)
    done = uploaded(client)
    signer = services.signer

    def query(method: str, resource_id: int) -> str:
        return signer.content_url(method, resource_id).split("?", 1)[1]

    return {
        "pending": str(pending["id"]),
        "pending_arabic": str(pending["id"]).translate(ARABIC_INDIC),
        "pending_underscored": f"0_{pending['id']}",
        "uploaded": str(done["id"]),
        "put": query("PUT", pending["id"]),
        "get_of_pending": query("GET", pending["id"]),
        "put_of_uploaded": query("PUT", done["id"]),
        "put_999999": query("PUT", 999999),
    }


def state(services: Services) -> tuple[int, list[Any]]:
    head = services.events.recorder.max_notification_id() or 0
    with services.datastore.get_connection() as conn:
        rows = conn.execute("SELECT * FROM resources ORDER BY id").fetchall()
    return head, rows


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_a_hostile_request_gets_its_4xx_and_changes_nothing(
    case: Case,
    client: httpx.Client,
    anonymous: httpx.Client,
    services: Services,
    world: dict[str, str],
) -> None:
    before = state(services)
    path = case.path.format(**world)
    sender = client if case.key else anonymous
    headers = dict(case.headers)
    content: bytes | None = None
    if isinstance(case.body, bytes):
        content = case.body
        headers.setdefault("Content-Type", "application/json")
    elif case.body is not None or case.method in ("POST", "PATCH"):
        content = json.dumps(case.body).encode()
        headers.setdefault("Content-Type", "application/json")
    encoded = {name.encode(): value.encode() for name, value in headers.items()}  # UTF-8
    response = sender.request(
        case.method, path, params=case.params or None, headers=encoded, content=content
    )
    assert response.status_code == case.status, response.text[:500]
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) <= {"code", "message", "details"}
    assert body["error"]["message"]
    if case.blames is not None:
        assert case.blames in [detail["field"] for detail in body["error"]["details"]]
    assert state(services) == before
