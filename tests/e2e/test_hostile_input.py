"""Hostile and unusual requests, over every endpoint: each gets the right 4xx in the
error envelope, and the store is left exactly as it was.

The table names each request by what it tries; `{pending}` and `{uploaded}` stand
for the ids of a pending file and an uploaded one, `{put}` and `{get}` for the
query strings of their valid signed URLs.
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

BIG = str(2**63)
HUGE = str(2**64)
MAX = str(2**63 - 1)
LONG_DIGITS = "9" * 5000
ARABIC_ONE = "\u0661"  # ARABIC-INDIC DIGIT ONE
FULLWIDTH_ONE = "\uff11"  # FULLWIDTH DIGIT ONE
SUPERSCRIPT_TWO = "\u00b2"  # ²


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


def numbers(name: str, path: str, param: str, bad: dict[str, int]) -> list[Case]:
    return [
        Case(f"{name}: {param}={value[:20]}", "GET", path, status, params={param: value})
        for value, status in bad.items()
    ]


PAGING_BAD = {
    "0": 400,
    "-1": 400,
    MAX: 400,
    BIG: 400,
    HUGE: 400,
    LONG_DIGITS: 400,
    ARABIC_ONE: 400,
    FULLWIDTH_ONE: 400,
    "1.5": 400,
    "": 400,
    "1\x00": 400,
}
PER_PAGE_BAD = {"0": 400, "101": 400, BIG: 400, "-" + BIG: 400, ARABIC_ONE: 400}

AFTER_BAD = {
    "-1": 400,
    BIG: 400,
    HUGE: 400,
    LONG_DIGITS: 400,
    ARABIC_ONE: 400,
    FULLWIDTH_ONE: 400,
    SUPERSCRIPT_TWO: 400,
    "1.5": 400,
    "1e3": 400,
    "": 400,
    "1\x00": 400,
    "null": 400,
}
LIMIT_BAD = {"0": 400, "1001": 400, BIG: 400, "-1": 400, ARABIC_ONE: 400, "null": 400, "": 400}
WAIT_BAD = {"-1": 400, "61": 400, BIG: 400, "0.5": 400, "null": 400, ARABIC_ONE: 400}


def stream_cursors() -> list[Case]:
    return [
        Case(
            f"stream: Last-Event-ID={value[:20]!r}",
            "GET",
            "/api/events/stream",
            400,
            headers={"Last-Event-ID": value},
        )
        for value in ("-1", BIG, "x", "1.5", ARABIC_ONE, "1 2")
    ]


CASES: list[Case] = [
    *numbers("feed", "/api/events", "after", AFTER_BAD),
    *numbers("feed", "/api/events", "limit", LIMIT_BAD),
    *numbers("feed", "/api/events", "wait", WAIT_BAD),
    *numbers("feed", "/api/events", "resource_id", {"0": 400, BIG: 400, "x": 400}),
    *numbers("stream", "/api/events/stream", "after", {"-1": 400, BIG: 400, "x": 400}),
    *stream_cursors(),
    Case("feed: unknown type", "GET", "/api/events", 400, params={"type": "Exploded"}),
    Case("stream: unknown type", "GET", "/api/events/stream", 400, params={"type": "renamed"}),
    Case("feed without a key", "GET", "/api/events", 401, key=False),
    Case("stream without a key", "GET", "/api/events/stream", 401, key=False),
    Case("stream URL without a key", "GET", "/api/events/stream-url", 401, key=False),
    Case(
        "stream: a project without a signature",
        "GET",
        "/api/events/stream",
        403,
        params={"project": str(PROJECT)},
        key=False,
    ),
    Case(
        "stream: a forged signature",
        "GET",
        "/api/events/stream",
        403,
        params={"project": str(PROJECT), "expires": "99999999999", "signature": "a" * 64},
        key=False,
    ),
    Case(
        "stream: a content URL's signature",
        "GET",
        "/api/events/stream?project={pending}&{get_of_pending}",
        403,
        key=False,
    ),
    *numbers("list", "/api/resources", "page", PAGING_BAD),
    *numbers("list", "/api/resources", "per_page", PER_PAGE_BAD),
    *numbers("activity", "/api/activity", "page", PAGING_BAD),
    *numbers("activity", "/api/activity", "per_page", PER_PAGE_BAD),
    *numbers("history", "/api/resources/{pending}/history", "page", PAGING_BAD),
    *numbers("history", "/api/resources/{pending}/history", "per_page", PER_PAGE_BAD),
    *numbers(
        "activity",
        "/api/activity",
        "resource_id",
        {"0": 400, BIG: 400, HUGE: 400, "-1": 400, ARABIC_ONE: 400},
    ),
    *numbers(
        "time travel",
        "/api/resources/{pending}",
        "version",
        {"0": 400, "-1": 400, BIG: 400, HUGE: 400, LONG_DIGITS: 400, ARABIC_ONE: 400},
    ),
    Case("list: status unknown", "GET", "/api/resources", 400, params={"status": "gone"}),
    Case("list: status with NUL", "GET", "/api/resources", 400, params={"status": "all\x00"}),
    *[
        Case(f"one: id {value[:20]}", "GET", f"/api/resources/{value}", 404)
        for value in ("0", "-1", MAX, BIG, HUGE, LONG_DIGITS, ARABIC_ONE, FULLWIDTH_ONE)
    ],
    *[
        Case(f"activity: {param} with {label}", "GET", "/api/activity", 400, params={param: v})
        for param in ("actor", "type", "since", "until")
        for label, v in (("NUL", "a\x00b"), ("a control character", "a\x01b"))
    ],
    Case("activity: unknown type", "GET", "/api/activity", 400, params={"type": "Hacked"}),
    Case("activity: since not a time", "GET", "/api/activity", 400, params={"since": "soon"}),
    Case(
        "activity: since without zone",
        "GET",
        "/api/activity",
        400,
        params={"since": "2026-01-01T00:00:00"},
    ),
    Case(
        "activity: year 99999",
        "GET",
        "/api/activity",
        400,
        params={"until": "99999-01-01T00:00:00Z"},
    ),
    Case("as_of not a time", "GET", "/api/resources/{pending}", 400, params={"as_of": "yesterday"}),
    Case(
        "as_of with NUL",
        "GET",
        "/api/resources/{pending}",
        400,
        params={"as_of": "2026-01-01T00:00:00Z\x00"},
    ),
    Case(
        "version and as_of",
        "GET",
        "/api/resources/{pending}",
        400,
        params={"version": "1", "as_of": "2026-01-01T00:00:00Z"},
    ),
    # Bodies: numbers at and past the 64-bit bounds.
    *[
        Case(
            f"create: size_bytes {label}",
            "POST",
            "/api/resources",
            422,
            body={"name": "a", "size_bytes": value},
        )
        for label, value in (
            ("-1", -1),
            ("2^63", 2**63),
            ("2^64", 2**64),
            ("-2^63", -(2**63)),
            ("1.5", 1.5),
            ("true", True),
            ("'3'", "3"),
        )
    ],
    *[
        Case(
            f"create link: size_bytes {label}",
            "POST",
            "/api/resources",
            422,
            body={"name": "a", "url": "https://example.com/a", "size_bytes": value},
        )
        for label, value in (("2^63", 2**63), ("2^64", 2**64), ("-1", -1))
    ],
    *[
        Case(
            f"create: project_id {label}",
            "POST",
            "/api/resources",
            422,
            body={"name": "a", "project_id": value},
        )
        for label, value in (("0", 0), ("2^63", 2**63), ("-1", -1), ("another", PROJECT + 1))
    ],
    # Strings: NUL, control characters, lengths.
    *[
        Case(f"create: name {label}", "POST", "/api/resources", 422, body={"name": value})
        for label, value in (
            ("empty", ""),
            ("blank", "   "),
            ("NUL", "a\x00b"),
            ("a control character", "a\x1bb"),
            ("DEL", "a\x7fb"),
            ("256 characters", "x" * 256),
            ("null", None),
            ("a number", 5),
        )
    ],
    *[
        Case(
            f"create: description {label}",
            "POST",
            "/api/resources",
            422,
            body={"name": "a", "description": value},
        )
        for label, value in (
            ("NUL", "a\x00b"),
            ("an escape", "a\x1bb"),
            ("10,001 characters", "x" * 10_001),
        )
    ],
    *[
        Case(
            f"create: mime_type {label}",
            "POST",
            "/api/resources",
            422,
            body={"name": "a", "mime_type": value},
        )
        for label, value in (
            ("with NUL", "text/plain\x00"),
            ("with a newline", "text/plain\n"),
            ("a control character in a quoted parameter", 'text/plain; a="b\x01"'),
            ("no subtype", "text"),
            ("spaces", "text / plain"),
            ("non-ASCII", "téxt/plain"),
            ("empty", ""),
        )
    ],
    *[
        Case(
            f"create: url {label}", "POST", "/api/resources", 422, body={"name": "a", "url": value}
        )
        for label, value in (
            ("javascript", "javascript:alert(1)"),
            ("no host", "https://"),
            ("NUL", "https://a.b/\x00"),
            ("a space", "https://a.b/ c"),
            ("file", "file:///etc/passwd"),
            ("too long", "https://a.b/" + "x" * 3000),
        )
    ],
    Case("create: unknown field", "POST", "/api/resources", 422, body={"name": "a", "owner": "me"}),
    Case("create: an array", "POST", "/api/resources", 422, body=["a"]),
    Case("create: a string", "POST", "/api/resources", 422, body="a"),
    Case("create: null", "POST", "/api/resources", 422, body=None),
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
    Case("create: invalid UTF-8", "POST", "/api/resources", 400, body=b'{"name": "\xff\xfe"}'),
    Case("create: a lone surrogate", "POST", "/api/resources", 400, body=b'{"name": "\\ud800"}'),
    Case("create: truncated", "POST", "/api/resources", 400, body=b'{"name": "a"'),
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
        "create: form",
        "POST",
        "/api/resources",
        415,
        body=b"name=a",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ),
    Case("update: unknown field", "PATCH", "/api/resources/{pending}", 422, body={"size_bytes": 3}),
    Case(
        "update: status pending",
        "PATCH",
        "/api/resources/{pending}",
        422,
        body={"status": "pending"},
    ),
    Case("update: name NUL", "PATCH", "/api/resources/{pending}", 422, body={"name": "\x00"}),
    Case(
        "update: description escape",
        "PATCH",
        "/api/resources/{pending}",
        422,
        body={"description": "\x1b[31m"},
    ),
    Case(
        "update: duplicate keys",
        "PATCH",
        "/api/resources/{pending}",
        400,
        body=b'{"name": "a", "name": "b"}',
    ),
    Case(
        "update: invalid UTF-8", "PATCH", "/api/resources/{pending}", 400, body=b'{"name": "\xc3"}'
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
    # Headers.
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
            ("non-ASCII digit", f'"{ARABIC_ONE}"', 412),
            ("superscript digit", f'"{SUPERSCRIPT_TWO}"', 412),
            ("2^64", f'"{HUGE}"', 412),
            ("empty", "", 400),
            ("a comma", ",", 400),
            ("thousands of digits", f'"{LONG_DIGITS}"', 412),
        )
    ],
    Case(
        "delete: If-Match stale",
        "DELETE",
        "/api/resources/{pending}",
        412,
        headers={"If-Match": '"9"'},
    ),
    *[
        Case(
            f"Authorization {label}",
            "GET",
            "/api/resources",
            401,
            headers={"Authorization": value},
            key=False,
        )
        for label, value in (
            ("missing scheme", "rsk_" + "a" * 43),
            ("Basic", "Basic dXNlcjpwYXNz"),
            ("bearer without a key", "Bearer"),
            ("too short", "Bearer rsk_abc"),
            ("non-ASCII", "Bearer rsk_" + "é" * 43),
            ("unknown", "Bearer rsk_" + "a" * 43),
            ("8 KB", "Bearer rsk_" + "a" * 8000),
        )
    ],
    Case("no key: list", "GET", "/api/resources", 401, key=False),
    Case("no key: create", "POST", "/api/resources", 401, body={"name": "a"}, key=False),
    Case("no key: activity", "GET", "/api/activity", 401, key=False),
    Case("no key: history", "GET", "/api/resources/{pending}/history", 401, key=False),
    *[
        Case(
            f"Idempotency-Key {label}",
            "POST",
            "/api/resources",
            400,
            body={"name": "a"},
            headers={"Idempotency-Key": value},
        )
        for label, value in (
            ("empty", ""),
            ("non-ASCII", "clé"),
            ("256 characters", "k" * 256),
            ("a space", "a b"),
        )
    ],
    # Signed URLs.
    *[
        Case(
            f"download: {label}",
            "GET",
            "/api/resources/{uploaded}/content",
            403,
            params=params,
            key=False,
        )
        for label, params in (
            ("unsigned", {}),
            ("non-ASCII signature", {"expires": "4102444800", "signature": "é" * 64}),
            ("non-ASCII digits in expiry", {"expires": ARABIC_ONE * 10, "signature": "a" * 64}),
            ("superscript expiry", {"expires": SUPERSCRIPT_TWO, "signature": "a" * 64}),
            ("expiry of 5,000 digits", {"expires": LONG_DIGITS, "signature": "a" * 64}),
            ("negative expiry", {"expires": "-1", "signature": "a" * 64}),
            ("NUL in signature", {"expires": "4102444800", "signature": "a\x00"}),
            ("wrong signature", {"expires": "4102444800", "signature": "0" * 64}),
            ("expired", {"expires": "1", "signature": "0" * 64}),
        )
    ],
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


@pytest.fixture
def world(client: httpx.Client, services: Services) -> dict[str, str]:
    pending = create(client, size_bytes=10)
    done = uploaded(client)
    signer = services.signer

    def query(method: str, resource_id: int) -> str:
        return signer.content_url(method, resource_id).split("?", 1)[1]

    return {
        "pending": str(pending["id"]),
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


def test_there_are_at_least_a_hundred_cases() -> None:
    assert len(CASES) >= 100
    assert len({case.name for case in CASES}) == len(CASES)


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
    assert state(services) == before
